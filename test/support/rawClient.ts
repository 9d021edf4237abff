/**
 * A plain TCP client for byte-exact and reply-exact assertions: it keeps every byte it receives
 * and, for as long as they are RESP, every reply decoded with the time it arrived. Plus the
 * one-shot conversations built on it (a command, a few commands, an exchange until the close)
 * and a bare socket for tests that drive the stream themselves.
 */
import net from 'node:net';
import type { Cleanup } from './processes.js';
import { cmd, parseFrames, plain, type RespValue } from './resp.js';
import { now, sleep } from './wait.js';

export type Arg = string | number | Buffer;

export interface Frame {
  /** now() at the data event that completed the reply. */
  readonly at: number;
  readonly r: RespValue;
}

export class RawClient {
  /** The replies decoded so far, in order. A test that only counts may empty it (frames.length = 0) to keep memory flat. */
  readonly frames: Frame[] = [];
  closed = false;
  closedAt = 0;
  /** The peer ended the stream with a FIN (an orderly close, what Redis does on CLIENT KILL). */
  ended = false;
  /** The socket error, if the connection ended with one (ECONNRESET: the peer reset it). */
  error: NodeJS.ErrnoException | null = null;
  // Every byte received, in a buffer that grows by doubling: received() is a view, never a copy.
  private bytes = Buffer.alloc(0);
  private size = 0;
  private decoded = 0;
  /** Why the stream stopped being RESP (a replication stream, garbage sent on purpose); the bytes are still kept. */
  private notResp: Error | null = null;
  private nextReply = 0;
  private readonly wake = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      const at = now();
      this.append(d);
      this.decode(at);
      this.notify();
    });
    socket.on('end', () => (this.ended = true));
    socket.on('error', (e: NodeJS.ErrnoException) => (this.error = e));
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = now();
      this.notify();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      // No Nagle: every write leaves when it is made, so a frame split over writes arrives split.
      const s = net.connect({ port, host, noDelay: true });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
    });
  }

  get length(): number {
    return this.size;
  }

  received(): Buffer {
    return this.bytes.subarray(0, this.size);
  }

  text(): string {
    return this.received().toString('latin1');
  }

  /** The replies decoded so far; throws if what arrived is not RESP. */
  replies(): RespValue[] {
    this.assertResp();
    return this.frames.map((f) => f.r);
  }

  /** Raw bytes; resolves once they are handed to the kernel. May be left unawaited: a failed write shows as `error` and the close. */
  write(data: string | Buffer): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
    written.catch(() => {});
    return written;
  }

  /** One command, not waited for: its reply is looked for with until() or the frames. */
  send(...args: Arg[]): void {
    void this.write(cmd(...args));
  }

  /** Sends a command and resolves with the reply that answers it: the n-th reply for the n-th call. */
  async call(args: Arg[], timeoutMs = 15_000): Promise<RespValue> {
    return (await this.callTimed(args, timeoutMs)).r;
  }

  async callTimed(args: Arg[], timeoutMs = 15_000): Promise<Frame> {
    const index = this.nextReply++;
    this.send(...args);
    await this.until(() => this.frames.length > index, `reply to ${String(args[0])}`, timeoutMs);
    return this.frames[index]!;
  }

  /** Moves call()'s reply counter (after replies that answer no call(), e.g. pub/sub messages). */
  expectReplyAt(index: number): void {
    this.nextReply = index;
  }

  /**
   * Resolves when `pred` holds, checked now, on every data event and on the close; rejects when
   * the connection closes first, or after `timeoutMs`.
   */
  until(pred: () => boolean, what: string | (() => string), timeoutMs = 15_000): Promise<void> {
    const name = (): string => (typeof what === 'function' ? what() : what);
    return new Promise((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.wake.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        try {
          if (pred()) finish();
          else if (this.closed) finish(new Error(`connection closed while waiting for ${name()}; got ${this.describe()}`));
        } catch (e) {
          finish(e as Error);
        }
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${name()}; got ${this.describe()}`)), timeoutMs);
      this.wake.add(check);
      check();
    });
  }

  async waitForBytes(pred: (buf: Buffer) => boolean, what: string, timeoutMs = 10_000): Promise<Buffer> {
    await this.until(() => pred(this.received()), what, timeoutMs);
    return this.received();
  }

  async waitForReplies(n: number, timeoutMs = 10_000): Promise<RespValue[]> {
    await this.until(
      () => {
        this.assertResp();
        return this.frames.length >= n;
      },
      () => `${n} replies (${this.frames.length} so far)`,
      timeoutMs,
    );
    return this.replies();
  }

  waitClosed(timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.closed, 'connection closed', timeoutMs);
  }

  /** What arrived, for failure messages: the last replies, or the first bytes where they are not RESP. */
  describe(): string {
    if (this.notResp !== null || this.frames.length === 0) return JSON.stringify(this.received().subarray(0, 400).toString('latin1'));
    return JSON.stringify(this.frames.slice(-8).map((f) => plain(f.r))).slice(0, 800);
  }

  close(): void {
    this.socket.destroy();
  }

  private append(d: Buffer): void {
    if (this.size + d.length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.size + d.length, 16 * 1024));
      this.bytes.copy(grown, 0, 0, this.size);
      this.bytes = grown;
    }
    d.copy(this.bytes, this.size);
    this.size += d.length;
  }

  private decode(at: number): void {
    if (this.notResp !== null) return;
    try {
      const { values, consumed } = parseFrames(this.received().subarray(this.decoded));
      this.decoded += consumed;
      for (const r of values) this.frames.push({ at, r });
    } catch (e) {
      this.notResp = e as Error;
    }
  }

  private assertResp(): void {
    if (this.notResp !== null) throw this.notResp;
  }

  private notify(): void {
    for (const w of [...this.wake]) w();
  }
}

/** A RawClient closed at teardown. */
export async function openClient(cleanup: Cleanup, port: number, host?: string): Promise<RawClient> {
  return cleanup.add(await RawClient.connect(port, host), (c) => c.close());
}

/** Runs commands one after another on a new connection and returns their replies. */
export async function direct(port: number, ...commands: Arg[][]): Promise<RespValue[]> {
  const c = await RawClient.connect(port);
  try {
    const out: RespValue[] = [];
    for (const args of commands) out.push(await c.call(args, 10_000));
    return out;
  } finally {
    c.close();
  }
}

/** One command on a new connection; its reply as plain values. */
export async function call(port: number, ...args: Arg[]): Promise<unknown> {
  const [r] = await direct(port, args);
  return plain(r!);
}

/**
 * Writes `data` in one write on a new connection and waits for `until` replies, or for the
 * server to close it; then `quietMs` more, so that anything extra would have arrived too.
 * Returns the client, closed.
 */
export async function exchange(
  port: number,
  data: string | Buffer,
  until: number | 'close',
  opts: { timeoutMs?: number; quietMs?: number } = {},
): Promise<RawClient> {
  const c = await RawClient.connect(port);
  try {
    // A server that closes on bad input may reset the connection before the write is done.
    await c.write(data).catch(() => {});
    if (until === 'close') await c.waitClosed(opts.timeoutMs);
    else await c.waitForReplies(until, opts.timeoutMs);
    if (opts.quietMs !== undefined) await sleep(opts.quietMs);
    return c;
  } finally {
    c.close();
  }
}

/** Sends `data` on a new connection and returns everything received until the server closes it. */
export async function exchangeUntilClose(port: number, data: string | Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return (await exchange(port, data, 'close', { timeoutMs })).received();
}

/** A bare connected socket, its later errors ignored: for tests that pause, flood or cut the stream themselves. */
export function openSocket(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    s.once('error', reject);
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}
