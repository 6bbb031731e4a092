"use strict";
// The origin behind Pushpin (GRIP): it answers subscriber requests with
// hold instructions, and turns each POST /pub/{ch} (which reaches it
// through Pushpin, like every request) into a publish to Pushpin's HTTP
// control API. Messages are pushpull's envelope {"id":N,"ts":µs,"data":...},
// N the channel's sequence. Plain node, no package.
//   GET  /longpoll/{ch}?since=N&timeout=S   at once when the origin's short
//        history has something newer than N (or timeout=0); otherwise
//        Grip-Hold: response on channel ch with prev-id = the last id, so
//        Pushpin asks again when it missed one (its own delivery race).
//        Body: pushpull's poll answer {"last_id":L,"messages":[...]}.
//   GET  /sse/{ch}    Grip-Hold: stream, text/event-stream: each message
//        "id: N" + "data: <envelope>"; no history, no resume (Pushpin keeps
//        none, and this origin does not replay streams).
//   POST /ws/{ch}     WebSocket-over-HTTP (route option over_http): OPEN
//        subscribes the connection to ch; one envelope per text frame.
//   GET  /healthz     ok
// Usage: node origin.js ORIGIN_PORT PUBLISH_URL (Pushpin's /publish).
const http = require("node:http");
const { CHANNEL, nowUs, replyJson: json, readBody } = require("../node-common.js");

const HISTORY = 1024;                   // long polls resume within it
const NUMBER = /^[0-9]{1,16}$/;
const HEARTBEAT_S = 15;
const HOLD_MIN_S = 5;                   // Pushpin's smallest Grip-Timeout

const port = Number(process.argv[2]);
const publishUrl = new URL(process.argv[3]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const channels = new Map();
function channel(name) {
  let ch = channels.get(name);
  if (!ch)
    channels.set(name, ch = { lastId: 0, ring: new Array(HISTORY) });
  return ch;
}

// Messages after `since` that the ring still holds (a cursor older than
// the ring loses the rest: the payloads' sequence numbers show it).
function pollBody(ch, since) {
  const out = [];
  for (let id = Math.max(since + 1, ch.lastId - HISTORY + 1, 1); id <= ch.lastId; id++)
    out.push(ch.ring[id % HISTORY]);
  return `{"last_id":${ch.lastId},"messages":[${out.join(",")}]}`;
}

function reply(res, status, headers, body) {
  res.writeHead(status, headers).end(body);
}

// One item, in the three formats Pushpin delivers to held requests,
// streams and WebSockets. Ids let Pushpin see a missed item (prev-id).
function item(name, ch, id, envelope) {
  return {
    channel: name, id: String(id), "prev-id": String(id - 1),
    formats: {
      "http-response": { code: 200, headers: { "Content-Type": "application/json" },
                         body: `{"last_id":${id},"messages":[${envelope}]}` },
      "http-stream": { content: `id: ${id}\ndata: ${envelope}\n\n` },
      "ws-message": { content: envelope },
    },
  };
}

function pushpinPublish(body, done) {
  const req = http.request(publishUrl, { method: "POST", agent,
    headers: { "Content-Type": "application/json" } }, (res) => {
    res.resume();
    res.on("end", () => done(res.statusCode === 200 ? null : `Pushpin answered ${res.statusCode}`));
  });
  req.on("error", (e) => done(e.message));
  req.end(body);
}

function publish(req, res, name) {
  readBody(req, res, (data) => {
    const ch = channel(name), id = ++ch.lastId;
    const envelope = JSON.stringify({ id, ts: nowUs(), data });
    ch.ring[id % HISTORY] = envelope;
    // Answered once Pushpin has the item: an acknowledged publish is
    // one Pushpin delivers.
    pushpinPublish(JSON.stringify({ items: [item(name, ch, id, envelope)] }), (err) =>
      err ? json(res, 502, { error: err }) : json(res, 200, { id }));
  });
}

function longpoll(res, name, query) {
  const ch = channel(name);
  for (const v of [query.get("since"), query.get("timeout")])
    if (v !== null && !NUMBER.test(v))
      return json(res, 400, { error: "since and timeout must be non-negative integers" });
  const since = query.get("since") !== null ? Number(query.get("since")) : ch.lastId;
  const timeoutS = Number(query.get("timeout") ?? 30);
  if (ch.lastId > since || timeoutS === 0)
    return reply(res, 200, { "Content-Type": "application/json" }, pollBody(ch, since));
  reply(res, 200, {
    "Content-Type": "application/json",
    "Grip-Hold": "response",
    "Grip-Channel": `${name}; prev-id=${ch.lastId}`,
    "Grip-Timeout": String(Math.max(timeoutS, HOLD_MIN_S)),
  }, pollBody(ch, since));             // what Pushpin answers at the timeout
}

function sse(res, name) {
  reply(res, 200, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Grip-Hold": "stream",
    "Grip-Channel": name,
    "Grip-Keep-Alive": `: heartbeat\\n\\n; format=cstring; timeout=${HEARTBEAT_S}`,
  }, "retry: 1000\n\n");
}

// WebSocket-over-HTTP: events "TYPE[ <hex length>]\r\n[<content>\r\n]".
// OPEN is accepted and the connection subscribed to its channel; CLOSE is
// answered; text from the client and the rest need no answer.
function wsEvents(req, res, name) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const events = Buffer.concat(chunks).toString("utf8");
    let out = "";
    if (/^OPEN\r\n/m.test(events)) {
      const sub = `c:${JSON.stringify({ type: "subscribe", channel: name })}`;
      out += `OPEN\r\nTEXT ${Buffer.byteLength(sub).toString(16)}\r\n${sub}\r\n`;
    }
    if (/^CLOSE/m.test(events))
      out += "CLOSE\r\n";
    reply(res, 200, { "Content-Type": "application/websocket-events",
                      "Sec-WebSocket-Extensions": "grip" }, out);
  });
}

const ROUTE = /^\/(pub|longpoll|sse|ws)\/([^/?]+)$/;

const server = http.createServer({ noDelay: true }, (req, res) => {
  const url = new URL(req.url, "http://origin");
  if (url.pathname === "/healthz")
    return reply(res, 200, { "Content-Type": "text/plain" }, "ok\n");
  const m = ROUTE.exec(url.pathname);
  if (!m)
    return json(res, 404, { error: "not found" });
  if (!CHANNEL.test(m[2]))
    return json(res, 400, { error: "invalid channel name" });
  const want = m[1] === "pub" || m[1] === "ws" ? "POST" : "GET";
  if (req.method !== want)
    return json(res, 405, { error: "method not allowed" });
  if (m[1] === "pub")
    return publish(req, res, m[2]);
  if (m[1] === "longpoll")
    return longpoll(res, m[2], url.searchParams);
  if (m[1] === "sse")
    return sse(res, m[2]);
  wsEvents(req, res, m[2]);
});

server.listen(port, "127.0.0.1");
function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
