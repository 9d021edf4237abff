/** A plain TCP client that records every byte it receives, for byte-exact assertions. */
import net from 'node:net';
import { cmd, FrameWalker, parseFrames, type RespValue } from './resp.js';
import { sleep, waitUntil } from './wait.js';

export class RawClient {
  private chunks: Buffer[] = [];
  private total = 0;
  private readonly walker = new FrameWalker();
  closed = false;
  error: Error | null = null;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.total += d.length;
    });
    socket.on('error', (e) => (this.error = e));
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
    });
  }

  get length(): number {
    return this.total;
  }

  received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  text(): string {
    return this.received().toString('latin1');
  }

  /** Decoded complete replies so far. */
  replies(): RespValue[] {
    return parseFrames(this.received()).values;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  async waitForBytes(pred: (buf: Buffer) => boolean, what: string, timeoutMs = 10_000): Promise<Buffer> {
    await waitUntil(() => pred(this.received()), { timeoutMs, what: () => `${what}; got ${JSON.stringify(this.text().slice(0, 400))}` });
    return this.received();
  }

  async waitForReplies(n: number, timeoutMs = 10_000): Promise<RespValue[]> {
    await waitUntil(() => this.replies().length >= n, {
      timeoutMs,
      what: () => `${n} replies; got ${this.replies().length}: ${JSON.stringify(this.text().slice(0, 400))}`,
    });
    return this.replies();
  }

  /**
   * Offset just past each complete reply frame received so far. Unlike replies(), it never
   * decodes, so it copes with replies nested deeper than the JavaScript stack and is cheap to ask
   * after every chunk of a large reply.
   */
  frameEnds(): readonly number[] {
    // Joining the chunks of a multi-megabyte reply after each one would copy it over and over.
    if (this.total < this.walker.needed) return this.walker.ends;
    return this.walker.walk(this.received());
  }

  /** Resolves once `n` complete frames have arrived; rejects at once if the peer closes first. */
  waitForFrames(n: number, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const describe = () => `${n} reply frames; got ${this.frameEnds().length} in ${this.total} bytes, ending ${JSON.stringify(this.text().slice(-200))}`;
      const check = () => {
        if (this.frameEnds().length >= n) finish();
        else if (this.closed) finish(new Error(`connection closed while waiting for ${describe()}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`)), timeoutMs);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.socket.off('data', check);
        this.socket.off('close', check);
        if (err) reject(err);
        else resolve();
      };
      // Registered after the constructor's listeners, so the chunk is already recorded.
      this.socket.on('data', check);
      this.socket.on('close', check);
      check();
    });
  }

  /** Sends one command and resolves with its decoded reply (for a connection used only this way). */
  async request(...args: (string | number | Buffer)[]): Promise<RespValue> {
    const k = this.frameEnds().length;
    await this.write(cmd(...args));
    await this.waitForFrames(k + 1);
    const ends = this.frameEnds();
    return parseFrames(this.received().subarray(k === 0 ? 0 : ends[k - 1], ends[k])).values[0]!;
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

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => this.closed, { timeoutMs, what: () => `connection closed; got ${JSON.stringify(this.text().slice(0, 400))}` });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends `data` on a new connection and returns everything received until the server closes it. */
export async function exchangeUntilClose(port: number, data: string | Buffer, timeoutMs = 10_000): Promise<Buffer> {
  const c = await RawClient.connect(port);
  try {
    await c.write(data).catch(() => {});
    await c.waitClosed(timeoutMs);
    return c.received();
  } finally {
    c.close();
  }
}
