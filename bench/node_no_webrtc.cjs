// Preloaded into the webtorrent peer the stream benchmark compares against (`node --require`). webtorrent 3 loads
// node-datachannel (WebRTC, for browser peers) at start; its native part is downloaded from GitHub by an install
// script, which cannot run here (`npm install --ignore-scripts`). The benchmark's swarms are TCP and uTP peers only,
// so an empty stand-in for the native module lets webtorrent start; nothing calls it.
"use strict";
const Module = require("module");
const load = Module._load;
Module._load = function (request, ...rest) {
  if (String(request).endsWith("node_datachannel.node")) return {};
  return load.call(this, request, ...rest);
};
