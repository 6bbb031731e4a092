// The live page in a real browser: Debian's chromium, headless, driven by
// playwright-core (tests/browser/node_modules, from the committed lockfile).
//
// Starts the real server with --demo-rate 20, opens the page, waits until
// every pane has 20 messages, checks each pane's figures (its data-*
// attributes and its message list), drops every pane's connection and
// checks each resumes with no missing or repeated id, publishes from the
// page, checks gap markers are shown and counted (a second server with
// --history 4), checks every pane notices a server restart and starts its
// cursor over (a third server, SIGKILLed and started again on its port),
// and saves screenshots to tests/out/browser/ (page.png, gaps.png).
// TAP lines on stdout ("ok - ", "not ok - ", "# "); exit 1 on a failure.
//
//   PUSHPULL_BIN=bin node tests/browser/test_page.mjs      (make test-browser)

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.PUSHPULL_BIN || resolve(here, '../../bin');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = resolve(here, '../out/browser');
const RATE = 20;
const WANT = 20;                    // messages every pane must show
const KINDS = ['poll', 'longpoll', 'sse', 'ws'];
const WATCHDOG_MS = 110_000;        // the whole test stays under 2 minutes

let passed = 0, failed = 0;
const serverProcs = [];             // killed by the watchdog
const ok = (cond, name, diag) => {
  if (cond) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}`);
    if (diag) for (const l of String(diag).split('\n')) console.log(`# ${l}`);
  }
  return cond;
};
const diag = (msg) => { for (const l of String(msg).split('\n')) console.log(`# ${l}`); };

// One check that may throw: the exception is its failure.
async function check(name, fn) {
  try {
    const why = await fn();
    return ok(!why, name, why);
  } catch (e) {
    return ok(false, name, e && e.stack ? e.stack : e);
  }
}

// ------------------------------------------------------------------ server

function startServer(args) {
  return new Promise((resolveStart, reject) => {
    const proc = spawn(join(BIN, 'pushpull-server'), ['--port', '0', ...args],
                       { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (b) => { stderr += b; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('no "listening on" line in 10 s')); }, 10_000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
    createInterface({ input: proc.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (!m) { proc.kill('SIGKILL'); reject(new Error(`unexpected first line ${line}`)); return; }
      serverProcs.push(proc);
      resolveStart({ proc, url: m[1], stderr: () => stderr });
    });
  });
}

function stopServer(srv) {
  return new Promise((done) => {
    if (srv.proc.exitCode !== null) { done(srv.proc.exitCode); return; }
    const kill = setTimeout(() => srv.proc.kill('SIGKILL'), 5000);
    srv.proc.removeAllListeners('exit');
    srv.proc.on('exit', (code, sig) => { clearTimeout(kill); done(code ?? sig); });
    srv.proc.kill('SIGTERM');
  });
}

// ------------------------------------------------------------------ page

async function paneState(page) {
  return page.evaluate((kinds) => Object.fromEntries(kinds.map((k) => {
    const el = document.getElementById('pane-' + k);
    const d = el.dataset;
    const num = (v) => (v === undefined || v === '' ? null : Number(v));
    return [k, {
      count: num(d.count), firstId: num(d.firstId), lastId: num(d.lastId),
      requests: num(d.requests), bytes: num(d.bytes), empty: num(d.empty),
      reconnects: num(d.reconnects), drops: num(d.drops), lost: num(d.lost),
      missing: num(d.missing), dupes: num(d.dupes), restarts: num(d.restarts), epoch: num(d.epoch),
      latMin: num(d.latMin), latMax: num(d.latMax),
      listIds: [...el.querySelectorAll('.messages li.msg .id')].map((s) => Number(s.textContent.slice(1))),
      listKinds: [...el.querySelectorAll('.messages li')].map((li) => li.className),
      state: el.querySelector('.state-text').textContent,
      note: el.querySelector('.note').textContent,
    }];
  })), KINDS);
}

async function waitFor(page, what, pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let st;
  for (;;) {
    st = await paneState(page);
    if (pred(st)) return st;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; panes now:\n` +
                      JSON.stringify(summary(st), null, 1));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function summary(st) {
  return Object.fromEntries(Object.entries(st).map(([k, p]) => [k, {
    count: p.count, firstId: p.firstId, lastId: p.lastId, requests: p.requests,
    reconnects: p.reconnects, lost: p.lost, missing: p.missing, dupes: p.dupes,
    latMin: p.latMin, latMax: p.latMax, state: p.state,
  }]));
}

// The figures any pane must show: what it counted agrees with its ids.
function continuity(k, p) {
  const errs = [];
  if (p.missing !== 0) errs.push(`${p.missing} missing ids`);
  if (p.dupes !== 0) errs.push(`${p.dupes} repeated ids`);
  if (p.lost !== 0) errs.push(`${p.lost} ids lost to a gap`);
  if (p.lastId - p.firstId + 1 !== p.count) {
    errs.push(`ids ${p.firstId}..${p.lastId} but ${p.count} messages`);
  }
  // The list is newest first: strictly consecutive ids going down.
  for (let i = 1; i < p.listIds.length; i++) {
    if (p.listIds[i] !== p.listIds[i - 1] - 1) errs.push(`list ids not consecutive: ${p.listIds.join(',')}`);
  }
  if (p.listIds[0] !== p.lastId) errs.push(`list starts at ${p.listIds[0]}, last id ${p.lastId}`);
  return errs.length ? `${k}: ${errs.join('; ')}` : '';
}

// ------------------------------------------------------------------ main

async function main() {
  mkdirSync(OUT, { recursive: true });
  const srv = await startServer(['--demo-rate', String(RATE)]);
  diag(`server ${srv.url}, chromium ${CHROMIUM}`);
  const profile = mkdtempSync(join(tmpdir(), 'pushpull-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1600, height: 1000 },
    });
    await run(ctx, srv);
    await runGaps(ctx);
    await runRestart(ctx);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    const code = await stopServer(srv);
    ok(code === 0, 'server: clean exit (status 0) on SIGTERM',
       `exit ${code}; stderr tail:\n${srv.stderr().slice(-2000)}`);
  }
}

async function run(ctx, srv) {
  const page = ctx.pages()[0] || await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('requestfailed', (r) => {
    // The page aborts polls (drop) and closes streams (a channel switch):
    // those fail by design; anything else is a problem.
    const aborted = r.failure()?.errorText === 'net::ERR_ABORTED' && /\/(poll|longpoll|sse)\//.test(r.url());
    if (!aborted) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });

  const res = await page.goto(srv.url + '/', { waitUntil: 'load' });

  await check('GET / answers 200 text/html and the page has its structure', async () => {
    if (res.status() !== 200) return `status ${res.status()}`;
    if (!/^text\/html/.test(res.headers()['content-type'])) return `content-type ${res.headers()['content-type']}`;
    const s = await page.evaluate(() => ({
      title: document.title,
      h1: document.querySelectorAll('h1').length,
      h2: [...document.querySelectorAll('main h2')].map((h) => h.textContent),
      panes: document.querySelectorAll('main .pane').length,
    }));
    if (s.h1 !== 1 || s.panes !== 4 || s.h2.length !== 4) return JSON.stringify(s);
    return '';
  });

  await check('every control has a label and every button a name', async () => {
    const bad = await page.evaluate(() => {
      const out = [];
      for (const el of document.querySelectorAll('input, select, textarea')) {
        if (!el.labels || !el.labels.length) out.push(`unlabelled ${el.tagName} #${el.id}`);
      }
      for (const b of document.querySelectorAll('button')) {
        if (!b.textContent.trim() && !b.getAttribute('aria-label')) out.push('button without a name');
      }
      return out;
    });
    return bad.join('; ');
  });

  // On a quiet channel of its own, so the message cannot scroll out of the
  // lists before it is looked for.
  await check('the channel and publish controls: a message published from the page reaches all four panes', async () => {
    await page.fill('#channel', 'page-test');
    await page.click('#subscribe');
    await waitFor(page, 'panes on page-test', (s) => KINDS.every((k) => s[k].count === 0 && s[k].requests >= 1), 10_000);
    const text = `from the test ${Date.now()}`;
    await page.fill('#message', text);
    await page.press('#message', 'Enter');
    const s = await waitFor(page, 'the published message in every pane', (x) => KINDS.every((k) => x[k].count === 1), 10_000);
    const shown = await page.evaluate(() => [...document.querySelectorAll('main .pane')].map((p) =>
      [...p.querySelectorAll('.messages .data')].map((d) => d.textContent)));
    if (!shown.every((l) => l.length === 1 && l[0] === text)) return `lists: ${JSON.stringify(shown)}`;
    if (!KINDS.every((k) => s[k].lastId === 1)) return `last ids ${KINDS.map((k) => s[k].lastId)}`;
    await page.fill('#message', 'hello from the page');
    await page.fill('#channel', 'demo');
    await page.click('#subscribe');
    return '';
  });

  const t0 = Date.now();             // the panes (re)started about now
  let st;
  const waited = await check(`every pane receives ${WANT} messages`, async () => {
    st = await waitFor(page, `${WANT} messages per pane`, (s) => KINDS.every((k) => s[k].count >= WANT), 30_000);
    diag(`after ${((Date.now() - t0) / 1000).toFixed(1)} s: ` +
         KINDS.map((k) => `${k} ${st[k].count} msgs, ${st[k].requests} req, ` +
                          `latency ${st[k].latMin.toFixed(2)}..${st[k].latMax.toFixed(1)} ms`).join('; '));
  });
  if (!waited) return;
  const elapsedS = (Date.now() - t0) / 1000;

  for (const k of KINDS) {
    await check(`${k}: ids consecutive, nothing missing, repeated or lost`, () => continuity(k, st[k]));
    await check(`${k}: latency plausible (0 to 5 s)`, () => {
      // performance.now() is coarsened to 0.1 ms: allow that much below 0.
      if (!(st[k].latMin >= -0.1)) return `min latency ${st[k].latMin} ms`;
      if (!(st[k].latMax < 5000)) return `max latency ${st[k].latMax} ms`;
      return '';
    });
    await check(`${k}: requests, bytes and reconnects plausible`, () => {
      const p = st[k];
      if (p.requests < 1) return `requests ${p.requests}`;
      if (p.reconnects !== 0) return `reconnects ${p.reconnects} before any drop`;
      // at least the JSON of each message
      if (p.bytes < p.count * 40) return `bytes ${p.bytes} for ${p.count} messages`;
      if (k === 'poll' && p.requests > elapsedS / 1.0 + 3) return `${p.requests} polls in ${elapsedS} s at 1 s`;
      if (k === 'longpoll' && p.requests > p.count + 2) return `${p.requests} long polls for ${p.count} messages`;
      if ((k === 'sse' || k === 'ws') && p.requests !== 1) return `${p.requests} requests for one stream`;
      return '';
    });
  }

  await check('all four panes show the same ids', () => {
    const first = new Set(KINDS.map((k) => st[k].firstId));
    return first.size === 1 ? '' : `first ids ${KINDS.map((k) => `${k} ${st[k].firstId}`).join(', ')}`;
  });

  // Drop every pane's connection; each must resume where it was.
  const before = await paneState(page);
  for (const k of KINDS) await page.click(`#pane-${k} button.drop`);
  const dropped = await check('after "drop connection" every pane resumes and gets 20 more messages', async () => {
    st = await waitFor(page, 'resumed panes', (s) => KINDS.every((k) =>
      s[k].reconnects >= 1 && s[k].lastId >= before[k].lastId + WANT), 30_000);
  });
  if (dropped) {
    for (const k of KINDS) {
      await check(`${k}: resumed after the drop with no missing or repeated id`, () => {
        const why = continuity(k, st[k]);
        if (why) return why;
        if (st[k].reconnects !== 1) return `${st[k].reconnects} reconnects after one drop`;
        return '';
      });
    }
    await check('sse: the browser reconnected by itself (a second request, Last-Event-ID)', () => {
      const p = st.sse;
      if (p.requests !== 2) return `requests ${p.requests}`;
      return /reconnected by itself/.test(p.note) ? '' : `note: ${p.note}`;
    });
    await check('ws: the page reconnected with ?since', () => {
      const p = st.ws;
      if (p.requests !== 2) return `requests ${p.requests}`;
      return /\?since=\d+/.test(p.note) ? '' : `note: ${p.note}`;
    });
  }

  await check('the short-poll interval control changes the poll rate', async () => {
    await page.selectOption('#interval', '250');
    const a = (await paneState(page)).poll.requests;
    await new Promise((r) => setTimeout(r, 2000));
    const p = (await paneState(page)).poll;
    const n = p.requests - a;
    return n >= 5 && n <= 11 && /250 ms/.test(p.state) ? '' : `${n} polls in 2 s at 250 ms; state "${p.state}"`;
  });
  await page.selectOption('#interval', '1000');

  await check('the server counted the demo messages in /stats', async () => {
    const stats = await (await page.request.get(srv.url + '/stats')).json();
    const ageS = stats.uptime_s;
    const lo = RATE * ageS * 0.8 - 5, hi = RATE * ageS * 1.1 + 10;   // + the page's publish
    return stats.published >= lo && stats.published <= hi ? ''
      : `published ${stats.published} in ${ageS.toFixed(1)} s at ${RATE}/s`;
  });

  await check('narrow window: the panes sit 2 by 2', async () => {
    await page.setViewportSize({ width: 1000, height: 900 });
    const boxes = await page.evaluate(() => [...document.querySelectorAll('main .pane')].map((p) => {
      const r = p.getBoundingClientRect();
      return [Math.round(r.left), Math.round(r.top)];
    }));
    await page.setViewportSize({ width: 1600, height: 1000 });
    const cols = new Set(boxes.map((b) => b[0])).size, rows = new Set(boxes.map((b) => b[1])).size;
    return cols === 2 && rows === 2 ? '' : `pane positions ${JSON.stringify(boxes)}`;
  });

  await page.mouse.move(0, 0);            // no button shown hovered
  await page.waitForTimeout(1200);        // a fuller sparkline for the picture
  await check('screenshot saved to tests/out/browser/page.png', async () => {
    await page.screenshot({ path: join(OUT, 'page.png'), fullPage: true });
  });

  ok(problems.length === 0, 'no page errors, console errors or failed requests', problems.join('\n'));
}

// Gap markers are shown and counted, never hidden: a server that keeps 4
// messages, panes kept away while 10 are published.
async function runGaps(ctx) {
  const srv = await startServer(['--history', '4', '--quiet']);
  const page = await ctx.newPage();
  try {
    await page.goto(srv.url + '/?channel=gaps', { waitUntil: 'load' });
    const pub = async (n) => {
      for (let i = 0; i < n; i++) {
        const r = await fetch(`${srv.url}/pub/gaps`, { method: 'POST', body: `gap test ${i}` });
        if (!r.ok) throw new Error(`publish: HTTP ${r.status}`);
      }
    };
    await check('gaps: every pane gets the first message on a --history 4 server', async () => {
      await waitFor(page, 'four subscribed panes', (s) => KINDS.every((k) => s[k].requests >= 1) &&
                    /open/.test(s.sse.state) && /open/.test(s.ws.state), 10_000);
      await pub(1);
      await waitFor(page, 'message 1 everywhere', (s) => KINDS.every((k) => s[k].lastId === 1), 10_000);
    });
    await page.selectOption('#interval', '5000');
    await page.click('#pane-sse button.drop');
    await page.click('#pane-ws button.drop');
    await waitFor(page, 'sse and ws away', (s) => /reconnecting by itself/.test(s.sse.state) &&
                  /reconnects in/.test(s.ws.state), 5_000);
    await pub(10);
    const st = await waitFor(page, 'every pane at id 11', (s) => KINDS.every((k) => s[k].lastId === 11), 15_000);
    for (const k of KINDS) {
      await check(`gaps: ${k} counts what the server announced lost, and nothing goes missing`, () => {
        const p = st[k];
        if (p.missing !== 0 || p.dupes !== 0) return `missing ${p.missing}, repeated ${p.dupes}`;
        if (p.count + p.lost !== 11) return `${p.count} messages + ${p.lost} lost != 11 published`;
        if (k === 'longpoll') return '';   // it may well keep up: no gap to show
        if (p.lost < 1) return `no gap counted (${p.count} messages)`;
        if (!p.listKinds.includes('gap')) return `no gap line in the list: ${p.listKinds}`;
        return '';
      });
    }
    await page.screenshot({ path: join(OUT, 'gaps.png'), fullPage: true });
  } finally {
    await page.close().catch(() => {});
    const code = await stopServer(srv);
    ok(code === 0, 'gaps: server with --history 4: clean exit on SIGTERM', `exit ${code}; ${srv.stderr().slice(-1000)}`);
  }
}

// A server restart: ids start over with a new epoch. Every pane must say so
// once, start its cursor over, and go on with the new start's messages, with
// none of them taken for missing or repeated.
async function runRestart(ctx) {
  let srv = await startServer(['--demo-rate', String(RATE), '--quiet']);
  const port = new URL(srv.url).port;
  const page = await ctx.newPage();
  try {
    await page.goto(srv.url + '/?channel=demo', { waitUntil: 'load' });
    const before = await waitFor(page, '5 messages per pane', (s) => KINDS.every((k) => s[k].count >= 5), 15_000);
    srv.proc.removeAllListeners('exit');
    srv.proc.kill('SIGKILL');
    await new Promise((r) => srv.proc.once('exit', r));
    srv = await startServer(['--demo-rate', String(RATE), '--quiet', '--port', port]);
    const st = await waitFor(page, 'every pane on the new start', (s) => KINDS.every((k) =>
      s[k].restarts >= 1 && s[k].epoch !== before[k].epoch && s[k].lastId >= 10), 20_000);
    for (const k of KINDS) {
      await check(`restart: ${k} says so once, starts its cursor over, nothing missing or repeated`, () => {
        const p = st[k];
        if (p.restarts !== 1) return `${p.restarts} restarts shown for one`;
        if (p.missing !== 0 || p.dupes !== 0 || p.lost !== 0) {
          return `missing ${p.missing}, repeated ${p.dupes}, lost ${p.lost}`;
        }
        return '';
      });
    }
  } finally {
    await page.close().catch(() => {});
    const code = await stopServer(srv);
    ok(code === 0, 'restart: the restarted server: clean exit on SIGTERM', `exit ${code}; ${srv.stderr().slice(-1000)}`);
  }
}

const watchdog = setTimeout(() => {
  ok(false, `watchdog: still running after ${WATCHDOG_MS / 1000} s`);
  for (const p of serverProcs) p.kill('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS);

try {
  await main();
} catch (e) {
  ok(false, 'test setup', e && e.stack ? e.stack : e);
}
clearTimeout(watchdog);
console.log(`1..${passed + failed}`);
console.log(`# ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
