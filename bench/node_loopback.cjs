// Preloaded into the Node peers the stream benchmark compares against (`node --require`): every TCP server they
// open listens on 127.0.0.1 only, so a benchmark never opens a port beyond loopback.
"use strict";
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "object" && args[0] !== null && !(args[0] instanceof net.Server)) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  } else if (args[0] === undefined || typeof args[0] === "number" || /^\d+$/.test(String(args[0]))) {
    if (typeof args[1] === "string") args[1] = "127.0.0.1";
    else args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
