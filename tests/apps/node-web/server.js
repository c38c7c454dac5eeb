// The Node.js example app's web process: answers every request with JSON on $PORT.
"use strict";

const http = require("http");
const { pad } = require("left-pad-lite");

const VERSION = "@VERSION@";

const server = http.createServer((req, res) => {
  const body = JSON.stringify({
    padded: pad("7", 3),
    node: process.version,
    version: VERSION,
  }) + "\n";
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
});

server.listen(Number(process.env.PORT), "0.0.0.0", () => {
  console.log(`web ${VERSION} listening on ${process.env.PORT}`);
});
