/**
 * Raw-byte conversations with a real redis-server, used by unit tests as the oracle for what
 * Redis itself answers (protocol error texts, inline argument splitting, reply streams).
 */
import net from 'node:net';
import { startRedis, type RedisServer } from '../support/redisServer.js';

export { startRedis, type RedisServer };

export interface ExchangeOptions {
  /** Resolve once the bytes received so far satisfy this (then wait `quietMs` for extras). */
  until?: (got: Buffer) => boolean;
  /** After `until` holds, keep listening this long so unexpected extra bytes are caught. */
  quietMs?: number;
  /** Give up waiting after this long and return what arrived (a silent server returns ""). */
  timeoutMs?: number;
}

/** Opens a connection, writes `bytes`, returns everything read until done, closed or timed out. */
export function exchange(port: number, bytes: Buffer | string, opts: ExchangeOptions = {}): Promise<Buffer> {
  const { until, quietMs = 0, timeoutMs = 2000 } = opts;
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const parts: Buffer[] = [];
    let finished = false;
    let quietTimer: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (quietTimer !== null) clearTimeout(quietTimer);
      s.destroy();
      resolve(Buffer.concat(parts));
    };
    const timer = setTimeout(finish, timeoutMs);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      if (until !== undefined && quietTimer === null && until(Buffer.concat(parts))) {
        quietTimer = setTimeout(finish, quietMs);
      }
    });
    s.on('close', finish);
    s.on('error', (err: NodeJS.ErrnoException) => {
      // A server that closes on a protocol error may reset the connection while we still write.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish();
      else if (!finished) {
        finished = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    s.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

/** A persistent raw connection for multi-step conversations (pub/sub with a second client). */
export class RawConnection {
  private readonly parts: Buffer[] = [];
  private received = 0;
  private waiters: { n: number; resolve: () => void }[] = [];
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.parts.push(d);
      this.received += d.length;
      this.waiters = this.waiters.filter((w) => {
        if (this.received >= w.n) w.resolve();
        return this.received < w.n;
      });
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Waits until at least `n` bytes in total have arrived (or `timeoutMs` passed). */
  waitFor(n: number, timeoutMs = 2000): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  close(): void {
    this.socket.destroy();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
