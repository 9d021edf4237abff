/**
 * One client connection, from accept to close. The session owns the lifecycle only: it wires
 * the request path (client → upstream), the reply path (upstream → client) and the upstream link,
 * decides what a lost upstream means for the client, and closes the client from one place.
 *
 *   client socket → RequestPath → UpstreamLink → upstream socket
 *   client socket ← ReplyPath   ← UpstreamLink ← upstream socket
 *
 * When the upstream connection is lost (or the listener's master moves) the client stays
 * connected: every command in flight gets an error (it may or may not have run; it is never
 * retried), a new upstream connection is made and the client's connection state is replayed on
 * it before its next command. AMBASSADOR_ON_UPSTREAM_LOSS=close closes the client instead, as
 * socat does; so does a close that Redis meant (CLIENT KILL, timeout).
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ListenerRuntime } from './listenerRuntime.js';
import type { LinkHolder } from './linkHolder.js';
import { ConnectionState } from './connectionState.js';
import type { ReplayCommand } from '../upstream/replayCommand.js';
import { ReplyMatcher } from './replyMatcher.js';
import { ReplyPath, type ReplyEvents } from './replyPath.js';
import type { RequestGate } from './requestGate.js';
import type { SessionAuth } from '../secrets/sessionAuth.js';
import { RequestPath, type RequestEvents } from './requestPath.js';
import { TRAITS, type PinReason } from '../resp/commandTraits.js';
import type { RespScanner } from '../resp/scanner.js';
import type { UpstreamUnreachable } from '../upstream/connector.js';
import { DedicatedLink } from '../upstream/dedicatedLink.js';
import type { UpstreamDialer } from '../upstream/dialer.js';
import { SharedLink } from '../upstream/sharedLink.js';
import type { SharedPool } from '../upstream/sharedPool.js';
import type { LinkEvents, UpstreamLink } from '../upstream/upstreamLink.js';

export const UPSTREAM_LOST_ERROR = '-ERR upstream connection lost; command may or may not have run\r\n';
const UPSTREAM_LOST = Buffer.from(UPSTREAM_LOST_ERROR);
const AUTH = TRAITS.idOf('auth');

// Reasons the client's reading is paused; reading resumes when none is left.
const PAUSE_LINK_BLOCKED = 1;
const PAUSE_TOO_MANY_PENDING = 2;
const PAUSE_STOPPED = 4;
/** Shared mode: the client leaves replies unread; it may not add commands meanwhile. */
const PAUSE_BACKLOG = 8;

/**
 * open: relaying. ending: the client half-closed (or, on a shared connection, sent QUIT); the
 * replies it is owed go out, then it is closed. failing: the client sent bytes Redis would refuse;
 * earlier replies go out, then the error. draining: shutdown; replies in flight go out, nothing
 * more is read.
 */
type Phase = 'open' | 'ending' | 'failing' | 'draining' | 'closed';

export type CloseReason =
  | 'client closed'
  | 'idle'
  | 'client protocol error'
  | 'refused in a replication stream'
  | 'upstream unreachable'
  | 'upstream lost'
  | 'closed by the server'
  | 'replay refused'
  | 'identity no longer mapped'
  | 'upstream protocol error'
  | 'client output limit'
  | 'shutdown'
  | 'shutdown timeout';

export class Session implements LinkEvents, ReplyEvents, RequestEvents, LinkHolder {
  private phase: Phase = 'open';
  private closeReason: CloseReason = 'client closed';
  private paused = 0;
  /** The client protocol error sent once the replies to its earlier commands are out. */
  private failure = '';
  // The commands restoring the current upstream connection, how many were answered, a refusal.
  private restoreList: readonly ReplayCommand[] = [];
  private restoreAnswered = 0;
  private refusal: { readonly command: ReplayCommand; readonly error: string } | null = null;
  private finished = false;
  /** The upstream link; a client on a shared connection moves, once, to a dedicated one. */
  private current: UpstreamLink;
  /** The shared link a pinned client is leaving, while replies to what it sent there are due. */
  private leaving: SharedLink | null = null;
  private readonly state = new ConnectionState();
  private readonly matcher: ReplyMatcher;
  private readonly replies: ReplyPath;
  private readonly requests: RequestPath;

  constructor(
    private readonly client: net.Socket,
    private readonly runtime: ListenerRuntime,
    private readonly dialer: UpstreamDialer,
    gate: RequestGate | null,
    private readonly onClosed: (s: Session) => void,
    /** Who its upstream connections AUTH as (the listener's credentials, or its certificate's ACL user). */
    private readonly auth: SessionAuth | null = runtime.upstreamAuth,
  ) {
    this.matcher = new ReplyMatcher(
      runtime.perCommand ? runtime.stats : null,
      this.state,
      (code) => dialer.suspect(`a client got -${code}`),
      (refusal) => this.onRestoreAnswered(refusal),
    );
    this.current = this.firstLink(runtime.sharedPool);
    this.replies = new ReplyPath(client, runtime, this.matcher, this.state, this, this);
    this.requests = new RequestPath(runtime, gate, this.matcher, this.state, this, this.replies, this);
  }

  /**
   * A client whose certificate maps it to an ACL user of its own never shares a connection
   * authenticated as someone else: it is pinned from its first byte.
   */
  private firstLink(pool: SharedPool | null): UpstreamLink {
    if (pool === null) return this.dedicatedLink();
    if (this.auth?.identity == null) return new SharedLink(pool, this);
    this.runtime.stats.pinned('identity');
    return this.dedicatedLink();
  }

  get link(): UpstreamLink {
    return this.current;
  }

  get pendingCommands(): number {
    return this.matcher.clientPending;
  }

  start(): void {
    const c = this.client;
    const settings = this.runtime.settings;
    c.setNoDelay(true);
    if (settings.tcpKeepaliveMs > 0) c.setKeepAlive(true, settings.tcpKeepaliveMs);
    if (settings.idleTimeoutMs > 0) {
      c.setTimeout(settings.idleTimeoutMs);
      c.on('timeout', () => this.onIdle());
    }
    c.on('data', (chunk: Buffer) => {
      if (this.phase !== 'failing' && this.phase !== 'closed') this.requests.onData(chunk, performance.now());
    });
    c.on('end', () => this.onClientEnd());
    c.on('error', (err) => this.runtime.log.debug('client socket error', { listener: this.runtime.name, error: err.message }));
    c.on('close', () => this.finish());
    c.on('drain', () => this.link.resumeReplies());
    this.current.start();
  }

  /** Shutdown: read no more commands, close once the replies in flight have been delivered. */
  drain(): void {
    if (this.phase !== 'open' && this.phase !== 'ending') return;
    this.phase = 'draining';
    this.pause(PAUSE_STOPPED, true);
    if (this.matcher.clientPending === 0 || !this.link.live) this.close('shutdown');
  }

  /** Ends the session at once (shutdown timeout). */
  destroy(): void {
    this.close('shutdown timeout', [], true);
  }

  /** The listener's master changed: a session on another upstream moves to it. */
  upstreamChanged(reason: string): void {
    this.link.retarget(reason);
  }

  // --- shared mode -------------------------------------------------------------------------

  onSharedReplyBytes(bytes: Buffer): void {
    this.replies.onSharedBytes(bytes);
  }

  onSharedReplyEnd(frame: RespScanner, now: number): void {
    this.replies.onSharedFrameEnd(frame, now);
  }

  /**
   * The client leaves `bytes` of replies unread. A shared connection cannot wait for it: the
   * client sends nothing more until it catches up, and past the limit it is closed (as Redis's
   * client-output-buffer-limit closes a client that cannot keep up).
   */
  onClientBacklog(bytes: number): void {
    if (bytes > this.runtime.settings.clientOutputLimitBytes) {
      this.runtime.log.warn('client closed: it leaves more replies unread than AMBASSADOR_CLIENT_OUTPUT_LIMIT', {
        listener: this.runtime.name,
        client: this.peer(),
        unread_bytes: bytes,
      });
      this.close('client output limit', [], true);
      return;
    }
    this.pause(PAUSE_BACKLOG, bytes > 0);
  }

  /**
   * The client needs an upstream connection of its own from this command on. What it sent on
   * the shared connection is answered there first, so its replies keep their order; only then
   * does the new connection open, and what the client sends meanwhile waits in it.
   */
  onPin(reason: PinReason): void {
    const shared = this.current as SharedLink;
    this.runtime.stats.pinned(reason);
    this.runtime.log.debug('client moved to an upstream connection of its own', { listener: this.runtime.name, client: this.peer(), reason });
    this.current = this.dedicatedLink();
    // Whatever held the shared connection back is no concern of the new one.
    this.pause(PAUSE_LINK_BLOCKED, false);
    // Frames still queued count as much as those written: closing the link would drop them.
    if (shared.settled) {
      shared.close();
      this.current.start();
      return;
    }
    this.leaving = shared;
    shared.redirect({
      ...this.leavingEvents(),
      onSharedReplyEnd: (frame, now) => {
        this.replies.onSharedFrameEnd(frame, now);
        if (this.leaving === shared && shared.settled) this.left();
      },
      onUpstreamGone: (_how, detail) => this.leftByLoss(detail),
    });
  }

  onQuit(): void {
    this.phase = 'ending';
    if (this.matcher.clientPending === 0) this.close('client closed');
  }

  // --- the link's events -----------------------------------------------------------------

  onUpstreamData(chunk: Buffer): void {
    this.replies.onUpstreamData(chunk);
  }

  onUpstreamConnected(reconnect: boolean): readonly ReplayCommand[] {
    const now = performance.now();
    this.matcher.restamp(now);
    const auth = this.auth?.decide() ?? null;
    if (auth?.kind === 'refused') {
      this.refuseIdentity(auth.reason);
      return [];
    }
    const own = auth?.bytes ?? null;
    const restore: ReplayCommand[] = [
      ...(own !== null ? [{ bytes: own, cmd: AUTH, replies: 1, fromAmbassador: true, settings: auth!.settings }] : []),
      ...(reconnect ? this.state.replay() : []),
    ];
    this.restoreList = restore;
    this.restoreAnswered = 0;
    this.refusal = null;
    this.matcher.replayFirst(restore, now);
    if (reconnect) {
      this.runtime.stats.reconnects++;
      this.runtime.log.info('upstream reconnected', {
        listener: this.runtime.name,
        upstream: this.link.url,
        replayed: restore.length,
        waiting_commands: this.matcher.clientPending,
      });
    }
    return restore;
  }

  mayBeClosedOnPurpose(): boolean {
    return this.runtime.settings.onUpstreamLoss === 'reconnect' && this.phase === 'open' && !this.state.quitSent && !this.state.replicating;
  }

  onUpstreamGone(how: 'closed_by_server' | 'lost', detail: string): void {
    if (this.phase === 'closed') return;
    if (how === 'closed_by_server') this.closedByServer(detail);
    else this.lost(detail);
  }

  onUpstreamUnreachable(err: UpstreamUnreachable, first: boolean): void {
    if (this.phase === 'closed') return;
    const fields = { listener: this.runtime.name, upstream: err.upstream, attempts: err.attempts, elapsed_ms: err.elapsedMs, error: err.cause.message };
    const line = `-ERR ${err.message.replace(/[\r\n]+/g, ' ')}\r\n`;
    if (first || this.phase === 'draining' || this.runtime.settings.onUpstreamLoss === 'close') {
      this.runtime.log.warn('upstream unreachable', fields);
      // One error per command already sent, so a pipelining client is not left waiting; at least one.
      const n = Math.max(1, this.matcher.abandonPending());
      this.close('upstream unreachable', [Buffer.from(line.repeat(n))]);
      return;
    }
    // Reconnecting: the client stays; what waited gets an answer now, and the search goes on.
    this.runtime.log.warn('upstream still unavailable', fields);
    const owed = this.matcher.abandonPending();
    if (owed > 0) this.replies.deliver(Buffer.from(line.repeat(owed)));
    this.dropHeld();
    this.link.retryLater();
  }

  /**
   * Bytes held for a connection whose commands were answered with errors are dropped; a frame
   * still arriving is kept whole (a shared link never holds part of one), or, if it cannot be,
   * the client is closed: there is no telling where its next command would begin.
   */
  private dropHeld(): void {
    this.link.discardHeld();
    if (this.link.wholeFrames) return;
    const partial = this.requests.partialFrame();
    if (partial === null) return this.close('upstream unreachable', [], true);
    for (const b of partial) this.link.send(b);
  }

  private dedicatedLink(): DedicatedLink {
    const settings = this.runtime.settings;
    return new DedicatedLink(this.dialer, this, { firstMs: settings.connectWindowMs, laterMs: settings.unavailableWaitMs });
  }

  /** The events of the shared link a pinned client is leaving: its replies still go to the client. */
  private leavingEvents(): LinkEvents {
    return {
      onUpstreamData: () => {},
      onUpstreamConnected: () => [],
      onUpstreamGone: () => {},
      onUpstreamUnreachable: () => {},
      onLinkWritable: () => {},
      mayBeClosedOnPurpose: () => false,
      onSharedReplyBytes: (bytes) => this.replies.onSharedBytes(bytes),
      onSharedReplyEnd: () => {},
      onClientBacklog: (bytes) => this.onClientBacklog(bytes),
    };
  }

  /** Everything sent on the shared connection is answered: the client's own connection opens. */
  private left(): void {
    this.leaving?.close();
    this.leaving = null;
    if (this.phase !== 'closed') this.current.start();
  }

  /**
   * The shared connection was lost while a pinned client's commands were still on it: they and
   * the ones waiting behind them all get the loss's error, then the client's own connection opens.
   */
  private leftByLoss(detail: string): void {
    const cut = this.leaving?.replyCut ?? false;
    this.leaving = null;
    if (cut || this.phase !== 'open') {
      this.close('upstream lost');
      return;
    }
    this.runtime.stats.disconnected('lost');
    const answers: Buffer[] = [];
    this.matcher.forEachPending((reply) => answers.push(reply ?? UPSTREAM_LOST));
    this.matcher.connectionLost();
    for (const a of answers) this.replies.deliver(a);
    this.runtime.log.warn('upstream connection lost', { listener: this.runtime.name, upstream: 'shared', pending: answers.length, error: detail });
    this.dropHeld();
    if (this.phase === 'open') this.current.start();
  }

  onLinkWritable(writable: boolean): void {
    this.pause(PAUSE_LINK_BLOCKED, !writable);
  }

  // --- the reply path's events -------------------------------------------------------------

  onUpstreamProtocolError(message: string): void {
    this.runtime.stats.upstreamProtocolErrors++;
    this.runtime.log.error('upstream protocol error', { listener: this.runtime.name, upstream: this.link.url, error: message });
    this.matcher.abandonPending();
    this.close('upstream protocol error');
  }

  /**
   * The upstream answered SYNC/PSYNC with a replication stream (an RDB payload with no CRLF after
   * it, then the command stream): from here on this session relays bytes both ways unchanged,
   * as socat does. Nothing is matched any more, and nothing is ever replayed into it.
   */
  onReplicationStarted(): void {
    this.state.replicating = true;
    this.matcher.abandonPending();
    this.pause(PAUSE_TOO_MANY_PENDING, false);
    this.runtime.log.info('replication stream', { listener: this.runtime.name, client: this.peer(), upstream: this.link.url });
  }

  afterReplies(): void {
    if (this.refusal !== null) return this.failRestore();
    if (this.link.restoring && this.matcher.replaying === 0) this.link.restored();
    if (this.paused & PAUSE_TOO_MANY_PENDING && this.matcher.pending <= this.runtime.settings.maxPendingCommands >> 1) {
      this.pause(PAUSE_TOO_MANY_PENDING, false);
    }
    if (this.matcher.clientPending > 0) return;
    if (this.phase === 'failing') this.close('client protocol error', [Buffer.from(`-ERR ${this.failure}\r\n`)]);
    else if (this.phase === 'draining') this.close('shutdown');
    // A shared connection does not close when the client is done: the session does.
    else if (this.phase === 'ending' && this.link.wholeFrames) this.close('client closed');
  }

  // --- the request path's events -----------------------------------------------------------

  onClientProtocolError(message: string): void {
    this.runtime.stats.clientProtocolErrors++;
    this.runtime.log.warn('client protocol error', { listener: this.runtime.name, client: this.peer(), error: message });
    this.phase = 'failing';
    this.failure = message;
    // Reading goes on (the 'data' handler discards it) so that a client hanging up is noticed.
    if (this.matcher.clientPending === 0) this.close('client protocol error', [Buffer.from(`-ERR ${message}\r\n`)]);
  }

  onRefusedInReplication(cmd: number): void {
    this.runtime.log.warn('command refused inside a replication stream; closing the client', {
      listener: this.runtime.name,
      client: this.peer(),
      cmd: TRAITS.names[cmd],
    });
    this.close('refused in a replication stream', [], true);
  }

  onTooManyPending(): void {
    this.pause(PAUSE_TOO_MANY_PENDING, true);
  }

  // --- the rest ------------------------------------------------------------------------------

  private onClientEnd(): void {
    // As redis-server frees a client at EOF: nothing more will be answered to a broken stream.
    if (this.phase === 'failing') return this.close('client closed', [], true);
    if (this.phase === 'closed') return;
    // Half-close, as socat does: the upstream still answers what was sent, then closes.
    if (this.phase === 'open') this.phase = 'ending';
    this.link.end();
    if (this.link.wholeFrames && this.matcher.clientPending === 0) this.close('client closed');
  }

  private onIdle(): void {
    // As Redis: a subscriber, a replica or a client waiting for a reply is not idle.
    const st = this.state;
    if (st.replicating || st.subscribed || st.monitoring || this.matcher.clientPending > 0) return;
    this.runtime.log.debug('idle client closed', { listener: this.runtime.name, client: this.peer() });
    this.close('idle', [], true);
  }

  private onRestoreAnswered(refusal: string | null): void {
    if (refusal === null) {
      this.restoreAnswered++;
      return;
    }
    const command = this.restoreList[this.restoreAnswered];
    if (command === undefined || this.refusal !== null) return;
    this.refusal = { command, error: refusal };
    this.replies.stop(); // nothing after it is read: the session ends
  }

  /**
   * The upstream refused a command that restores the connection. Going on would run the
   * client's commands in a state it never asked for (another user, another database), so the
   * client is closed, after an error for each command it is owed.
   */
  private failRestore(): void {
    const { command, error } = this.refusal!;
    const name = TRAITS.display(command.cmd);
    this.runtime.stats.replayFailed();
    const fields = { listener: this.runtime.name, upstream: this.link.url, command: name, error };
    let line: string;
    if (command.fromAmbassador) {
      this.runtime.log.error("the upstream refused the ambassador's own AUTH; closing the client", fields);
      line = `-ERR the upstream refused the ambassador's own AUTH (${error}): check ${command.settings ?? 'AMBASSADOR_UPSTREAM_USERNAME and AMBASSADOR_UPSTREAM_PASSWORD'}; closing\r\n`;
    } else {
      this.runtime.log.warn('connection state could not be restored after a reconnect; closing the client', fields);
      line = `-ERR the upstream refused the replayed ${name} (${error}) after a reconnect: this connection's state cannot be restored; closing\r\n`;
    }
    const answers: Buffer[] = [];
    this.matcher.forEachPending((reply) => answers.push(reply ?? Buffer.from(line)));
    if (answers.length === 0) answers.push(Buffer.from(line));
    this.matcher.abandonPending();
    this.close('replay refused', answers);
  }

  /**
   * At a new upstream connection, the client's certificate no longer maps to the ACL user it was
   * accepted as (AMBASSADOR_TLS_CLIENT_USERS_FILE changed). Going on as another user, or as the
   * default one, would change who it is behind its back: it is closed, each command it is owed
   * answered, and may connect again to be mapped anew.
   */
  private refuseIdentity(reason: string): void {
    this.runtime.stats.replayFailed();
    this.runtime.log.warn("the client's certificate identity no longer maps to its ACL user; closing the client", {
      listener: this.runtime.name,
      client: this.peer(),
      reason,
    });
    const line = Buffer.from("-ERR this connection's client certificate no longer maps to the ACL user it was accepted as; reconnect; closing\r\n");
    const answers: Buffer[] = [];
    this.matcher.forEachPending((reply) => answers.push(reply ?? line));
    if (answers.length === 0) answers.push(line);
    this.matcher.abandonPending();
    this.close('identity no longer mapped', answers);
  }

  /**
   * The server itself closed this client's connection: do what a direct client would see.
   * Replies already received have been delivered (and a reply cut short is passed on as far as
   * it came); nothing is replayed, and the client's socket is closed.
   */
  private closedByServer(evidence: string): void {
    this.runtime.stats.disconnected('closed_by_server');
    this.runtime.log.info('upstream closed the connection on purpose; closing the client', {
      listener: this.runtime.name,
      upstream: this.link.url,
      client: this.peer(),
      pending: this.matcher.clientPending,
      evidence,
    });
    this.replies.flushHeld();
    this.matcher.abandonPending();
    this.close('closed by the server');
  }

  /** The upstream connection failed (or was abandoned for a new master). */
  private lost(detail: string): void {
    const owed = this.matcher.clientPending;
    if (owed > 0 || (this.phase === 'open' && !this.state.quitSent)) {
      this.runtime.stats.disconnected('lost');
      this.runtime.log.warn('upstream connection lost', { listener: this.runtime.name, upstream: this.link.url, pending: owed, error: detail });
    }
    // A reply cut in half has partly reached the client: only closing is honest then. So is a
    // client that caches with CLIENT TRACKING: the invalidations it missed cannot be replayed.
    const cut = this.replies.replyCut || this.link.replyCut;
    const st = this.state;
    const canStay = this.runtime.settings.onUpstreamLoss === 'reconnect' && this.phase === 'open' && !st.quitSent && !st.replicating && !st.tracking && !cut;
    // In order: each command owed by the upstream gets the error, each local answer its reply.
    const answers: Buffer[] = [];
    if (!cut && !st.replicating) this.matcher.forEachPending((reply) => answers.push(reply ?? UPSTREAM_LOST));
    this.matcher.connectionLost();
    this.replies.connectionLost();
    if (!canStay) {
      if (this.phase === 'failing') answers.push(Buffer.from(`-ERR ${this.failure}\r\n`));
      this.close('upstream lost', answers);
      return;
    }
    for (const a of answers) this.replies.deliver(a);
    this.dialer.suspect(`a client's upstream connection was lost: ${detail}`);
    this.link.reconnect();
  }

  private pause(reason: number, on: boolean): void {
    const before = this.paused;
    this.paused = on ? before | reason : before & ~reason;
    if (before === 0 && this.paused !== 0) this.client.pause();
    else if (before !== 0 && this.paused === 0) this.client.resume();
  }

  /**
   * The one place a client is closed: the upstream side goes, `last` is written (errors owed),
   * then the client's socket is ended, or destroyed at once where nothing more may be said.
   */
  private close(reason: CloseReason, last: readonly Buffer[] = [], now = false): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeReason = reason;
    this.link.close();
    this.leaving?.close();
    this.replies.stop();
    if (now) {
      this.client.destroy();
      return;
    }
    for (const b of last) this.replies.deliver(b);
    this.client.end();
    this.client.destroySoon();
  }

  /** The client's socket closed, whoever closed it. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.phase !== 'closed') {
      this.phase = 'closed';
      this.link.close();
      this.leaving?.close();
    }
    this.runtime.log.debug('client closed', { listener: this.runtime.name, client: this.peer(), reason: this.closeReason });
    this.onClosed(this);
  }

  private peer(): string {
    return `${this.client.remoteAddress}:${this.client.remotePort}`;
  }
}
