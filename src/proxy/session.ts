/**
 * One client connection and its own upstream connection (1:1, as socat does it), so that
 * MULTI/EXEC, WATCH, SELECT, pub/sub, blocking commands, MONITOR, CLIENT TRACKING and RESP3 keep
 * their exact meaning. Bytes go through unchanged, whole chunks at a time; the scanners only
 * watch them go by, to pair commands with replies for the metrics and to refuse bad input the
 * way redis-server would.
 *
 * Data flows one way per direction: client socket → request scanner → matcher → upstream socket,
 * and upstream socket → reply scanner → matcher → client socket. Each direction has
 * backpressure: when one side's write buffer is full, the other side's reading pauses.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { UpstreamAddress } from '../config/address.js';
import type { ListenerSpec } from '../config/listenerContract.js';
import type { Logger } from '../log/logger.js';
import type { CommandIndex } from '../resp/commandIndex.js';
import { RespScanner, type FrameSink, type ScannerLimits } from '../resp/scanner.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { ReplyMatcher, type SpecialIds } from './replyMatcher.js';
import { connectUpstream, type ConnectHandle, type UpstreamUnreachable } from './upstreamConnector.js';

export interface SessionContext {
  readonly listener: ListenerSpec;
  readonly log: Logger;
  readonly index: CommandIndex;
  readonly ids: SpecialIds;
  /** Connection-level counters; always kept. */
  readonly stats: ListenerStats;
  /** Per-command counting (commands, latency, errors, bytes); off with AMBASSADOR_METRICS=off. */
  readonly perCommand: boolean;
  readonly limits: ScannerLimits;
  readonly connectTimeoutMs: number;
  readonly connectWindowMs: number;
  readonly maxPendingCommands: number;
  /** Where a new session connects. */
  upstream(): UpstreamAddress;
}

export const UPSTREAM_LOST_ERROR = '-ERR upstream connection lost; command may or may not have run\r\n';

// Reasons the client's reading is paused; reading resumes when none is left.
const PAUSE_UPSTREAM_FULL = 1;
const PAUSE_TOO_MANY_PENDING = 2;
const PAUSE_CONNECTING = 4;
const PAUSE_STOPPED = 8;

/** Bytes a client may send before its upstream is connected, before its reading pauses. */
const EARLY_BUFFER_LIMIT = 1024 * 1024;

export class Session {
  private upstream: net.Socket | null = null;
  private upstreamAddr: UpstreamAddress | null = null;
  private connecting: ConnectHandle | null = null;
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private readonly requests: RespScanner;
  private readonly replies: RespScanner;
  private readonly matcher: ReplyMatcher;
  private paused = 0;
  private clientEnded = false;
  private closed = false;
  private draining = false;
  /** A client protocol error, sent once the replies to its earlier commands are out. */
  private fatal: string | null = null;
  /** The chunk a scanner is reading, so a protocol error can still forward its valid prefix. */
  private feeding: Buffer | null = null;
  /** Timestamp shared by every frame of the chunk being scanned (one clock read per chunk). */
  private now = 0;
  private readonly log: Logger;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: SessionContext,
    private readonly onClosed: (s: Session) => void,
  ) {
    this.log = ctx.log;
    this.matcher = new ReplyMatcher(ctx.index, ctx.ids, ctx.perCommand ? ctx.stats : null);
    const requestSink: FrameSink = {
      onFrame: (s) => this.matcher.onRequest(s, this.now),
      onProtocolError: (message, goodEnd) => this.onClientProtocolError(message, goodEnd),
    };
    const replySink: FrameSink = {
      onFrame: (s) => this.matcher.onReply(s, this.now),
      onProtocolError: (message, goodEnd) => this.onUpstreamProtocolError(message, goodEnd),
    };
    this.requests = new RespScanner('request', requestSink, ctx.limits);
    this.replies = new RespScanner('reply', replySink, ctx.limits);
  }

  get pendingCommands(): number {
    return this.matcher.pending;
  }

  start(): void {
    const c = this.client;
    c.setNoDelay(true);
    c.setKeepAlive(true, 30_000);
    c.on('data', (chunk: Buffer) => this.onClientData(chunk));
    c.on('end', () => this.onClientEnd());
    c.on('error', (err) => this.onClientError(err));
    c.on('close', () => this.onClientClose());
    c.on('drain', () => this.upstream?.resume());
    this.connect();
  }

  /** Shutdown: read no more commands, close once the replies in flight have been delivered. */
  drain(): void {
    if (this.closed || this.draining) return;
    this.draining = true;
    this.pauseClient(PAUSE_STOPPED, true);
    if (this.matcher.pending === 0 || this.upstream === null) this.closeBoth();
  }

  /** Ends the session at once (shutdown timeout). */
  destroy(): void {
    this.connecting?.cancel();
    this.upstream?.destroy();
    this.client.destroy();
  }

  // --- client → upstream ---------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.fatal !== null || this.closed) return;
    if (this.ctx.perCommand) this.ctx.stats.bytesIn += chunk.length;
    this.now = performance.now();
    this.feeding = chunk;
    this.requests.feed(chunk);
    this.feeding = null;
    if (this.requests.failed) return; // the valid prefix was forwarded by onClientProtocolError
    this.sendUp(chunk);
    if (this.matcher.pending > this.ctx.maxPendingCommands) this.pauseClient(PAUSE_TOO_MANY_PENDING, true);
  }

  private sendUp(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const up = this.upstream;
    if (up === null) {
      this.early.push(chunk);
      this.earlyBytes += chunk.length;
      if (this.earlyBytes > EARLY_BUFFER_LIMIT) this.pauseClient(PAUSE_CONNECTING, true);
      return;
    }
    if (!up.write(chunk)) this.pauseClient(PAUSE_UPSTREAM_FULL, true);
  }

  private onClientProtocolError(message: string, goodEnd: number): void {
    // Redis answers the commands before the bad bytes, then the error, then closes: so do we.
    this.ctx.stats.clientProtocolErrors++;
    this.log.warn('client protocol error', { listener: this.ctx.listener.name, client: this.peer(), error: message });
    this.fatal = message;
    // The chunk being fed is the one holding the error; its valid prefix still goes upstream.
    const chunk = this.feeding;
    if (chunk !== null && goodEnd > 0) this.sendUp(chunk.subarray(0, goodEnd));
    this.pauseClient(PAUSE_STOPPED, true);
    this.finishIfDone();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    // Half-close, as socat does: the upstream still answers what was sent, then closes.
    if (this.upstream !== null && this.fatal === null) this.upstream.end();
  }

  private onClientError(err: Error): void {
    this.log.debug('client socket error', { listener: this.ctx.listener.name, error: err.message });
  }

  private onClientClose(): void {
    this.closed = true;
    this.connecting?.cancel();
    this.connecting = null;
    this.upstream?.destroy();
    this.early = [];
    this.onClosed(this);
  }

  private pauseClient(reason: number, on: boolean): void {
    const before = this.paused;
    this.paused = on ? before | reason : before & ~reason;
    if (before === 0 && this.paused !== 0) this.client.pause();
    else if (before !== 0 && this.paused === 0) this.client.resume();
  }

  // --- upstream → client ---------------------------------------------------------------

  private connect(): void {
    const addr = this.ctx.upstream();
    this.upstreamAddr = addr;
    this.connecting = connectUpstream(
      addr,
      {
        timeoutMs: this.ctx.connectTimeoutMs,
        windowMs: this.ctx.connectWindowMs,
        onAttemptFailed: () => this.ctx.stats.connectFailed(addr.url),
      },
      (err, socket) => {
        this.connecting = null;
        if (err !== null) this.onConnectFailed(err);
        else this.onConnected(socket!);
      },
    );
  }

  private onConnected(up: net.Socket): void {
    if (this.closed) {
      up.destroy();
      return;
    }
    this.upstream = up;
    up.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    up.on('drain', () => this.pauseClient(PAUSE_UPSTREAM_FULL, false));
    up.on('end', () => this.onUpstreamGone(null));
    up.on('error', (err) => this.onUpstreamGone(err));
    up.on('close', () => this.onUpstreamGone(null));
    this.matcher.restamp(performance.now());
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const chunk of early) this.sendUp(chunk);
    this.pauseClient(PAUSE_CONNECTING, false);
    if (this.clientEnded && this.fatal === null) up.end();
    if (this.draining && this.matcher.pending === 0) this.closeBoth();
    this.finishIfDone();
  }

  private onConnectFailed(err: UpstreamUnreachable): void {
    if (this.closed) return;
    this.log.warn('upstream unreachable', {
      listener: this.ctx.listener.name,
      upstream: err.upstream,
      attempts: err.attempts,
      elapsed_ms: err.elapsedMs,
      error: err.cause.message,
    });
    // One error per command already sent, so a pipelining client is not left waiting; at least one.
    const line = `-ERR ${oneLine(err.message)}\r\n`;
    const n = Math.max(1, this.matcher.abandonPending());
    this.client.end(line.repeat(n));
    this.client.destroySoon();
  }

  private onUpstreamData(chunk: Buffer): void {
    this.now = performance.now();
    this.feeding = chunk;
    this.replies.feed(chunk);
    this.feeding = null;
    if (this.replies.failed) return;
    if (this.ctx.perCommand) this.ctx.stats.bytesOut += chunk.length;
    if (!this.client.write(chunk)) this.upstream!.pause();
    if (this.paused & PAUSE_TOO_MANY_PENDING && this.matcher.pending <= this.ctx.maxPendingCommands >> 1) {
      this.pauseClient(PAUSE_TOO_MANY_PENDING, false);
    }
    this.finishIfDone();
    if (this.draining && this.matcher.pending === 0) this.closeBoth();
  }

  private onUpstreamProtocolError(message: string, goodEnd: number): void {
    this.ctx.stats.upstreamProtocolErrors++;
    this.log.error('upstream protocol error', {
      listener: this.ctx.listener.name,
      upstream: this.upstreamAddr?.url,
      error: message,
    });
    // What the upstream sent cannot be delimited any more, so nothing more can be answered.
    const chunk = this.feeding;
    if (chunk !== null && goodEnd > 0) this.client.write(chunk.subarray(0, goodEnd));
    this.matcher.abandonPending();
    this.upstream?.destroy();
    this.client.destroySoon();
  }

  private onUpstreamGone(err: Error | null): void {
    const up = this.upstream;
    if (up === null || this.closed) return;
    this.upstream = null;
    up.removeAllListeners();
    up.on('error', () => {});
    up.destroy();
    const pending = this.matcher.pending;
    if (err !== null || pending > 0) {
      this.log.warn('upstream connection lost', {
        listener: this.ctx.listener.name,
        upstream: this.upstreamAddr?.url,
        pending,
        error: err?.message ?? 'closed by upstream',
      });
    }
    const n = this.matcher.abandonPending();
    if (this.client.writableEnded) return; // we were closing it anyway
    // Unanswered commands each get an error, unless a reply was cut in half (then only closing is honest).
    if (n > 0 && this.replies.atBoundary && this.fatal === null) this.client.write(UPSTREAM_LOST_ERROR.repeat(n));
    if (this.fatal !== null) this.client.write(`-${this.fatal}\r\n`);
    this.client.end();
    this.client.destroySoon();
  }

  /** After a client protocol error: once earlier commands are answered, send the error and close. */
  private finishIfDone(): void {
    if (this.fatal === null || this.matcher.pending > 0) return;
    const message = this.fatal;
    this.connecting?.cancel();
    this.connecting = null;
    this.upstream?.destroy();
    this.upstream = null;
    this.client.end(`-${message}\r\n`);
    this.client.destroySoon();
  }

  private closeBoth(): void {
    this.connecting?.cancel();
    this.upstream?.end();
    this.client.end();
    this.client.destroySoon();
  }

  private peer(): string {
    return `${this.client.remoteAddress}:${this.client.remotePort}`;
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
