#!/usr/bin/env node
// Plain Node pipe relay: the ceiling for any Node proxy that forwards bytes.
// usage: node bench/relay.mjs <listenPort> <upstreamPort> [upstreamHost]
import net from 'node:net';

const [listenPort, upstreamPort, upstreamHost = '127.0.0.1'] = process.argv.slice(2);
if (!listenPort || !upstreamPort) {
  console.error('usage: relay.mjs <listenPort> <upstreamPort> [upstreamHost]');
  process.exit(2);
}

const server = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = net.connect({ port: Number(upstreamPort), host: upstreamHost });
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(Number(listenPort), '127.0.0.1', () => {
  if (process.send) process.send('ready');
});
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
