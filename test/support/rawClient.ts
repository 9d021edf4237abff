/** A plain TCP client that records every byte it receives, for byte-exact assertions. */
import net from 'node:net';
import { parseFrames, type RespValue } from './resp.js';
import { waitUntil } from './wait.js';

export class RawClient {
  private chunks: Buffer[] = [];
  private total = 0;
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
