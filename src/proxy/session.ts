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
import { SessionState, TRANSACTION_POISON, type ReplayCommand, type StateIds } from './sessionState.js';
import type { RejectReason, RequestGate, Verdict } from './requestGate.js';
import { connectUpstream, type ConnectHandle, type UpstreamUnreachable } from './upstreamConnector.js';
import type { UpstreamIdentity } from './healthCheck.js';
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
  /** Which server process `addr` reaches now, as its health check knows it (null: not known). */
  identityOf(addr: UpstreamAddress): UpstreamIdentity | null;
  /** Whether the process `before` named still answers at `addr`, in the same role (see HealthCheck.verify). */
  verifyUpstream(addr: UpstreamAddress, before: UpstreamIdentity, done: (same: boolean, evidence: string) => void): void;
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
/**
 * While a close is being verified: a command read now would be answered "connection lost" if
 * the close turns out to be a failure, yet its bytes would still go to the next connection.
 */
const PAUSE_VERIFYING = 16;

/** Bytes a client may send while it has no upstream, before its reading pauses. */
const EARLY_BUFFER_LIMIT = 1024 * 1024;
/** Largest partial request kept to recover a state command's arguments (SUBSCRIBE to many channels). */
const PARTIAL_FRAME_LIMIT = 1024 * 1024;

const PHASE_CONNECTING = 0; // first connection
const PHASE_CONNECTED = 1;
const PHASE_RECONNECTING = 2;
const PHASE_CLOSED = 3;
/** Connected; the ambassador's AUTH and the replayed state must be answered before client bytes go. */
const PHASE_RESTORING = 4;
/** The upstream closed the connection; asking whether that was the server's decision or a failure. */
const PHASE_VERIFYING = 5;

const MINUS = 0x2d;
const PUSH = 0x3e;

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
  /** The server process the upstream connection reached, for telling its decisions from failures. */
  private identity: UpstreamIdentity | null = null;
  // Restoring a new upstream connection: what was written, how many were answered, the refusal.
  private replayList: readonly ReplayCommand[] = [];
  private replayAnswered = 0;
  private replayRefusal: { readonly command: ReplayCommand; readonly error: string } | null = null;
  /**
   * Replication: a SYNC/PSYNC's reply is due next (its first byte tells an error from a stream);
   * `syncAt` is where in the chunk being scanned that reply begins; after a stream began, the
   * session is a raw relay both ways for the rest of its life.
   */
  private replicationReplyDue = false;
  private syncAt = -1;
  private replicating = false;
  private readonly log: Logger;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: SessionContext,
    private readonly onClosed: (s: Session) => void,
  ) {
    this.log = ctx.log;
    this.gate = ctx.newGate();
    this.state = new SessionState(ctx.stateIds);
    this.matcher = new ReplyMatcher(
      ctx.ids,
      ctx.perCommand ? ctx.stats : null,
      this.state,
      (code) => ctx.suspect(`a client got -${code}`),
      (refusal) => this.onReplayAnswered(refusal),
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
        if (this.replicating || this.matcher.subscribed || this.matcher.monitoring || this.state.subscriptions > 0 || this.matcher.clientPending > 0) return;
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
    if (this.phase !== PHASE_CONNECTED && this.phase !== PHASE_RESTORING) return;
    const next = this.ctx.upstream();
    if (next !== null && next.url === this.upstreamAddr?.url) return;
    this.lose(new Error(`master moved (${reason})`));
  }

  // --- client → upstream ---------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.fatal !== null || this.phase === PHASE_CLOSED) return;
    if (this.ctx.perCommand) this.ctx.stats.bytesIn += chunk.length;
    if (this.replicating && this.gate === null) {
      // A replica's REPLCONF ACKs get no replies: nothing to match, the bytes just go.
      this.sendUp(chunk);
      return;
    }
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
    if (this.replicating) {
      this.replicaRequest(id, s.frameCount > 0, end);
      return;
    }
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
    // A SYNC/PSYNC with nothing before it: the next reply byte from the upstream decides.
    if (this.matcher.replicationReplyDue && this.replies.atBoundary) this.replicationReplyDue = true;
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
   * A command inside a replication stream (with a gate only: without one the bytes go unscanned).
   * Nothing can be answered there, so a command the gate would not pass closes the client.
   */
  private replicaRequest(id: number, command: boolean, end: number): void {
    if (command && this.gate !== null) {
      const v = this.verdict;
      const verdict = v === null || v === 'wait' ? this.gate.final(id, null) : v;
      this.verdict = null;
      if (verdict.kind !== 'forward') {
        if (verdict.kind === 'local' && verdict.reason !== null) this.ctx.rejected(id, verdict.reason);
        this.log.warn('command refused inside a replication stream; closing the client', {
          listener: this.ctx.listener.name,
          client: this.peer(),
          cmd: this.ctx.index.names[id],
        });
        this.closeAtOnce();
        return;
      }
      this.releaseHeld();
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
    this.identity = this.ctx.identityOf(addr);
    up.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    up.on('drain', () => this.pauseClient(PAUSE_UPSTREAM_FULL, false));
    up.on('end', () => this.onUpstreamGone(up, null));
    up.on('error', (err) => this.onUpstreamGone(up, err));
    up.on('close', () => this.onUpstreamGone(up, null));
    const now = performance.now();
    this.matcher.restamp(now);
    // The ambassador's own AUTH first, then (after a loss) the client's state, then its commands.
    const replay: ReplayCommand[] = [
      ...this.ctx.upstreamPreamble.map((p) => ({ ...p, replies: 1, fromAmbassador: true })),
      ...(reconnect ? this.state.replay(this.matcher.inMulti) : []),
    ];
    this.replayList = replay;
    this.replayAnswered = 0;
    this.replayRefusal = null;
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
    // Nothing of the client's may run before its state is back: a refused AUTH would otherwise
    // leave its commands running as the default user.
    if (this.matcher.replaying > 0) this.phase = PHASE_RESTORING;
    else this.goLive();
  }

  /** The upstream connection is ready for the client's bytes: send what waited, then carry on. */
  private goLive(): void {
    this.phase = PHASE_CONNECTED;
    const up = this.upstream!;
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const chunk of early) this.sendUp(chunk);
    this.pauseClient(PAUSE_NO_UPSTREAM, false);
    if (this.clientEnded && this.fatal === null) up.end();
    if (this.draining && this.matcher.clientPending === 0) this.closeBoth();
    this.finishIfDone();
  }

  /** A command restoring the connection was answered (`refusal`: its error, or null). */
  private onReplayAnswered(refusal: string | null): void {
    if (refusal === null) {
      this.replayAnswered++;
      return;
    }
    const command = this.replayList[this.replayAnswered];
    if (command === undefined || this.replayRefusal !== null) return;
    this.replayRefusal = { command, error: refusal };
    this.replies.stop(); // nothing after it is read: the session ends
  }

  /**
   * The upstream refused a command that restores the connection. Going on would run the
   * client's commands in a state it never asked for (another user, another database), so the
   * client is closed, after an error for each command it is owed.
   */
  private failRestore(): void {
    const { command, error } = this.replayRefusal!;
    const name = (this.ctx.index.names[command.cmd] ?? 'unknown').replace('|', ' ').toUpperCase();
    this.ctx.stats.replayFailed();
    const fields = { listener: this.ctx.listener.name, upstream: this.upstreamAddr?.url, command: name, error };
    let line: string;
    if (command.fromAmbassador) {
      this.log.error("the upstream refused the ambassador's own AUTH; closing the client", fields);
      line = `-ERR the upstream refused the ambassador's own AUTH (${error}): check AMBASSADOR_UPSTREAM_USERNAME and AMBASSADOR_UPSTREAM_PASSWORD; closing\r\n`;
    } else {
      this.log.warn('connection state could not be restored after a reconnect; closing the client', fields);
      line = `-ERR the upstream refused the replayed ${name} (${error}) after a reconnect: this connection's state cannot be restored; closing\r\n`;
    }
    const answers: Buffer[] = [];
    this.matcher.forEachPending((reply) => answers.push(reply ?? Buffer.from(line)));
    if (answers.length === 0) answers.push(Buffer.from(line));
    this.matcher.abandonPending();
    this.detachUpstream();
    this.stopConnecting();
    this.phase = PHASE_CLOSED;
    for (const a of answers) this.toClient(a);
    this.client.end();
    this.client.destroySoon();
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
        if (this.matcher.replicationReplyDue && this.syncAt < 0) {
          // What follows may be a replication stream, which is not RESP: stop here and look.
          this.syncAt = end;
          this.replies.stop();
        }
      },
      onProtocolError: (message, goodEnd) => this.onUpstreamProtocolError(message, goodEnd),
    };
    const scanner = new RespScanner('reply', sink, this.ctx.limits);
    scanner.leanReplies = true;
    return scanner;
  }

  private onUpstreamData(chunk: Buffer): void {
    if (this.replicating) {
      this.toClient(chunk);
      return;
    }
    if (this.replicationReplyDue) {
      this.replicationReplyDue = false;
      // SYNC/PSYNC is answered with an error line, or with a stream: "\n" keep-alives,
      // +FULLRESYNC/+CONTINUE, or (SYNC) the RDB payload's "$<length>" at once. A RESP3 push
      // (an invalidation) may come first; it is scanned, and the look is taken after it.
      if (chunk[0] !== MINUS && chunk[0] !== PUSH) {
        this.startReplication();
        this.toClient(chunk);
        return;
      }
    }
    this.now = performance.now();
    this.replyChunk = chunk;
    // Replies to replayed commands are cut out frame by frame; otherwise whole chunks go through.
    this.replyByFrame = this.matcher.internalPending || this.matcher.localPending || this.replyHeld !== null;
    this.replySent = 0;
    // RESP2 pub/sub confirmations and messages are plain arrays: read their words only then.
    this.replies.captureArrays = this.matcher.protocol === 2 && (this.matcher.subscribed || this.state.subscriptions > 0);
    this.replies.feed(chunk);
    this.replyChunk = null;
    if (this.replayRefusal !== null) {
      this.failRestore();
      return;
    }
    if (this.syncAt >= 0) {
      const at = this.syncAt;
      this.syncAt = -1;
      if (!this.replyByFrame) this.toClient(chunk.subarray(0, at));
      this.replies = this.newReplyScanner();
      this.replicationReplyDue = true;
      if (at < chunk.length) this.onUpstreamData(chunk.subarray(at));
      else this.afterReplies();
      return;
    }
    if (this.replies.failed || this.upstream === null) return;
    if (this.replyByFrame) {
      if (this.replySent < chunk.length) {
        const rest = chunk.subarray(this.replySent);
        this.replyHeld = this.replyHeld === null ? rest : Buffer.concat([this.replyHeld, rest]);
      }
    } else {
      this.toClient(chunk);
    }
    this.afterReplies();
  }

  private afterReplies(): void {
    if (this.phase === PHASE_RESTORING && this.matcher.replaying === 0) this.goLive();
    if (this.paused & PAUSE_TOO_MANY_PENDING && this.matcher.pending <= this.ctx.maxPendingCommands >> 1) {
      this.pauseClient(PAUSE_TOO_MANY_PENDING, false);
    }
    this.finishIfDone();
    if (this.draining && this.matcher.clientPending === 0) this.closeBoth();
  }

  /**
   * The upstream answered SYNC/PSYNC with a replication stream (an RDB payload with no CRLF after
   * it, then the command stream): from here on this session relays bytes both ways unchanged,
   * as socat does. Nothing is matched any more, and nothing is ever replayed into it.
   */
  private startReplication(): void {
    this.replicating = true;
    this.matcher.abandonPending();
    this.pauseClient(PAUSE_TOO_MANY_PENDING, false);
    this.log.info('replication stream', { listener: this.ctx.listener.name, client: this.peer(), upstream: this.upstreamAddr?.url });
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
    if (this.mayHaveBeenClosedOnPurpose(err)) this.verifyLoss(err);
    else this.lose(err ?? new Error('closed by upstream'));
  }

  /**
   * Redis closes clients on purpose (CLIENT KILL, `timeout`, client-output-buffer-limit) with a
   * FIN, or a reset when input was left unread. Reconnecting would hide that decision from the
   * client, so such closes are checked first; a timeout or an unreachable host is a failure.
   */
  private mayHaveBeenClosedOnPurpose(err: Error | null): boolean {
    if (this.ctx.onUpstreamLoss !== 'reconnect' || this.replicating || this.identity === null) return false;
    if (this.clientEnded || this.quitting || this.draining || this.fatal !== null) return false;
    const code = (err as NodeJS.ErrnoException | null)?.code;
    return err === null || code === 'ECONNRESET' || code === 'EPIPE';
  }

  /** Asks the upstream's health check whether the same server is still there, then acts on it. */
  private verifyLoss(err: Error | null): void {
    this.detachUpstream();
    this.phase = PHASE_VERIFYING;
    this.pauseClient(PAUSE_VERIFYING, true);
    const addr = this.upstreamAddr!;
    this.ctx.verifyUpstream(addr, this.identity!, (same, evidence) => {
      if (this.phase !== PHASE_VERIFYING) return; // the client went away meanwhile
      this.pauseClient(PAUSE_VERIFYING, false);
      if (same) this.closedByServer(evidence);
      else this.lose(err ?? new Error(`closed by upstream (${evidence})`));
    });
  }

  /**
   * The server itself closed this client's connection: do what a direct client would see.
   * Replies already received have been delivered (and a reply cut short is passed on as far as
   * it came); nothing is replayed, and the client's socket is closed.
   */
  private closedByServer(evidence: string): void {
    this.ctx.stats.disconnected('closed_by_server');
    this.log.info('upstream closed the connection on purpose; closing the client', {
      listener: this.ctx.listener.name,
      upstream: this.upstreamAddr?.url,
      client: this.peer(),
      pending: this.matcher.clientPending,
      evidence,
    });
    if (this.replyHeld !== null) this.toClient(this.replyHeld);
    this.replyHeld = null;
    this.matcher.abandonPending();
    this.phase = PHASE_CLOSED;
    this.client.end();
    this.client.destroySoon();
  }

  /** Forgets the upstream socket; its late events are ignored. */
  private detachUpstream(): void {
    const up = this.upstream;
    if (up === null) return;
    this.upstream = null;
    // A write to a dead socket returns false and its 'drain' never comes: that pause is over.
    this.pauseClient(PAUSE_UPSTREAM_FULL, false);
    up.removeAllListeners();
    up.on('error', () => {});
    up.destroy();
  }

  /** The upstream connection is gone (or abandoned for a new master). */
  private lose(err: Error): void {
    this.detachUpstream();
    const owed = this.matcher.clientPending;
    const quiet = owed === 0 && (this.clientEnded || this.quitting || this.fatal !== null || this.draining);
    if (!quiet) {
      this.ctx.stats.disconnected('lost');
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
      this.ctx.onUpstreamLoss === 'reconnect' &&
      !this.replicating &&
      !this.clientEnded &&
      !this.quitting &&
      !this.draining &&
      this.fatal === null &&
      !cut;
    // In order: each command owed by the upstream gets the error, each local answer its reply.
    const answers: Buffer[] = [];
    if (!cut && !this.replicating) this.matcher.forEachPending((reply) => answers.push(reply ?? UPSTREAM_LOST));
    this.matcher.connectionLost();
    this.replies = this.newReplyScanner();
    this.replyHeld = null;
    this.replicationReplyDue = false;
    this.syncAt = -1;
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

  /** Ends the session now, without waiting for anything (a replication stream that cannot go on). */
  private closeAtOnce(): void {
    this.stopConnecting();
    this.detachUpstream();
    this.phase = PHASE_CLOSED;
    this.client.destroy();
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
