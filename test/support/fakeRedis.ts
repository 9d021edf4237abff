/**
 * A scripted stand-in for redis-server, for replies a real one will not send on demand (RESP3
 * attributes, blob errors, unsolicited pushes, garbage). It answers each request frame by its
 * first argument: PING → +PONG, anything else → what `script` returns for it. Replies can be
 * written one byte per write, to cut frames everywhere.
 */
import net from 'node:net';
import { parseFrames, plain } from './resp.js';
import { sleep } from './wait.js';

export interface FakeRedis {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export function startFakeRedis(script: (args: string[]) => Buffer | string, opts: { byteByByte?: boolean } = {}): Promise<FakeRedis> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let queue = Promise.resolve();
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const { values, consumed } = parseFrames(buf);
      buf = buf.subarray(consumed);
      for (const v of values) {
        const args = (plain(v) as unknown[]).map(String);
        const reply = Buffer.from(args[0]?.toLowerCase() === 'ping' ? '+PONG\r\n' : script(args));
        queue = queue.then(async () => {
          if (!opts.byteByByte) {
            s.write(reply);
            return;
          }
          for (let i = 0; i < reply.length; i++) {
            if (s.destroyed) return;
            s.write(reply.subarray(i, i + 1));
            await sleep(1);
          }
        });
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        url: `tcp://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
