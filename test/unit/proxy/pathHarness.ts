/**
 * What RequestPath and ReplyPath are wired to in a session, for their unit tests: the real
 * ReplyMatcher and ConnectionState, a recording UpstreamLink (a test double for the interface),
 * a real loopback socket pair for the client side, and the events recorded as they come.
 * The harness plays no part of the session beyond recording; a test that needs the session's
 * reaction to an event (say, replicating after onReplicationStarted) supplies it.
 */
import type { HotKeys } from '../../../src/observe/hotKeys.js';
import type { SlowLog } from '../../../src/observe/slowLog.js';
import net from 'node:net';
import type { Limits } from '../../../src/config/settings.js';
import { REDIS_DEFAULT_LIMITS } from '../../../src/config/settings.js';
import { Logger } from '../../../src/log/logger.js';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { ConnectionState } from '../../../src/proxy/connectionState.js';
import type { ListenerRuntime } from '../../../src/proxy/listenerRuntime.js';
import { ReplyMatcher } from '../../../src/proxy/replyMatcher.js';
import { ReplyPath, type ReplyEvents } from '../../../src/proxy/replyPath.js';
import type { RequestGate } from '../../../src/proxy/requestGate.js';
import { RequestPath, type RequestEvents } from '../../../src/proxy/requestPath.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import type { UpstreamLink } from '../../../src/upstream/upstreamLink.js';
import { cutAt, oneByteChunks } from '../../support/chunks.js';
import { waitUntil } from '../../support/wait.js';

/** An UpstreamLink that keeps what it is given. */
export class RecordingLink implements UpstreamLink {
  readonly wholeFrames = false;
  readonly replyCut = false;
  /** Every send() while open, in order, copied (the caller may reuse its buffers). */
  readonly sends: Buffer[] = [];
  /** What was sent after close(): a real link drops it. */
  readonly sentAfterClose: Buffer[] = [];
  closed = false;
  pauses = 0;
  resumes = 0;
  restoring = false;
  live = true;
  url: string | null = 'tcp://upstream.test:6379';

  start(): void {}
  send(bytes: Buffer): void {
    (this.closed ? this.sentAfterClose : this.sends).push(Buffer.from(bytes));
  }
  restored(): void {}
  pauseReplies(): void {
    this.pauses++;
  }
  resumeReplies(): void {
    this.resumes++;
  }
  end(): void {}
  reconnect(): void {}
  retryLater(): void {}
  retarget(): void {}
  discardHeld(): void {}
  close(): void {
    this.closed = true;
  }

  /** Everything sent while open, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.sends);
  }
  text(): string {
    return this.bytes().toString('latin1');
  }
  /** The sends that carried bytes (empty ones are harmless: a real link drops them). */
  nonEmpty(): Buffer[] {
    return this.sends.filter((b) => b.length > 0);
  }
}

/** Both ends of a loopback TCP connection: the path writes to `near`, the test reads `far`. */
export class SocketPair {
  private readonly chunks: Buffer[] = [];
  private total = 0;
  private consumed = 0;

  private constructor(
    readonly near: net.Socket,
    readonly far: net.Socket,
  ) {
    far.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.total += d.length;
    });
  }

  static async open(): Promise<SocketPair> {
    // A server of our own on a kernel-chosen port: nothing else can take it in between.
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as net.AddressInfo;
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const far = net.connect({ port, host: '127.0.0.1' });
    const [near] = await Promise.all([accepted, new Promise<void>((resolve) => far.once('connect', () => resolve()))]);
    server.close();
    near.setNoDelay(true);
    return new SocketPair(near, far);
  }

  /** Everything the client side received so far. */
  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Waits for the next `n` bytes the client side receives and returns them. */
  async take(n: number, what = `${n} bytes`): Promise<Buffer> {
    const from = this.consumed;
    await waitUntil(() => this.total >= from + n, {
      timeoutMs: 5000,
      intervalMs: 2,
      what: () => `${what}; got ${JSON.stringify(this.received().toString('latin1', from))}`,
    });
    this.consumed = from + n;
    return this.received().subarray(from, from + n);
  }

  /**
   * Waits until `expected` has arrived since the last take, then proves nothing else came: a
   * marker written on the same socket afterwards must be the very next thing received.
   */
  async expectExactly(expected: string | Buffer, what = 'the client side'): Promise<void> {
    const want = typeof expected === 'string' ? Buffer.from(expected, 'latin1') : expected;
    const marker = Buffer.from('\u0000end-of-expected\u0000', 'latin1');
    this.near.write(marker);
    const got = await this.take(want.length + marker.length, `${what}: ${JSON.stringify(want.toString('latin1'))} then the marker`);
    if (!got.equals(Buffer.concat([want, marker]))) {
      throw new Error(`${what}: expected ${JSON.stringify(want.toString('latin1'))}, got ${JSON.stringify(got.toString('latin1'))}`);
    }
  }

  /** Waits for everything written so far to arrive, and skips it. */
  async skipWritten(): Promise<void> {
    const written = this.near.bytesWritten;
    await waitUntil(() => this.total >= written, { timeoutMs: 10_000, intervalMs: 2, what: `${written} bytes written to the client side` });
    this.consumed = this.total;
  }

  close(): void {
    this.near.destroy();
    this.far.destroy();
  }
}

export interface HarnessOptions {
  gate?: RequestGate | null;
  maxPendingCommands?: number;
  limits?: Limits;
  perCommand?: boolean;
  /** The slow log and hot keys the runtime carries (off unless given). */
  slowLog?: SlowLog;
  hotKeys?: HotKeys;
  /** Reactions to events beyond recording them (the session's part, where a test needs it). */
  onReplicationStarted?: (h: Harness) => void;
  onClientProtocolError?: (h: Harness, message: string) => void;
  onRefusedInReplication?: (h: Harness, cmd: number) => void;
}

/** One session's paths, wired as session.ts wires them, with everything they report recorded. */
export class Harness {
  readonly stats = new ListenerStats('test:1', TRAITS.size);
  readonly logs: string[] = [];
  readonly runtime: ListenerRuntime;
  readonly state = new ConnectionState();
  readonly matcher: ReplyMatcher;
  readonly link = new RecordingLink();
  readonly replies: ReplyPath;
  readonly requests: RequestPath;
  /** Everything the paths and the matcher reported, in order. */
  readonly events: string[] = [];
  readonly clientProtocolErrors: string[] = [];
  readonly upstreamProtocolErrors: string[] = [];
  readonly refusedInReplication: number[] = [];
  readonly replayAnswers: (string | null)[] = [];
  readonly trouble: string[] = [];
  tooManyPending = 0;
  replicationStarted = 0;
  afterReplies = 0;

  constructor(
    readonly client: SocketPair,
    opts: HarnessOptions = {},
  ) {
    this.runtime = {
      name: 'test:1',
      log: new Logger('debug', (line) => this.logs.push(line)),
      stats: this.stats,
      perCommand: opts.perCommand ?? true,
      settings: {
        limits: opts.limits ?? REDIS_DEFAULT_LIMITS,
        maxPendingCommands: opts.maxPendingCommands ?? 100_000,
        idleTimeoutMs: 0,
        tcpKeepaliveMs: 0,
        onUpstreamLoss: 'reconnect',
        connectWindowMs: 1000,
        unavailableWaitMs: 1000,
        sharedMaxFrameBytes: 1024 * 1024,
        clientOutputLimitBytes: 64 * 1024 * 1024,
      },
      upstreamAuth: null,
      sharedPool: null,
      slowLog: opts.slowLog ?? null,
      hotKeys: opts.hotKeys ?? null,
      cluster: null,
    };
    this.matcher = new ReplyMatcher(
      this.runtime.perCommand ? this.stats : null,
      this.state,
      (code) => this.trouble.push(code),
      (refusal) => this.replayAnswers.push(refusal),
      opts.slowLog?.forSession('test:1', () => '127.0.0.1:5000', () => this.state.clientName) ?? null,
    );
    const replyEvents: ReplyEvents = {
      onUpstreamProtocolError: (message) => {
        this.events.push(`upstream protocol error: ${message}`);
        this.upstreamProtocolErrors.push(message);
      },
      onReplicationStarted: () => {
        this.events.push('replication started');
        this.replicationStarted++;
        opts.onReplicationStarted?.(this);
      },
      afterReplies: () => {
        this.afterReplies++;
      },
    };
    const requestEvents: RequestEvents = {
      onClientProtocolError: (message) => {
        this.events.push(`client protocol error: ${message}`);
        this.clientProtocolErrors.push(message);
        opts.onClientProtocolError?.(this, message);
      },
      onRefusedInReplication: (cmd) => {
        this.events.push(`refused in replication: ${TRAITS.names[cmd]}`);
        this.refusedInReplication.push(cmd);
        opts.onRefusedInReplication?.(this, cmd);
      },
      onTooManyPending: () => {
        this.events.push('too many pending');
        this.tooManyPending++;
      },
      // Dedicated links only: nothing pins and QUIT goes upstream.
      onPin: (reason) => this.events.push(`pinned: ${reason}`),
      onQuit: () => this.events.push('quit answered here'),
    };
    const holder = { link: this.link };
    this.replies = new ReplyPath(client.near, this.runtime, this.matcher, this.state, holder, replyEvents);
    this.requests = new RequestPath(this.runtime, opts.gate ?? null, this.matcher, this.state, holder, this.replies, requestEvents);
  }

  // A socket never delivers an empty chunk, so neither does the harness.

  /** Client bytes in the chunks given, each handled as it would arrive from the client's socket. */
  send(...chunks: (string | Buffer)[]): this {
    for (const c of chunks) if (c.length > 0) this.requests.onData(typeof c === 'string' ? Buffer.from(c, 'latin1') : c, 0);
    return this;
  }

  /** Upstream bytes in the chunks given. */
  recv(...chunks: (string | Buffer)[]): this {
    for (const c of chunks) if (c.length > 0) this.replies.onUpstreamData(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
    return this;
  }

  commands(label: string): number {
    return this.stats.commands[label === 'unknown' ? 0 : TRAITS.idOf(label)]!;
  }
}

/** Every way to cut `bytes` in two (whole, at k = 0, included), then one byte at a time. */
export function splits(bytes: string | Buffer): Buffer[][] {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const out: Buffer[][] = [];
  for (let k = 0; k < b.length; k++) out.push(cutAt(b, [k]).filter((c) => c.length > 0));
  out.push(oneByteChunks(b));
  return out;
}

/** How a split reads in a failure message. */
export function describeSplit(chunks: Buffer[]): string {
  return chunks.map((c) => JSON.stringify(c.toString('latin1'))).join(' | ');
}
