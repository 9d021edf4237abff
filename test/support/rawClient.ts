/**
 * A plain TCP client for byte-exact and reply-exact assertions: it keeps every byte it receives
 * and, for as long as they are RESP, where each reply ends and when it arrived (replies are
 * decoded when asked for). Plus the one-shot conversations built on it (a command, a few
 * commands, an exchange until the close), a bare socket for tests that drive the stream
 * themselves, and a connection attempt's outcome.
 */
import net from 'node:net';
import type { Cleanup } from './processes.js';
import { cmd, FrameWalker, parseFrames, plain, type RespValue } from './resp.js';
import { now, sleep } from './wait.js';

export type Arg = string | number | Buffer;

export interface Frame {
  /** now() at the data event that completed the reply. */
  readonly at: number;
  readonly r: RespValue;
}

export class RawClient {
  closed = false;
  closedAt = 0;
  /** The peer ended the stream with a FIN (an orderly close, what Redis does on CLIENT KILL). */
  ended = false;
  /** The socket error, if the connection ended with one (ECONNRESET: the peer reset it). */
  error: NodeJS.ErrnoException | null = null;
  // Every byte received, in a buffer that grows by doubling: received() is a view, never a copy.
  private bytes = Buffer.alloc(0);
  private size = 0;
  // Finding where replies end needs no decoding and no recursion: a reply nested deeper than the
  // JavaScript stack, or arriving in a thousand chunks, costs one walk over its bytes.
  private readonly walker = new FrameWalker();
  /** now() at the data event that completed each reply the walker found. */
  private readonly arrivals: number[] = [];
  private readonly decoded: Frame[] = [];
  private decodedCount = 0;
  /** Why the stream stopped being RESP (a replication stream, garbage sent on purpose); the bytes are still kept. */
  private notResp: Error | null = null;
  private readonly wake = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      const at = now();
      this.append(d);
      this.walk(at);
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

  /** Offset just past each complete reply received so far (stops where the stream stops being RESP). */
  frameEnds(): readonly number[] {
    return this.walker.ends;
  }

  /**
   * The replies received so far, decoded, with their arrival times; throws if what arrived is not
   * RESP. A test that only counts may empty it (frames.length = 0) to keep memory flat; later
   * replies are appended as before.
   */
  get frames(): Frame[] {
    this.assertResp();
    const ends = this.walker.ends;
    for (; this.decodedCount < ends.length; this.decodedCount++) this.decoded.push(this.frameAt(this.decodedCount));
    return this.decoded;
  }

  /** Every reply received so far, decoded anew (frames, which a test may empty, is not); throws if what arrived is not RESP. */
  replies(): RespValue[] {
    this.assertResp();
    return this.walker.ends.map((_, k) => this.frameAt(k).r);
  }

  /** Raw bytes; resolves once they are handed to the kernel. May be left unawaited: a failed write shows as `error` and the close. */
  write(data: string | Buffer): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
    written.catch(() => {});
    return written;
  }

  /**
   * Writes `data` cut into pieces of the given sizes, cycling through them, each its own write
   * (with a pause now and then, so the pieces reach the peer as separate segments).
   */
  async writeInPieces(data: Buffer, pieces: readonly number[]): Promise<void> {
    let at = 0;
    let k = 0;
    while (at < data.length) {
      const n = pieces[k++ % pieces.length]!;
      await this.write(data.subarray(at, at + n));
      at += n;
      if (k % 8 === 0) await sleep(1);
    }
  }

  /** One command, not waited for: its reply is looked for with until() or the frames. */
  send(...args: Arg[]): void {
    void this.write(cmd(...args));
  }

  /**
   * Sends a command and resolves with its reply: the first reply after those already received,
   * so every earlier command's reply must have arrived.
   */
  async call(args: Arg[], timeoutMs = 15_000): Promise<RespValue> {
    return (await this.callTimed(args, timeoutMs)).r;
  }

  async callTimed(args: Arg[], timeoutMs = 15_000): Promise<Frame> {
    const k = this.walker.ends.length;
    this.send(...args);
    await this.waitForFrames(k + 1, timeoutMs, `reply to ${String(args[0])}`);
    return this.frameAt(k);
  }

  /** The k-th reply received (from 0), decoded. */
  replyAt(k: number): RespValue {
    return this.frameAt(k).r;
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

  /** Resolves once `n` replies in all have arrived (without decoding them); rejects at once if the stream is not RESP or closes first. */
  waitForFrames(n: number, timeoutMs = 10_000, what = `${n} replies`): Promise<void> {
    return this.until(
      () => {
        this.assertResp();
        return this.walker.ends.length >= n;
      },
      () => `${what} (${this.walker.ends.length} so far)`,
      timeoutMs,
    );
  }

  async waitForReplies(n: number, timeoutMs = 10_000): Promise<RespValue[]> {
    await this.waitForFrames(n, timeoutMs);
    return this.replies();
  }

  waitClosed(timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.closed, 'connection closed', timeoutMs);
  }

  /** What arrived, for failure messages: the last replies, or the first bytes where they are not RESP. */
  describe(): string {
    const n = this.walker.ends.length;
    if (this.notResp === null && n > 0) {
      try {
        return JSON.stringify(Array.from({ length: Math.min(n, 8) }, (_, i) => plain(this.frameAt(n - Math.min(n, 8) + i).r))).slice(0, 800);
      } catch {
        // too deep to decode: the bytes will do
      }
    }
    return JSON.stringify(this.received().subarray(0, 400).toString('latin1'));
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

  private walk(at: number): void {
    if (this.notResp !== null) return;
    try {
      this.walker.walk(this.received());
    } catch (e) {
      this.notResp = e as Error;
    }
    while (this.arrivals.length < this.walker.ends.length) this.arrivals.push(at);
  }

  private frameAt(k: number): Frame {
    const ends = this.walker.ends;
    const r = parseFrames(this.received().subarray(k === 0 ? 0 : ends[k - 1], ends[k])).values[0]!;
    return { at: this.arrivals[k]!, r };
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
