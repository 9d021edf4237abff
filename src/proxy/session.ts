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
 *
 * When the upstream connection is lost (or the listener's master moves), the client connection
 * stays open: every command in flight gets an error (it may or may not have run; it is never
 * retried), a new upstream connection is made, the client's connection state is replayed on it
 * (SessionState) and the client's next commands go there. AMBASSADOR_ON_UPSTREAM_LOSS=close
 * closes the client instead, as socat does.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { UpstreamAddress } from '../config/address.js';
import type { ListenerSpec } from '../config/listenerContract.js';
import type { Logger } from '../log/logger.js';
import type { CommandIndex } from '../resp/commandIndex.js';
import { decodeCommand } from '../resp/commandCodec.js';
import { RespScanner, type FrameSink, type ScannerLimits } from '../resp/scanner.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { ReplyMatcher, type SpecialIds } from './replyMatcher.js';
import { SessionState, TRANSACTION_POISON, type StateIds } from './sessionState.js';
import type { RejectReason, RequestGate, Verdict } from './requestGate.js';
import { connectUpstream, type ConnectHandle, type UpstreamUnreachable } from './upstreamConnector.js';
import type { TlsSettings } from './upstreamSocket.js';

export interface SessionContext {
  readonly listener: ListenerSpec;
  readonly log: Logger;
  readonly index: CommandIndex;
  readonly ids: SpecialIds;
  readonly stateIds: StateIds;
  /** Connection-level counters; always kept. */
  readonly stats: ListenerStats;
  /** Per-command counting (commands, latency, errors, bytes); off with AMBASSADOR_METRICS=off. */
  readonly perCommand: boolean;
  readonly limits: ScannerLimits;
  readonly connectTimeoutMs: number;
  readonly connectWindowMs: number;
  readonly unavailableWaitMs: number;
  readonly maxPendingCommands: number;
  readonly onUpstreamLoss: 'reconnect' | 'close';
  readonly tcpKeepaliveMs: number;
  readonly tls: TlsSettings | null;
  /** Close clients idle this long (0: never); pub/sub clients and blocked commands are not idle. */
  readonly idleTimeoutMs: number;
  /** Where sessions connect now (null while no master is known). */
  upstream(): UpstreamAddress | null;
  /** Tell the listener's selector that this session saw the upstream fail or stop being master. */
  suspect(reason: string): void;
  /** A gate for a new session when AMBASSADOR_REQUIREPASS or a command policy is set, else null. */
  newGate(): RequestGate | null;
  /** Count a command the ambassador refused itself. */
  rejected(cmd: number, reason: RejectReason): void;
  /** Commands written first on every new upstream connection (the ambassador's own AUTH). */
  readonly upstreamPreamble: readonly { readonly bytes: Buffer; readonly cmd: number }[];
}

export const UPSTREAM_LOST_ERROR = '-ERR upstream connection lost; command may or may not have run\r\n';
const UPSTREAM_LOST = Buffer.from(UPSTREAM_LOST_ERROR);
const FORWARD: Verdict = { kind: 'forward' };
const TOO_LARGE_TO_CHECK: Verdict = {
  kind: 'local',
  reply: Buffer.from('-ERR command too large for the ambassador to check (over 1 MB before its arguments were known)\r\n'),
  reason: 'policy',
};

// Reasons the client's reading is paused; reading resumes when none is left.
const PAUSE_UPSTREAM_FULL = 1;
const PAUSE_TOO_MANY_PENDING = 2;
const PAUSE_NO_UPSTREAM = 4;
const PAUSE_STOPPED = 8;

/** Bytes a client may send while it has no upstream, before its reading pauses. */
const EARLY_BUFFER_LIMIT = 1024 * 1024;
/** Largest partial request kept to recover a state command's arguments (SUBSCRIBE to many channels). */
const PARTIAL_FRAME_LIMIT = 1024 * 1024;

const PHASE_CONNECTING = 0; // first connection
const PHASE_CONNECTED = 1;
const PHASE_RECONNECTING = 2;
const PHASE_CLOSED = 3;

export class Session {
  private upstream: net.Socket | null = null;
  private upstreamAddr: UpstreamAddress | null = null;
  private connecting: ConnectHandle | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private phase = PHASE_CONNECTING;
  /** Client bytes waiting for an upstream connection. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private readonly requests: RespScanner;
  private replies: RespScanner;
  private readonly matcher: ReplyMatcher;
  private readonly state: SessionState;
  private paused = 0;
  private clientEnded = false;
  private quitting = false;
  private draining = false;
  /** A client protocol error, sent once the replies to its earlier commands are out. */
  private fatal: string | null = null;
  /** Timestamp shared by every frame of the chunk being scanned (one clock read per chunk). */
  private now = 0;
  // Request side: the chunk being scanned, how much of it is already sent, where its last frame ended,
  // and the bytes of a frame begun in earlier chunks (to decode state commands).
  private reqChunk: Buffer | null = null;
  private reqSent = 0;
  private reqFrameStart = 0;
  private reqPartial: Buffer[] | null = [];
  private reqPartialBytes = 0;
  // With a gate: the fate of the frame in progress, and whether its bytes so far were held back.
  private readonly gate: RequestGate | null;
  private verdict: Verdict | 'wait' | null = null;
  private holding = false;
  // Reply side, frame by frame while replies to replayed commands are due: what is not sent yet.
  private replyChunk: Buffer | null = null;
  private replyByFrame = false;
  private replySent = 0;
  private replyHeld: Buffer | null = null;
  private readonly log: Logger;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: SessionContext,
    private readonly onClosed: (s: Session) => void,
  ) {
    this.log = ctx.log;
    this.gate = ctx.newGate();
    this.state = new SessionState(ctx.stateIds);
    this.matcher = new ReplyMatcher(ctx.ids, ctx.perCommand ? ctx.stats : null, this.state, (code) =>
      ctx.suspect(`a client got -${code}`),
    );
    const requestSink: FrameSink = {
      onFrame: (s, end) => this.onRequestFrame(s, end),
      onProtocolError: (message, goodEnd) => this.onClientProtocolError(message, goodEnd),
    };
    if (this.gate !== null) requestSink.onCommandName = (s) => this.onCommandName(s);
    requestSink.tokensWanted = (s) => ctx.index.tokensWanted(s);
    this.requests = new RespScanner('request', requestSink, ctx.limits);
    this.replies = this.newReplyScanner();
  }

  get pendingCommands(): number {
    return this.matcher.clientPending;
  }

  start(): void {
    const c = this.client;
    c.setNoDelay(true);
    if (this.ctx.tcpKeepaliveMs > 0) c.setKeepAlive(true, this.ctx.tcpKeepaliveMs);
    if (this.ctx.idleTimeoutMs > 0) {
      c.setTimeout(this.ctx.idleTimeoutMs);
      c.on('timeout', () => {
        // As Redis: a subscriber or a client waiting for a reply is not idle.
        if (this.matcher.subscribed || this.matcher.monitoring || this.state.subscriptions > 0 || this.matcher.clientPending > 0) return;
        this.log.debug('idle client closed', { listener: this.ctx.listener.name, client: this.peer() });
        this.destroy();
      });
    }
    c.on('data', (chunk: Buffer) => this.onClientData(chunk));
    c.on('end', () => this.onClientEnd());
    c.on('error', (err) => this.onClientError(err));
    c.on('close', () => this.onClientClose());
    c.on('drain', () => this.upstream?.resume());
    this.connect(this.ctx.connectWindowMs);
  }

  /** Shutdown: read no more commands, close once the replies in flight have been delivered. */
  drain(): void {
    if (this.phase === PHASE_CLOSED || this.draining) return;
    this.draining = true;
    this.pauseClient(PAUSE_STOPPED, true);
    if (this.matcher.clientPending === 0 || this.phase !== PHASE_CONNECTED) this.closeBoth();
  }

  /** Ends the session at once (shutdown timeout). */
  destroy(): void {
    this.stopConnecting();
    this.upstream?.destroy();
    this.client.destroy();
  }

  /** The listener's master changed: a session on another upstream moves to it. */
  upstreamChanged(reason: string): void {
    if (this.phase === PHASE_CONNECTING || this.phase === PHASE_RECONNECTING) {
      // Do not sit out a backoff delay aimed at the old address: try the new master now.
      if (this.ctx.upstream() === null) return;
      this.stopConnecting();
      this.connect(this.phase === PHASE_CONNECTING ? this.ctx.connectWindowMs : this.ctx.unavailableWaitMs);
      return;
    }
    if (this.phase !== PHASE_CONNECTED) return;
    const next = this.ctx.upstream();
    if (next !== null && next.url === this.upstreamAddr?.url) return;
    this.lose(new Error(`master moved (${reason})`));
  }

  // --- client → upstream ---------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.fatal !== null || this.phase === PHASE_CLOSED) return;
    if (this.ctx.perCommand) this.ctx.stats.bytesIn += chunk.length;
    this.now = performance.now();
    this.reqChunk = chunk;
    this.reqSent = 0;
    this.reqFrameStart = 0;
    this.requests.feed(chunk);
    this.reqChunk = null;
    if (this.requests.failed) return; // the valid prefix was sent by onClientProtocolError
    if (this.gate !== null && !this.requests.atBoundary && this.verdictKind() !== 'forward') {
      // The frame in progress may not go upstream (yet): send what precedes it, hold it back.
      this.sendUp(chunk.subarray(this.reqSent, this.reqFrameStart));
      if (this.verdictKind() !== 'local') this.holding = true;
    } else {
      this.sendUp(this.reqSent === 0 ? chunk : chunk.subarray(this.reqSent));
    }
    if (!this.requests.atBoundary) {
      const tail = chunk.subarray(this.reqFrameStart);
      if (this.holding && this.reqPartialBytes + tail.length > PARTIAL_FRAME_LIMIT) {
        // Too big to hold back any longer: decide with the tokens that have arrived (the name,
        // and a subcommand) rather than keep buffering; a frame the gate would not pass is
        // dropped as it streams and answered at its end.
        const verdict = this.gate!.final(this.ctx.index.lookup(this.requests), null);
        if (verdict.kind === 'forward') {
          this.releaseHeld();
          this.sendUp(tail);
          this.verdict = FORWARD;
        } else {
          this.dropHeld();
          this.verdict = verdict.kind === 'local' ? verdict : TOO_LARGE_TO_CHECK;
        }
      }
      this.keepPartial(tail);
    }
    if (this.matcher.pending > this.ctx.maxPendingCommands) this.pauseClient(PAUSE_TOO_MANY_PENDING, true);
  }

  /** With a gate: the command's name is known; decide now whether its bytes may flow upstream. */
  private onCommandName(s: RespScanner): void {
    this.verdict = this.gate!.early(this.ctx.index.lookup(s));
    if (this.verdictKind() === 'forward') this.releaseHeld();
    else if (this.verdictKind() === 'local') this.dropHeld();
  }

  private verdictKind(): 'forward' | 'local' | 'rewrite' | 'wait' | null {
    const v = this.verdict;
    return v === null ? null : v === 'wait' ? 'wait' : v.kind;
  }

  /** Held-back bytes of the frame in progress go upstream after all. */
  private releaseHeld(): void {
    if (!this.holding) return;
    this.holding = false;
    for (const b of this.reqPartial ?? []) this.sendUp(b);
  }

  private dropHeld(): void {
    this.holding = false;
  }

  private onRequestFrame(s: RespScanner, end: number): void {
    const chunk = this.reqChunk!;
    // Looked up again with every token: at the name only the parent of a subcommand was known.
    const id = s.frameCount > 0 ? this.ctx.index.lookup(s) : 0;
    let args: Buffer[] | null = null;
    const gateArgs = this.gate !== null && s.frameCount > 0 && this.gate.needsArgs(id);
    if (s.frameCount > 0 && (gateArgs || (!this.matcher.inMulti && this.state.needsArgs(id)))) {
      const frame = this.frameBytes(chunk, end);
      if (frame !== null) args = decodeCommand(frame);
      else this.log.warn('command too large to remember for replay', { listener: this.ctx.listener.name });
    }
    if (this.gate !== null && s.frameCount > 0) {
      const v = this.verdict;
      const verdict = v === null || v === 'wait' ? this.gate.final(id, args) : v.kind === 'forward' ? null : v;
      this.verdict = null;
      if (verdict !== null && verdict.kind !== 'forward') {
        this.answerOrRewrite(s, id, verdict, chunk, end);
        return;
      }
      this.releaseHeld();
    }
    this.matcher.onRequest(s, id, this.now, args);
    if (id === this.ctx.ids.quit) this.quitting = true; // the upstream's close that follows is no loss
    if (id === this.ctx.stateIds.multi && this.state.watchLost && this.matcher.inMulti) {
      // The WATCHes this transaction relies on were on the lost connection: make its EXEC fail.
      this.state.watchLost = false;
      this.sendUp(chunk.subarray(this.reqSent, end));
      this.sendUp(TRANSACTION_POISON);
      this.reqSent = end;
      this.matcher.pushInternal(0, this.now);
    }
    this.reqFrameStart = end;
    this.reqPartial = [];
    this.reqPartialBytes = 0;
  }

  /**
   * The gate answered the frame ending at `end` itself, or rewrote it: its own bytes never go
   * upstream. A refusal inside MULTI also poisons the upstream's transaction, as a refused
   * command does in Redis (EXEC then answers -EXECABORT).
   */
  private answerOrRewrite(s: RespScanner, id: number, verdict: Verdict, chunk: Buffer, end: number): void {
    // A frame begun in an earlier chunk starts at 0 here (its earlier bytes were held, not sent).
    const startInChunk = this.reqPartial === null || this.reqPartial.length > 0 ? 0 : this.reqFrameStart;
    this.sendUp(chunk.subarray(this.reqSent, startInChunk));
    this.reqSent = end;
    this.holding = false;
    if (verdict.kind === 'rewrite') {
      this.sendUp(verdict.bytes);
      this.matcher.onRequest(s, id, this.now, decodeCommand(verdict.bytes));
    } else if (verdict.kind === 'local') {
      if (verdict.reason !== null) this.ctx.rejected(id, verdict.reason);
      if (verdict.reason !== null && this.matcher.inMulti) {
        this.sendUp(TRANSACTION_POISON);
        this.matcher.pushInternal(0, this.now);
      }
      this.matcher.pushLocal(id, this.now, verdict.reply);
      this.emitLocalReplies();
    }
    this.reqFrameStart = end;
    this.reqPartial = [];
    this.reqPartialBytes = 0;
  }

  /** Local answers whose turn has come (every reply before them has been delivered). */
  private emitLocalReplies(): void {
    for (let reply = this.matcher.takeLocalHead(); reply !== null; reply = this.matcher.takeLocalHead()) this.toClient(reply);
  }

  /** A copy of the frame that just ended at `end` (it may have begun in earlier chunks). */
  private frameBytes(chunk: Buffer, end: number): Buffer | null {
    if (this.reqPartial === null) return null;
    if (this.reqPartial.length === 0) return Buffer.from(chunk.subarray(this.reqFrameStart, end));
    return Buffer.concat([...this.reqPartial, chunk.subarray(0, end)]);
  }

  private keepPartial(bytes: Buffer): void {
    if (this.reqPartial === null) return;
    this.reqPartialBytes += bytes.length;
    if (this.reqPartialBytes > PARTIAL_FRAME_LIMIT) this.reqPartial = null;
    else this.reqPartial.push(bytes);
  }

  private sendUp(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const up = this.upstream;
    if (up === null || this.phase !== PHASE_CONNECTED) {
      this.early.push(chunk);
      this.earlyBytes += chunk.length;
      if (this.earlyBytes > EARLY_BUFFER_LIMIT) this.pauseClient(PAUSE_NO_UPSTREAM, true);
      return;
    }
    if (!up.write(chunk)) this.pauseClient(PAUSE_UPSTREAM_FULL, true);
  }

  private onClientProtocolError(message: string, goodEnd: number): void {
    // Redis answers the commands before the bad bytes, then the error, then closes: so do we.
    this.ctx.stats.clientProtocolErrors++;
    this.log.warn('client protocol error', { listener: this.ctx.listener.name, client: this.peer(), error: message });
    this.fatal = message;
    const chunk = this.reqChunk;
    if (chunk !== null && goodEnd > this.reqSent) this.sendUp(chunk.subarray(this.reqSent, goodEnd));
    // Reading goes on (everything is discarded) so that a client hanging up is noticed.
    this.finishIfDone();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.fatal !== null) {
      // As redis-server frees a client at EOF: nothing more will be answered to a broken stream.
      this.destroy();
      return;
    }
    // Half-close, as socat does: the upstream still answers what was sent, then closes.
    if (this.upstream !== null && this.phase === PHASE_CONNECTED && this.fatal === null) this.upstream.end();
  }

  private onClientError(err: Error): void {
    this.log.debug('client socket error', { listener: this.ctx.listener.name, error: err.message });
  }

  private onClientClose(): void {
    this.phase = PHASE_CLOSED;
    this.stopConnecting();
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

  // --- connecting ----------------------------------------------------------------------

  private connect(windowMs: number): void {
    this.connecting = connectUpstream(
      () => this.ctx.upstream(),
      {
        timeoutMs: this.ctx.connectTimeoutMs,
        windowMs,
        keepaliveMs: this.ctx.tcpKeepaliveMs,
        tls: this.ctx.tls,
        onAttemptFailed: (url) => this.ctx.stats.connectFailed(url),
      },
      (err, socket, addr) => {
        this.connecting = null;
        if (err !== null) this.onConnectFailed(err);
        else this.onConnected(socket!, addr!);
      },
    );
  }

  private stopConnecting(): void {
    this.connecting?.cancel();
    this.connecting = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private onConnected(up: net.Socket, addr: UpstreamAddress): void {
    if (this.phase === PHASE_CLOSED) {
      up.destroy();
      return;
    }
    const reconnect = this.phase === PHASE_RECONNECTING;
    this.upstream = up;
    this.upstreamAddr = addr;
    this.phase = PHASE_CONNECTED;
    up.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    up.on('drain', () => this.pauseClient(PAUSE_UPSTREAM_FULL, false));
    up.on('end', () => this.onUpstreamGone(up, null));
    up.on('error', (err) => this.onUpstreamGone(up, err));
    up.on('close', () => this.onUpstreamGone(up, null));
    const now = performance.now();
    this.matcher.restamp(now);
    // The ambassador's own AUTH first, then (after a loss) the client's state, then its commands.
    const replay = [...this.ctx.upstreamPreamble.map((p) => ({ ...p, replies: 1 })), ...(reconnect ? this.state.replay(this.matcher.inMulti) : [])];
    this.matcher.replayFirst(replay, now);
    for (const c of replay) up.write(c.bytes);
    if (reconnect) {
      this.ctx.stats.reconnects++;
      this.log.info('upstream reconnected', {
        listener: this.ctx.listener.name,
        upstream: this.upstreamAddr.url,
        replayed: replay.length,
        waiting_commands: this.matcher.clientPending,
      });
    }
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const chunk of early) this.sendUp(chunk);
    this.pauseClient(PAUSE_NO_UPSTREAM, false);
    if (this.clientEnded && this.fatal === null) up.end();
    if (this.draining && this.matcher.clientPending === 0) this.closeBoth();
    this.finishIfDone();
  }

  private onConnectFailed(err: UpstreamUnreachable): void {
    if (this.phase === PHASE_CLOSED) return;
    const fields = {
      listener: this.ctx.listener.name,
      upstream: err.upstream,
      attempts: err.attempts,
      elapsed_ms: err.elapsedMs,
      error: err.cause.message,
    };
    const line = `-ERR ${oneLine(err.message)}\r\n`;
    if (this.phase === PHASE_CONNECTING || this.draining || this.ctx.onUpstreamLoss === 'close') {
      this.log.warn('upstream unreachable', fields);
      // One error per command already sent, so a pipelining client is not left waiting; at least one.
      const n = Math.max(1, this.matcher.abandonPending());
      this.client.end(line.repeat(n));
      this.client.destroySoon();
      this.phase = PHASE_CLOSED;
      return;
    }
    // Reconnecting: the client stays; what waited gets an answer now, and the search goes on.
    this.log.warn('upstream still unavailable', fields);
    const owed = this.matcher.abandonPending();
    if (owed > 0) this.client.write(line.repeat(owed));
    this.dropEarlyCompleteFrames();
    this.pauseClient(PAUSE_NO_UPSTREAM, false);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.phase === PHASE_RECONNECTING) this.connect(this.ctx.unavailableWaitMs);
    }, 1000);
  }

  /** Drops waiting bytes of commands already answered with an error; a partial frame stays. */
  private dropEarlyCompleteFrames(): void {
    const keep = this.requests.atBoundary ? 0 : this.reqPartialBytes;
    if (keep === 0 || this.reqPartial === null) {
      this.early = [];
      this.earlyBytes = 0;
      if (keep > 0) this.client.destroy(); // cannot tell where the partial frame starts: be honest and close
      return;
    }
    this.early = [...this.reqPartial];
    this.earlyBytes = keep;
  }

  // --- upstream → client ---------------------------------------------------------------

  private newReplyScanner(): RespScanner {
    const sink: FrameSink = {
      onFrame: (s, end) => {
        const internal = this.matcher.onReply(s, this.now);
        if (this.replyByFrame) this.replyFrame(end, internal);
      },
      onProtocolError: (message, goodEnd) => this.onUpstreamProtocolError(message, goodEnd),
    };
    const scanner = new RespScanner('reply', sink, this.ctx.limits);
    scanner.leanReplies = true;
    return scanner;
  }

  private onUpstreamData(chunk: Buffer): void {
    this.now = performance.now();
    this.replyChunk = chunk;
    // Replies to replayed commands are cut out frame by frame; otherwise whole chunks go through.
    this.replyByFrame = this.matcher.internalPending || this.matcher.localPending || this.replyHeld !== null;
    this.replySent = 0;
    // RESP2 pub/sub confirmations and messages are plain arrays: read their words only then.
    this.replies.captureArrays = this.matcher.protocol === 2 && (this.matcher.subscribed || this.state.subscriptions > 0);
    this.replies.feed(chunk);
    this.replyChunk = null;
    if (this.replies.failed || this.upstream === null) return;
    if (this.replyByFrame) {
      if (this.replySent < chunk.length) {
        const rest = chunk.subarray(this.replySent);
        this.replyHeld = this.replyHeld === null ? rest : Buffer.concat([this.replyHeld, rest]);
      }
    } else {
      this.toClient(chunk);
    }
    if (this.paused & PAUSE_TOO_MANY_PENDING && this.matcher.pending <= this.ctx.maxPendingCommands >> 1) {
      this.pauseClient(PAUSE_TOO_MANY_PENDING, false);
    }
    this.finishIfDone();
    if (this.draining && this.matcher.clientPending === 0) this.closeBoth();
  }

  private replyFrame(end: number, internal: boolean): void {
    const chunk = this.replyChunk!;
    if (!internal) {
      if (this.replyHeld !== null) this.toClient(this.replyHeld);
      this.toClient(chunk.subarray(this.replySent, end));
    }
    this.replyHeld = null;
    this.replySent = end;
    this.emitLocalReplies();
  }

  private toClient(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.ctx.perCommand) this.ctx.stats.bytesOut += bytes.length;
    if (!this.client.write(bytes)) this.upstream?.pause();
  }

  private onUpstreamProtocolError(message: string, goodEnd: number): void {
    this.ctx.stats.upstreamProtocolErrors++;
    this.log.error('upstream protocol error', {
      listener: this.ctx.listener.name,
      upstream: this.upstreamAddr?.url,
      error: message,
    });
    // What the upstream sent cannot be delimited any more, so nothing more can be answered.
    const chunk = this.replyChunk;
    if (chunk !== null && !this.replyByFrame && goodEnd > 0) this.toClient(chunk.subarray(0, goodEnd));
    this.matcher.abandonPending();
    this.upstream?.destroy();
    this.upstream = null;
    this.client.destroySoon();
  }

  private onUpstreamGone(up: net.Socket, err: Error | null): void {
    if (up !== this.upstream || this.phase === PHASE_CLOSED) return;
    this.lose(err ?? new Error('closed by upstream'));
  }

  /** The upstream connection is gone (or abandoned for a new master). */
  private lose(err: Error): void {
    const up = this.upstream!;
    this.upstream = null;
    // A write to a dead socket returns false and its 'drain' never comes: that pause is over.
    this.pauseClient(PAUSE_UPSTREAM_FULL, false);
    up.removeAllListeners();
    up.on('error', () => {});
    up.destroy();
    const owed = this.matcher.clientPending;
    const quiet = owed === 0 && (this.clientEnded || this.quitting || this.fatal !== null || this.draining);
    if (!quiet) {
      this.log.warn('upstream connection lost', {
        listener: this.ctx.listener.name,
        upstream: this.upstreamAddr?.url,
        pending: owed,
        error: err.message,
      });
    }
    // A reply cut in half has partly reached the client: only closing is honest then.
    const cut = !this.replies.atBoundary && !this.replyByFrame;
    const canStay =
      this.ctx.onUpstreamLoss === 'reconnect' && !this.clientEnded && !this.quitting && !this.draining && this.fatal === null && !cut;
    // In order: each command owed by the upstream gets the error, each local answer its reply.
    const answers: Buffer[] = [];
    if (!cut) this.matcher.forEachPending((reply) => answers.push(reply ?? UPSTREAM_LOST));
    this.matcher.connectionLost();
    this.replies = this.newReplyScanner();
    this.replyHeld = null;
    if (this.client.writableEnded) return; // we were closing it anyway
    for (const a of answers) this.toClient(a);
    if (!canStay) {
      if (this.fatal !== null) this.client.write(`-ERR ${this.fatal}\r\n`);
      this.phase = PHASE_CLOSED;
      this.client.end();
      this.client.destroySoon();
      return;
    }
    if (this.state.watching) this.state.watchLost = true;
    this.ctx.suspect(`a client's upstream connection was lost: ${err.message}`);
    this.phase = PHASE_RECONNECTING;
    this.connect(this.ctx.unavailableWaitMs);
  }

  /** After a client protocol error: once earlier commands are answered, send the error and close. */
  private finishIfDone(): void {
    if (this.fatal === null || this.matcher.clientPending > 0) return;
    const message = this.fatal;
    this.stopConnecting();
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    this.phase = PHASE_CLOSED;
    this.client.end(`-ERR ${message}\r\n`);
    this.client.destroySoon();
  }

  private closeBoth(): void {
    this.stopConnecting();
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
