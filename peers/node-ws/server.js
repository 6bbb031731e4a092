"use strict";
// pushpull's own wire protocol (docs/PROTOCOL.md) on express + ws: the
// server a Node developer would write from the notes this project grew
// from. One process, one thread (node's event loop), as pushpull-server.
//   POST /pub/{ch}                       {"id":N,"epoch":E}
//   GET  /poll/{ch}?since=N&epoch=E      at once
//   GET  /longpoll/{ch}?since=N&timeout=S
//   GET  /sse/{ch}                       Last-Event-ID or ?since=N
//   GET  /ws/{ch}?since=N                one envelope per text frame
//   GET  /healthz                        ok
// History: the last PUSHPULL_HISTORY (1024) messages per channel, with the
// gap, hello and reset markers PROTOCOL.md describes. No /stats: the
// runner reads this process's CPU and RSS from /proc.
const http = require("node:http");
const express = require("express");
const { WebSocketServer } = require("ws");
const { CHANNEL, MAX_MESSAGE, nowUs } = require("../node-common.js");

const HISTORY = Number(process.env.PUSHPULL_HISTORY || 1024);
const HEARTBEAT_MS = 15000;
const MAX_QUEUE = 8 << 20;              // bytes one slow subscriber may hold back
const LONGPOLL_DEFAULT_S = 30, LONGPOLL_MAX_S = 120;
const NUMBER = /^[0-9]{1,16}$/;       // an epoch (µs) has 16 digits

const EPOCH = nowUs();                  // this start: cursors of another are stale

// One channel: a ring of the last HISTORY messages (id N at N % HISTORY,
// as ids have no holes) and the subscribers waiting for the next one.
class Channel {
  constructor() {
    this.lastId = 0;
    this.ring = new Array(HISTORY);
    this.sinks = new Set();             // (json, id) => void
  }
  publish(data) {
    const id = ++this.lastId;
    const json = JSON.stringify({ id, ts: nowUs(), data });
    this.ring[id % HISTORY] = json;
    for (const sink of this.sinks)
      sink(json, id);
    return id;
  }
  // Retained messages after `since`: lost > 0 when history evicted some.
  read(since, limit) {
    const first = Math.max(1, this.lastId - HISTORY + 1);
    const from = Math.max(since + 1, first);
    const lost = since + 1 < first ? first - since - 1 : 0;
    const messages = [];
    for (let id = from; id <= this.lastId && messages.length < limit; id++)
      messages.push(this.ring[id % HISTORY]);
    return { from, lost, messages };
  }
}

const channels = new Map();
function channel(name) {
  let ch = channels.get(name);
  if (!ch)
    channels.set(name, ch = new Channel());
  return ch;
}

// The subscription's cursor from the query (or SSE's Last-Event-ID):
// undefined without one; a cursor of another start, or ahead of the
// channel, is stale and served from 0 with a reset marker.
function cursor(ch, query, header) {
  const raw = header !== undefined ? header : query.since;
  for (const v of [raw, query.epoch])
    if (v !== undefined && !(NUMBER.test(v) && Number.isSafeInteger(Number(v))))
      return { error: "since, epoch and Last-Event-ID must be non-negative integers" };
  if (raw === undefined)
    return { since: undefined, reset: false };
  const since = Number(raw);
  const stale = (query.epoch !== undefined && Number(query.epoch) !== EPOCH) || since > ch.lastId;
  return stale ? { since: 0, reset: true, was: since } : { since, reset: false };
}

function pollBody(ch, since, reset, limit) {
  let body = `{"last_id":${ch.lastId},"epoch":${EPOCH}`;
  if (reset)
    body += ',"reset":true';
  if (since === undefined)
    return body + ',"messages":[]}';
  const r = ch.read(since, limit);
  if (r.lost)
    body += `,"gap":true,"lost":${r.lost}`;
  return body + `,"messages":[${r.messages.join(",")}]}`;
}

function fail(res, status, error) {
  res.status(status).json({ error });
}

function subscription(req, res, header) {
  if (!CHANNEL.test(req.params.ch)) {
    fail(res, 400, "invalid channel name");
    return null;
  }
  const ch = channel(req.params.ch);
  const c = cursor(ch, req.query, header);
  if (c.error) {
    fail(res, 400, c.error);
    return null;
  }
  return { ch, ...c };
}

function answer(res, ch, c, limit) {
  res.type("application/json").send(pollBody(ch, c.since, c.reset, limit));
}

function limitOf(query) {
  return query.limit !== undefined && NUMBER.test(query.limit)
    ? Math.min(Number(query.limit), HISTORY) : HISTORY;
}

const app = express();
app.disable("x-powered-by");
app.disable("etag");
app.use((req, res, next) => {
  res.set("Pushpull-Epoch", String(EPOCH));
  next();
});

app.get("/healthz", (req, res) => res.type("text/plain").send("ok\n"));

app.post("/pub/:ch", express.text({ type: () => true, limit: MAX_MESSAGE }), (req, res) => {
  if (!CHANNEL.test(req.params.ch))
    return fail(res, 400, "invalid channel name");
  const data = typeof req.body === "string" ? req.body : "";
  res.json({ id: channel(req.params.ch).publish(data), epoch: EPOCH });
});

app.get("/poll/:ch", (req, res) => {
  const c = subscription(req, res);
  if (c)
    answer(res, c.ch, c, limitOf(req.query));
});

// Answered at once when something is newer than the cursor (or the cursor
// is stale, or timeout=0); otherwise at the next publish or the timeout.
app.get("/longpoll/:ch", (req, res) => {
  const c = subscription(req, res);
  if (!c)
    return;
  if (req.query.timeout !== undefined && !NUMBER.test(req.query.timeout))
    return fail(res, 400, "timeout must be a non-negative integer");
  const timeoutS = Math.min(Number(req.query.timeout ?? LONGPOLL_DEFAULT_S), LONGPOLL_MAX_S);
  const limit = limitOf(req.query);
  if (c.since === undefined)
    c.since = c.ch.lastId;              // no cursor: the next message
  if (c.reset || c.ch.lastId > c.since || timeoutS === 0)
    return answer(res, c.ch, c, limit);
  const done = () => {
    clearTimeout(timer);
    c.ch.sinks.delete(sink);
  };
  const sink = () => {
    done();
    answer(res, c.ch, c, limit);
  };
  const timer = setTimeout(sink, timeoutS * 1000);
  c.ch.sinks.add(sink);
  res.on("close", done);                // the client left: forget the wait
});

// What a stream sends first: hello, then reset (a stale cursor), then the
// gap and the backlog after the cursor.
function streamStart(c, frame) {
  frame("hello", JSON.stringify({ hello: true, epoch: EPOCH, last_id: c.ch.lastId }));
  if (c.reset)
    frame("reset", JSON.stringify({ reset: true, epoch: EPOCH, since: c.was, last_id: c.ch.lastId }));
  if (c.since === undefined)
    return;
  const r = c.ch.read(c.since, HISTORY);
  if (r.lost)
    frame("gap", JSON.stringify({ gap: true, since: c.since, first_id: r.from, lost: r.lost }));
  r.messages.forEach((json, i) => frame("message", json, r.from + i));
}

app.get("/sse/:ch", (req, res) => {
  const c = subscription(req, res, req.get("Last-Event-ID"));
  if (!c)
    return;
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  const write = (text) => {
    if (res.writableLength > MAX_QUEUE)
      res.destroy();                    // a slow consumer: drop it, never buffer without end
    else
      res.write(text);
  };
  const frame = (type, json, id) => {
    const head = type === "message" ? `id: ${id}\n` : type === "reset" ? "event: reset\nid: 0\n"
                                                     : `event: ${type}\n`;
    write(`${head}data: ${json}\n\n`);
  };
  write("retry: 1000\n\n");
  streamStart(c, frame);
  const sink = (json, id) => frame("message", json, id);
  const beat = setInterval(() => write(": heartbeat\n\n"), HEARTBEAT_MS);
  c.ch.sinks.add(sink);
  req.on("close", () => {
    clearInterval(beat);
    c.ch.sinks.delete(sink);
  });
});

app.use((req, res) => fail(res, 404, "not found"));
// express.text's errors (413 too large, 400 bad body) as JSON, as the rest.
app.use((err, req, res, next) => {
  void next;
  fail(res, err.status || 500, err.message || "error");
});

const server = http.createServer({ noDelay: true }, app);
const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
wss.on("headers", (headers) => headers.push(`Pushpull-Epoch: ${EPOCH}`));

function wsSession(ws, c) {
  const send = (json) => {
    if (ws.bufferedAmount > MAX_QUEUE)
      ws.close(1008, "slow consumer: queue full");
    else
      ws.send(json);
  };
  streamStart(c, (type, json) => send(json));
  const sink = (json) => send(json);
  const beat = setInterval(() => ws.ping(), HEARTBEAT_MS);
  c.ch.sinks.add(sink);
  ws.on("message", (data, isBinary) => {
    if (isBinary)
      ws.close(1003, "binary message");
    else
      c.ch.publish(data.toString("utf8"));   // a text frame publishes
  });
  ws.on("close", () => {
    clearInterval(beat);
    c.ch.sinks.delete(sink);
  });
}

function refuse(socket, status, error) {
  const body = JSON.stringify({ error });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
             `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://localhost");
  const m = /^\/ws\/([^/]+)$/.exec(url.pathname);
  if (!m)
    return refuse(socket, 404, "not found");
  if (!CHANNEL.test(m[1]))
    return refuse(socket, 400, "invalid channel name");
  const ch = channel(m[1]);
  const c = cursor(ch, Object.fromEntries(url.searchParams));
  if (c.error)
    return refuse(socket, 400, c.error);
  socket.setNoDelay(true);
  wss.handleUpgrade(req, socket, head, (ws) => wsSession(ws, { ch, ...c }));
});

const port = Number(process.argv[2] || 0);
server.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

// SIGTERM: close every WebSocket (1001) and connection, then exit 0.
function stop() {
  for (const ws of wss.clients)
    ws.close(1001, "server shutting down");
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
