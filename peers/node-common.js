"use strict";
// What the node peers (node-ws, socketio, pushpin's origin) share: the
// channel-name rule, the publish size limit, the µs clock of the envelope's
// ts, and reading a publish body with that limit.

const CHANNEL = /^[A-Za-z0-9_.-]{1,64}$/;   // PROTOCOL.md's channel names
const MAX_MESSAGE = 64 * 1024;              // pushpull-server's --max-message

// µs since the Unix epoch, as pushpull-server's ts.
function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function replyJson(res, status, obj) {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(obj));
}

// The request's body as UTF-8 text to onBody(text); a body over
// MAX_MESSAGE is answered 413 here (read to its end, not kept).
function readBody(req, res, onBody) {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= MAX_MESSAGE)
      chunks.push(c);
  });
  req.on("end", () => {
    if (size > MAX_MESSAGE)
      replyJson(res, 413, { error: "message too large" });
    else
      onBody(Buffer.concat(chunks).toString("utf8"));
  });
}

module.exports = { CHANNEL, MAX_MESSAGE, nowUs, replyJson, readBody };
