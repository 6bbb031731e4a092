"use strict";
// socket.io 4.8 as a pushpull peer: the library with its defaults (Engine.IO
// long polling and WebSocket, ping every 25 s), connection-state recovery on.
//   POST /pub/{ch}   emits "msg" {"id":N,"ts":µs,"data":body} to room {ch};
//                    answers 200 {"id":N} (N: the channel's sequence)
//   GET  /healthz    ok
//   /socket.io/      Engine.IO v4; a client joins room {ch} with the
//                    handshake's query parameter ch=
// Recovery keeps every broadcast of the last maxDisconnectionDuration (2
// min) and replays what a client missed when it reconnects with its pid and
// last offset (docs/CLIENT-OUTPUT.md, dialect socketio).
const http = require("node:http");
const { Server } = require("socket.io");
const { CHANNEL, nowUs, replyJson: reply, readBody } = require("../node-common.js");

const PUB = /^\/pub\/([^/?]+)$/;
const seq = new Map();

function publish(req, res, ch) {
  readBody(req, res, (data) => {
    const id = (seq.get(ch) || 0) + 1;
    seq.set(ch, id);
    io.to(ch).emit("msg", { id, ts: nowUs(), data });
    reply(res, 200, { id });
  });
}

// engine.io hands every request outside /socket.io/ to this handler.
const server = http.createServer({ noDelay: true }, (req, res) => {
  if (req.url === "/healthz")
    return res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
  const m = PUB.exec(req.url);
  if (!m)
    return reply(res, 404, { error: "not found" });
  if (req.method !== "POST")
    return reply(res, 405, { error: "method not allowed" });
  if (!CHANNEL.test(m[1]))
    return reply(res, 400, { error: "invalid channel name" });
  publish(req, res, m[1]);
});

const io = new Server(server, { connectionStateRecovery: {} });
io.on("connection", (socket) => {
  const ch = socket.handshake.query.ch;
  // A recovered socket is already back in its rooms.
  if (!socket.recovered && typeof ch === "string" && CHANNEL.test(ch))
    socket.join(ch);
});

const port = Number(process.argv[2] || 0);
server.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

function stop() {
  io.close(() => process.exit(0));      // closes every socket and the HTTP server
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
