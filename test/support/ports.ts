/** Loopback ports: a free one, whether one accepts, and waiting until one does. */
import net from 'node:net';
import { waitUntil } from './wait.js';

/** A TCP port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** How a connection attempt to `port` fails (its code, ECONNREFUSED when nothing listens), or null when it connects. */
export function connectError(port: number, host = '127.0.0.1'): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(null);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  await waitUntil(async () => (await connectError(port, host)) === null, {
    timeoutMs,
    intervalMs: 25,
    what: `something listening on ${host}:${port}`,
  });
}
