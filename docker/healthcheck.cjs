// HEALTHCHECK for the redis-ambassador image: GET /healthz on the admin endpoint.
// node:*-slim images have no curl/wget, so this runs with the image's own node.
// Reads the same AMBASSADOR_ADMIN_ADDR the app reads; a wildcard host is probed on loopback.
// Exit 0 = healthy, 1 = unhealthy (Docker's contract).
'use strict';
const addr = process.env.AMBASSADOR_ADMIN_ADDR || '0.0.0.0:9736';
if (addr === 'off') process.exit(0); // no admin endpoint: nothing to probe, the process is alive
const i = addr.lastIndexOf(':');
const port = Number(addr.slice(i + 1));
let host = addr.slice(0, i).replace(/^\[(.*)\]$/, '$1');
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const req = require('node:http').get({ host, port, path: '/healthz', timeout: 2500 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => { req.destroy(); process.exit(1); });
req.on('error', () => process.exit(1));
