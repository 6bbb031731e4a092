// pushpull's live page: one channel, subscribed four times with the
// browser's own machinery. Plain JS, no build step, no framework.
//
// Every pane keeps its cursor (the last id it saw) and resumes from it; it
// counts what the server announced as lost (gap markers) apart from ids
// that never arrived unannounced (`missing`), and shows both. Ids start over
// when the server restarts: a pane keeps the server's epoch with its cursor
// and, when the epoch changes, says so and starts its cursor over.
// The test (tests/browser/test_page.mjs) reads each pane's data-* attributes.
'use strict';

const SPARK_POINTS = 60;
const LIST_LENGTH = 8;
const LONGPOLL_TIMEOUT_S = 25;
const RETRY_MS = 1000;              // after a failed request or a closed socket
const LATENCY_WINDOW = 101;         // messages behind the median

const encoder = new TextEncoder();
const byteLength = (s) => encoder.encode(s).length;

// The page's monotonic clock anchored to the wall clock at page load, in ms
// at sub-ms resolution (Date.now() has whole ms only, which makes loopback
// latencies of 0.3 ms read as 0 or -1). Not adjusted by NTP after the page
// loaded: it drifts from the server's CLOCK_REALTIME over long sessions or
// across a sleep, so latencies against the server's ts hold on one host,
// approximately, for a fresh page.
const nowMs = () => performance.timeOrigin + performance.now();

const TRANSPORTS = [
  {
    kind: 'poll', title: 'Short polling', api: 'fetch() every interval',
    about: 'Asks GET /poll/{ch}?since=N every interval and gets whatever is new at once. ' +
           'A message waits half an interval on average; every poll costs a request, news or not.',
  },
  {
    kind: 'longpoll', title: 'Long polling', api: 'fetch(), held by the server',
    about: 'Asks GET /longpoll/{ch}?since=N; the server holds the request until a message ' +
           'arrives (or 25 s), then the page asks again. About one request per delivered batch.',
  },
  {
    kind: 'sse', title: 'Server-Sent Events', api: 'new EventSource(url)',
    about: 'One long GET /sse/{ch} response the server keeps writing events into. ' +
           'The browser reconnects and resumes by itself (Last-Event-ID). Server to client only.',
  },
  {
    kind: 'ws', title: 'WebSocket', api: 'new WebSocket(ws://…)',
    about: 'A 101 Switching Protocols upgrade, then frames both ways on one TCP connection. ' +
           'Least overhead per message; reconnect and resume are the page\'s job (?since=N).',
  },
];

// ---------------------------------------------------------------- formats

function fmtMs(ms) {
  if (ms === null || ms === undefined) return '–';
  const a = Math.abs(ms);
  if (a < 10) return ms.toFixed(1) + ' ms';
  if (a < 10000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(1) + ' s';
}

function fmtBytes(n) {
  if (n < 10000) return String(n);
  if (n < 10 * 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

function median(values) {
  if (!values.length) return null;
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

const isAbort = (e) => e && e.name === 'AbortError';

// ------------------------------------------------------------------ panes

class Pane {
  constructor(def, page) {
    this.def = def;
    this.page = page;
    const node = document.getElementById('pane-template').content.firstElementChild.cloneNode(true);
    node.id = 'pane-' + def.kind;
    node.dataset.transport = def.kind;
    node.setAttribute('aria-labelledby', 'h-' + def.kind);
    const q = (sel) => node.querySelector(sel);
    const h2 = q('.pane-title');
    h2.id = 'h-' + def.kind;
    h2.textContent = def.title;
    q('.pane-api').textContent = def.api;
    q('.about').textContent = def.about;
    this.el = {
      root: node,
      state: q('.state'),
      stateText: q('.state-text'),
      counters: Object.fromEntries([...node.querySelectorAll('dd[data-k]')].map((d) => [d.dataset.k, d])),
      svgTitle: q('.spark title'),
      line: q('.spark polyline'),
      caption: q('.spark figcaption'),
      list: q('.messages'),
      drop: q('.drop'),
      note: q('.note'),
    };
    q('.drop').setAttribute('aria-describedby', 'h-' + def.kind);
    if (def.kind === 'sse' || def.kind === 'ws') {
      // No polls on a stream: say so rather than show a misleading 0.
      this.el.counters.empty.textContent = 'n/a';
      this.el.counters.empty.title = 'a stream has no empty polls';
    }
    this.el.drop.addEventListener('click', () => this.drop());
    this.gen = 0;
    this.reset();
  }

  reset() {
    this.c = {
      messages: 0, requests: 0, bytes: 0, empty: 0, reconnects: 0,
      lost: 0, missing: 0, dupes: 0, gaps: 0, drops: 0, restarts: 0,
    };
    this.epoch = null;          // the server start the cursor belongs to
    this.firstId = null;
    this.lastId = null;
    this.cursor = 0;
    this.latencies = [];        // the last LATENCY_WINDOW, for the median
    this.latMin = null;
    this.latMax = null;
    this.recent = [];           // list items, newest first
    this.el.list.replaceChildren();
    this.el.note.textContent = '';
    this.scheduleRender();
  }

  // A new generation: whatever the previous one still has in flight sees a
  // stale generation and stops.
  start(channel, cursor, epoch) {
    this.stop();
    this.reset();
    this.channel = channel;
    this.cursor = cursor;
    this.epoch = epoch ?? null;
    this.lastId = null;
    this.open(++this.gen);
  }

  stop() {
    this.gen++;
    this.close();
  }

  setState(text, kind) {
    this.el.stateText.textContent = text;
    this.el.state.dataset.state = kind;
  }

  note(text) {
    this.el.note.textContent = text;
  }

  // One message envelope {"id","ts","data"}.
  deliver(m) {
    const latency = nowMs() - m.ts / 1000;
    if (this.lastId !== null && m.id <= this.lastId) {
      this.c.dupes++;           // already shown: counted, not shown again
      this.scheduleRender();
      return;
    }
    if (this.lastId !== null && m.id > this.lastId + 1) {
      const k = m.id - this.lastId - 1;
      this.c.missing += k;
      this.pushItem({ kind: 'missing', text: `${k} id${k > 1 ? 's' : ''} missing (${this.lastId + 1}–${m.id - 1}), never announced` });
    }
    if (this.firstId === null) this.firstId = m.id;
    this.lastId = m.id;
    this.cursor = Math.max(this.cursor, m.id);
    this.c.messages++;
    this.latencies.push(latency);
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    this.latMin = this.latMin === null ? latency : Math.min(this.latMin, latency);
    this.latMax = this.latMax === null ? latency : Math.max(this.latMax, latency);
    this.pushItem({ kind: 'msg', id: m.id, latency, data: m.data });
    this.scheduleRender();
  }

  // The server's word that `lost` ids before `firstId` are gone.
  gap(lost, firstId) {
    this.c.lost += lost;
    this.c.gaps++;
    this.pushItem({ kind: 'gap', text: `gap: ${lost} message${lost > 1 ? 's' : ''} lost before id ${firstId} (out of the server's history)` });
    if (firstId) {
      this.lastId = firstId - 1;
      this.cursor = Math.max(this.cursor, firstId - 1);
    }
    this.scheduleRender();
  }

  // The epoch the server reported (a poll body, a hello). Another one than
  // the cursor's means the server restarted: true then.
  sawEpoch(epoch) {
    if (epoch === undefined || epoch === this.epoch) return false;
    const before = this.epoch;
    this.epoch = epoch;
    if (before === null) return false;
    this.restarted();
    return true;
  }

  // The server's reset marker: the cursor was of another start.
  resetMarker(r) {
    if (!this.sawEpoch(r.epoch) && (this.cursor !== 0 || this.lastId !== null)) this.restarted();
  }

  restarted() {
    this.c.restarts++;
    this.lastId = null;         // the new start's ids are neither missing nor duplicates
    this.cursor = 0;
    this.pushItem({ kind: 'restart', text: 'server restarted: its ids start over, and so does the ' +
                    'cursor; what the old server had not delivered is lost' });
    this.scheduleRender();
  }

  // "&epoch=E" once the epoch is known, so a restart shows as a reset.
  epochParam() {
    return this.epoch === null ? '' : `&epoch=${this.epoch}`;
  }

  pushItem(item) {
    this.recent.unshift(item);
    if (this.recent.length > LIST_LENGTH) this.recent.pop();
  }

  scheduleRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => { this.renderPending = false; this.render(); });
  }

  render() {
    const c = this.c, k = this.el.counters;
    k.messages.textContent = c.messages;
    k.lastId.textContent = this.lastId ?? '–';
    k.latLast.textContent = fmtMs(this.latencies.at(-1));
    k.latMedian.textContent = fmtMs(median(this.latencies));
    k.requests.textContent = c.requests;
    k.bytes.textContent = fmtBytes(c.bytes);
    if (this.def.kind === 'poll' || this.def.kind === 'longpoll') k.empty.textContent = c.empty;
    k.reconnects.textContent = c.reconnects;
    k.lost.textContent = c.lost;
    k.missing.textContent = c.missing;
    k.lost.classList.toggle('bad', c.lost > 0);
    k.missing.classList.toggle('bad', c.missing > 0);
    this.renderSpark();
    this.renderList();
    const d = this.el.root.dataset;
    d.count = c.messages;
    d.firstId = this.firstId ?? '';
    d.lastId = this.lastId ?? '';
    d.requests = c.requests;
    d.bytes = c.bytes;
    d.empty = c.empty;
    d.reconnects = c.reconnects;
    d.drops = c.drops;
    d.lost = c.lost;
    d.missing = c.missing;
    d.dupes = c.dupes;
    d.restarts = c.restarts;
    d.epoch = this.epoch ?? '';
    d.latMin = this.latMin ?? '';
    d.latMax = this.latMax ?? '';
  }

  renderSpark() {
    const lat = this.latencies.slice(-SPARK_POINTS);
    if (!lat.length) {
      this.el.line.setAttribute('points', '');
      this.el.caption.textContent = 'latency: no messages yet';
      this.el.svgTitle.textContent = 'latency sparkline: no messages yet';
      return;
    }
    // Scale to the largest value shown, at least 1 ms, so a flat loopback
    // line does not look like noise.
    const top = Math.max(1, ...lat);
    const dx = 240 / (SPARK_POINTS - 1);
    const x0 = 240 - (lat.length - 1) * dx;
    const pts = lat.map((v, i) => `${(x0 + i * dx).toFixed(1)},${(46 - Math.max(0, v) / top * 42).toFixed(1)}`);
    this.el.line.setAttribute('points', pts.join(' '));
    const text = `latency of the last ${lat.length}: ${fmtMs(Math.min(...lat))} to ${fmtMs(Math.max(...lat))} (scale 0–${fmtMs(top)})`;
    this.el.caption.textContent = text;
    this.el.svgTitle.textContent = text;
  }

  renderList() {
    const items = this.recent.map((it) => {
      const li = document.createElement('li');
      li.className = it.kind;
      if (it.kind === 'msg') {
        const id = document.createElement('span');
        id.className = 'id';
        id.textContent = '#' + it.id;
        const lat = document.createElement('span');
        lat.className = 'lat';
        lat.textContent = fmtMs(it.latency);
        const data = document.createElement('span');
        data.className = 'data';
        data.textContent = it.data;
        data.title = it.data;
        li.append(id, lat, data);
      } else {
        li.textContent = it.text;
      }
      return li;
    });
    this.el.list.replaceChildren(...items);
  }

  // A pane's answer body {"last_id","epoch","reset","gap","lost","messages":[...]} (polls).
  takePollBody(body) {
    this.sawEpoch(body.epoch);
    if (body.reset) this.resetMarker(body);
    if (body.gap) this.gap(body.lost, body.messages.length ? body.messages[0].id : body.last_id + 1);
    for (const m of body.messages) this.deliver(m);
    if (!body.messages.length) this.c.empty++;
    this.scheduleRender();
  }

  async fetchPoll(path, signal) {
    this.c.requests++;
    this.scheduleRender();
    const res = await fetch(path, { signal, cache: 'no-store' });
    const text = await res.text();
    this.c.bytes += byteLength(text);
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.trim()}`);
    return JSON.parse(text);
  }

  url(path) {
    return `/${path}/${encodeURIComponent(this.channel)}`;
  }
}

// Short polling: a request every interval (fixed rate), each with the cursor.
class PollPane extends Pane {
  open(gen) {
    this.abort = null;
    this.loop(gen);
  }

  close() {
    if (this.abort) this.abort.abort();
    if (this.wake) this.wake.abort();
  }

  async loop(gen) {
    while (gen === this.gen) {
      const interval = this.page.interval();
      const t0 = performance.now();
      this.abort = new AbortController();
      this.setState(`polling every ${fmtMs(interval)}`, 'ok');
      try {
        const body = await this.fetchPoll(`${this.url('poll')}?since=${this.cursor}${this.epochParam()}`,
                                          this.abort.signal);
        if (gen !== this.gen) return;
        this.takePollBody(body);
      } catch (e) {
        if (gen !== this.gen) return;
        if (!isAbort(e)) {
          this.setState(`request failed (${e.message}); next poll as usual`, 'bad');
        }
      }
      this.abort = null;
      this.wake = new AbortController();
      await sleep(Math.max(0, interval - (performance.now() - t0)), this.wake.signal);
      this.wake = null;
    }
  }

  hurry() {
    if (this.wake) this.wake.abort();
  }

  drop() {
    this.c.drops++;
    this.c.reconnects++;
    const inFlight = this.abort !== null;
    if (inFlight) this.abort.abort();
    this.note(`${inFlight ? 'Aborted the request in flight.' : 'No request was in flight.'} ` +
              `Nothing to reconnect: the next poll simply asks since=${this.cursor}.`);
    this.scheduleRender();
  }
}

// Long polling: the next request leaves as soon as an answer arrives.
class LongPollPane extends Pane {
  open(gen) {
    this.abort = null;
    this.loop(gen);
  }

  close() {
    if (this.abort) this.abort.abort();
  }

  async loop(gen) {
    while (gen === this.gen) {
      this.abort = new AbortController();
      this.setState('waiting for the server to answer', 'ok');
      try {
        const body = await this.fetchPoll(
          `${this.url('longpoll')}?since=${this.cursor}${this.epochParam()}&timeout=${LONGPOLL_TIMEOUT_S}`,
          this.abort.signal);
        if (gen !== this.gen) return;
        this.takePollBody(body);
      } catch (e) {
        if (gen !== this.gen) return;
        if (isAbort(e)) continue;   // a drop: ask again at once, same cursor
        this.c.reconnects++;
        this.setState(`request failed (${e.message}); retrying in ${RETRY_MS / 1000} s`, 'bad');
        await sleep(RETRY_MS);
      }
    }
  }

  drop() {
    this.c.drops++;
    this.c.reconnects++;
    if (this.abort) this.abort.abort();
    this.note(`Aborted the waiting request (its connection closes); the next one asks since=${this.cursor}.`);
    this.scheduleRender();
  }
}

// EventSource: the browser reconnects by itself after the stream ends,
// sending Last-Event-ID. The tag lets POST /drop/sse end this stream only.
class SsePane extends Pane {
  open(gen) {
    this.tag = this.page.tag;
    this.opened = 0;
    // The URL's since= is only the first cursor: after an automatic
    // reconnect the server goes by Last-Event-ID, so an old since= would
    // show up as duplicates. Its epoch= stays right until the server
    // restarts; then the page opens a new EventSource with the new one.
    const es = new EventSource(`${this.url('sse')}?since=${this.cursor}&tag=${this.tag}${this.epochParam()}`);
    this.es = es;
    const mine = () => gen === this.gen && es === this.es;
    this.setState('connecting', 'wait');
    es.onopen = () => {
      if (!mine()) return;
      this.c.requests++;
      if (this.opened++ > 0) {
        this.c.reconnects++;
        this.note(`The browser reconnected by itself, sending Last-Event-ID: ${this.lastId ?? 'none'} ` +
                  '(the last id it saw); the server resumed right after it.');
      }
      this.setState('stream open', 'ok');
      this.scheduleRender();
    };
    es.onmessage = (e) => {
      if (!mine()) return;
      this.c.bytes += byteLength(`id: ${e.lastEventId}\ndata: ${e.data}\n\n`);
      this.deliver(JSON.parse(e.data));
    };
    es.addEventListener('hello', (e) => {
      if (!mine()) return;
      this.c.bytes += byteLength(`event: hello\ndata: ${e.data}\n\n`);
      if (!this.sawEpoch(JSON.parse(e.data).epoch)) return;
      // A new server start. Its reset (if it saw our epoch) would follow,
      // but this EventSource's URL names the old epoch for good: reopen.
      this.close();
      this.open(gen);
      this.note('The server restarted (a new epoch in its hello): the page opened a new EventSource ' +
                'from id 0 with the new epoch.');
    });
    es.addEventListener('reset', (e) => {
      if (!mine()) return;
      this.c.bytes += byteLength(`event: reset\nid: 0\ndata: ${e.data}\n\n`);
      this.resetMarker(JSON.parse(e.data));
    });
    es.addEventListener('gap', (e) => {
      if (!mine()) return;
      this.c.bytes += byteLength(`event: gap\ndata: ${e.data}\n\n`);
      const g = JSON.parse(e.data);
      this.gap(g.lost, g.first_id);
    });
    es.onerror = () => {
      if (!mine()) return;
      if (es.readyState === EventSource.CONNECTING) {
        this.setState('stream ended: the browser is reconnecting by itself', 'wait');
        return;
      }
      // CLOSED: the browser gave up (an error answer); only the page can go on.
      this.c.reconnects++;
      this.setState(`the browser gave up; the page reopens it in ${RETRY_MS / 1000} s with since=${this.cursor}`, 'bad');
      setTimeout(() => { if (gen === this.gen) { this.close(); this.open(gen); } }, RETRY_MS);
    };
  }

  close() {
    if (this.es) this.es.close();
    this.es = null;
  }

  async drop() {
    this.c.drops++;
    const gen = this.gen;
    this.note(`Asked the server to end this stream (POST /drop/sse/${this.channel}?tag=${this.tag}) …`);
    let dropped = 0;
    try {
      const res = await fetch(`/drop/sse/${encodeURIComponent(this.channel)}?tag=${this.tag}`,
                              { method: 'POST', cache: 'no-store' });
      if (res.ok) dropped = (await res.json()).dropped;
    } catch (e) {
      dropped = 0;
    }
    if (gen !== this.gen) return;
    if (dropped > 0) {
      this.note(`The server ended the stream after id ${this.lastId ?? 'none'}. The browser will reconnect ` +
                'by itself after the retry: 1000 ms the server asked for, sending Last-Event-ID.');
      return;
    }
    // The stream was not there to end (still connecting): close it and
    // resume explicitly, and say that this is the page's doing.
    this.c.reconnects++;
    this.close();
    this.open(gen);
    this.note(`The server had no open stream to end; the page closed the EventSource and opened a new one ` +
              `with ?since=${this.cursor} (a new EventSource sends no Last-Event-ID).`);
  }
}

// WebSocket: nothing reconnects it but this code, from the cursor.
class WsPane extends Pane {
  open(gen) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}${this.url('ws')}?since=${this.cursor}${this.epochParam()}`);
    this.ws = ws;
    this.setState('connecting', 'wait');
    ws.onopen = () => {
      if (gen !== this.gen) return;
      this.c.requests++;        // the upgrade request
      this.setState('socket open', 'ok');
      if (this.reopening) {
        this.reopening = false;
        this.c.reconnects++;
        this.note(`The page opened a new WebSocket with ?since=${this.reopenedFrom}; the server resumed after it.`);
      }
      this.scheduleRender();
    };
    ws.onmessage = (e) => {
      if (gen !== this.gen) return;
      const n = byteLength(e.data);
      this.c.bytes += n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
      const m = JSON.parse(e.data);
      if (m.hello) this.sawEpoch(m.epoch);      // control frames have no id
      else if (m.reset) this.resetMarker(m);
      else if (m.gap) this.gap(m.lost, m.first_id);
      else this.deliver(m);
    };
    ws.onclose = (e) => {
      if (gen !== this.gen || ws !== this.ws) return;
      this.reconnect(gen, `closed (code ${e.code})`, RETRY_MS);
    };
  }

  reconnect(gen, why, delay) {
    this.reopening = true;
    this.reopenedFrom = this.cursor;
    this.ws = null;
    this.setState(`${why}: the page reconnects in ${delay} ms with ?since=${this.cursor}`, 'wait');
    setTimeout(() => { if (gen === this.gen) this.open(gen); }, delay);
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'page closed it');
  }

  drop() {
    this.c.drops++;
    if (!this.ws) return;
    this.close();
    // As long as EventSource's retry: 1000, so the two read side by side.
    this.reconnect(this.gen, 'the page closed the socket', RETRY_MS);
    this.note('Closed the socket. A bare WebSocket does not reconnect: the page does, from its last id.');
    this.scheduleRender();
  }
}

// ------------------------------------------------------------------- page

class Page {
  constructor() {
    this.form = document.getElementById('controls');
    this.channelInput = document.getElementById('channel');
    this.intervalSelect = document.getElementById('interval');
    this.messageInput = document.getElementById('message');
    this.status = document.getElementById('status');
    this.tag = Math.random().toString(36).slice(2, 12);
    const kinds = { poll: PollPane, longpoll: LongPollPane, sse: SsePane, ws: WsPane };
    const root = document.getElementById('panes');
    this.panes = TRANSPORTS.map((def) => new kinds[def.kind](def, this));
    root.replaceChildren(...this.panes.map((p) => p.el.root));
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.subscribe(); });
    document.getElementById('publish').addEventListener('click', () => this.publish());
    // A new interval applies at once, not after the current wait.
    this.intervalSelect.addEventListener('change', () => this.panes.find((p) => p.def.kind === 'poll').hurry());
    this.messageInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this.publish(); }
    });
    const fromUrl = new URLSearchParams(location.search).get('channel');
    if (fromUrl) this.channelInput.value = fromUrl;
    this.subscribe();
  }

  interval() {
    return Number(this.intervalSelect.value) || 1000;
  }

  say(text, bad) {
    this.status.textContent = text;
    this.status.classList.toggle('bad', !!bad);
  }

  // Every pane starts from the channel's current last id, so all four show
  // the same ids from the same first message on.
  async subscribe() {
    const ch = this.channelInput.value.trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ch)) {
      this.say('A channel name is 1 to 64 of A–Z a–z 0–9 _ . -', true);
      this.channelInput.focus();
      return;
    }
    this.panes.forEach((p) => p.stop());
    let last = 0, epoch = null;
    try {
      const res = await fetch(`/poll/${encodeURIComponent(ch)}`, { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      ({ last_id: last, epoch } = await res.json());
    } catch (e) {
      this.say(`Cannot reach the server (${e.message}). Is bin/pushpull-server running?`, true);
      return;
    }
    this.channel = ch;
    this.panes.forEach((p) => p.start(ch, last, epoch));
    this.say(`Subscribed to “${ch}” after id ${last}.`);
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.channel === ch && this.panes.every((p) => p.c.messages === 0)) {
        this.say(`Nothing published on “${ch}” yet: publish a message above, or start the ` +
                 'server with --demo-rate 20 (it publishes on “demo”).');
      }
    }, 3000);
  }

  async publish() {
    const ch = this.channel;
    if (!ch) return;
    try {
      const res = await fetch(`/pub/${encodeURIComponent(ch)}`, {
        method: 'POST', body: this.messageInput.value,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      this.say(`Published on “${ch}” as id ${body.id}.`);
    } catch (e) {
      this.say(`Publish failed: ${e.message}`, true);
    }
  }
}

window.addEventListener('DOMContentLoaded', () => { window.pushpull = new Page(); });
