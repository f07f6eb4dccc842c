// Preloaded (`node --require`) into a test server that would listen on every interface: a
// listen without a host, or with an unspecified one, is kept to 127.0.0.1.
"use strict";
const net = require("node:net");

const listen = net.Server.prototype.listen;
const ANY = new Set([undefined, null, "", "0.0.0.0", "::"]);

net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    const rest = args.slice(1);
    if (typeof rest[0] === "string") rest.shift();
    return listen.call(this, Number(first), "127.0.0.1", ...rest);
  }
  if (first && typeof first === "object" && first.path === undefined && ANY.has(first.host)) {
    return listen.call(this, { ...first, host: "127.0.0.1" }, ...args.slice(1));
  }
  return listen.apply(this, args);
};
