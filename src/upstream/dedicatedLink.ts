/**
 * One upstream connection of the session's own (1:1, as socat has it), so MULTI/EXEC, WATCH,
 * SELECT, pub/sub, blocking commands, MONITOR and RESP3 keep their exact meaning. It connects
 * (retrying through the dialer), writes the restoring commands the session gives it and holds the
 * client's bytes until they are answered, carries bytes both ways with backpressure, and when
 * the connection ends asks whether that was Redis's decision before calling it a loss.
 */
import type net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';
import type { UpstreamUnreachable } from './connector.js';
import type { UpstreamDialer } from './dialer.js';
import type { UpstreamIdentity } from './healthCheck.js';
import type { LinkEvents, UpstreamLink } from './upstreamLink.js';
import { ConnectAttempt } from './connectAttempt.js';
import { abandonUpstream } from './upstreamSocket.js';

/** Bytes a client may send while it has no upstream, before its reading pauses. */
const HELD_LIMIT = 1024 * 1024;

type LinkState = 'connecting' | 'restoring' | 'live' | 'verifying' | 'down' | 'closed';

export class DedicatedLink implements UpstreamLink {
  readonly wholeFrames = false;
  /** The reply path's scanner knows where its replies stand (ReplyPath.replyCut). */
  readonly replyCut = false;
  private state: LinkState = 'connecting';
  private socket: net.Socket | null = null;
  private addr: UpstreamAddress | null = null;
  /** The server process the connection reached, for telling its decisions from failures. */
  private identity: UpstreamIdentity | null = null;
  /** A dial in progress, or the pause before the next (a client that stays after a window without any connection). */
  private readonly attempt = new ConnectAttempt();
  private held: Buffer[] = [];
  private heldBytes = 0;
  private ended = false;
  private blocked = false;
  private hadConnection = false;

  constructor(
    private readonly dialer: UpstreamDialer,
    private readonly events: LinkEvents,
    /** How long the first connection is retried, and how long later ones are. */
    private readonly windows: { readonly firstMs: number; readonly laterMs: number },
  ) {}

  get url(): string | null {
    return this.addr?.url ?? null;
  }

  get restoring(): boolean {
    return this.state === 'restoring';
  }

  get live(): boolean {
    return this.state === 'live';
  }

  start(): void {
    this.connect(this.windows.firstMs);
  }

  send(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.state === 'live') {
      if (!this.socket!.write(bytes)) this.setBlocked(true);
      return;
    }
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    if (this.heldBytes > HELD_LIMIT) this.setBlocked(true);
  }

  restored(): void {
    if (this.state !== 'restoring') return;
    this.goLive();
  }

  pauseReplies(): void {
    // Backpressure: the upstream's replies wait in Redis's output buffer, not in ours.
    this.socket?.pause();
  }

  resumeReplies(): void {
    this.socket?.resume();
  }

  end(): void {
    this.ended = true;
    if (this.state === 'live') this.socket!.end();
  }

  reconnect(): void {
    if (this.state !== 'down') return;
    this.connect(this.windows.laterMs);
  }

  retryLater(): void {
    this.state = 'connecting';
    this.attempt.retryLater(() => {
      if (this.state === 'connecting') this.connect(this.windows.laterMs);
    });
  }

  retarget(reason: string): void {
    if (this.state === 'connecting') {
      // Do not sit out a backoff delay aimed at the old address: try the new master now.
      if (this.dialer.current() === null) return;
      this.attempt.stop();
      this.connect(this.hadConnection ? this.windows.laterMs : this.windows.firstMs);
      return;
    }
    if (this.state !== 'live' && this.state !== 'restoring') return;
    if (this.dialer.current()?.url === this.addr?.url) return;
    this.detach();
    this.state = 'down';
    this.events.onUpstreamGone('lost', `master moved (${reason})`);
    this.setBlocked(false);
  }

  discardHeld(): void {
    this.held = [];
    this.heldBytes = 0;
    this.setBlocked(false);
  }

  close(): void {
    this.state = 'closed';
    this.attempt.stop();
    this.detach();
    this.held = [];
    this.heldBytes = 0;
  }

  private connect(windowMs: number): void {
    this.state = 'connecting';
    this.attempt.dial(this.dialer, windowMs, (err, socket, addr) => {
      if (err !== null) this.onUnreachable(err);
      else this.onConnected(socket!, addr!);
    });
  }

  private onUnreachable(err: UpstreamUnreachable): void {
    if (this.state === 'closed') return;
    this.state = 'down';
    this.events.onUpstreamUnreachable(err, !this.hadConnection);
  }

  private onConnected(up: net.Socket, addr: UpstreamAddress): void {
    if (this.state === 'closed') {
      up.destroy();
      return;
    }
    const reconnect = this.hadConnection;
    this.hadConnection = true;
    this.socket = up;
    this.addr = addr;
    this.identity = this.dialer.identityOf(addr);
    up.on('data', (chunk: Buffer) => this.events.onUpstreamData(chunk));
    up.on('drain', () => this.setBlocked(false));
    up.on('end', () => this.onGone(up, null));
    up.on('error', (err) => this.onGone(up, err));
    up.on('close', () => this.onGone(up, null));
    // The ambassador's own AUTH first, then (after a loss) the client's state, then its commands:
    // nothing of the client's may run before that state is back (a refused AUTH would otherwise
    // leave its commands running as the default user).
    const restore = this.events.onUpstreamConnected(reconnect);
    // The session may have closed its client instead (its certificate identity no longer maps
    // to the user it was accepted as): nothing may be written on this connection then.
    if ((this.state as LinkState) === 'closed') return;
    for (const c of restore) up.write(c.bytes);
    this.state = 'restoring';
    if (!restore.some((c) => !c.expectError)) this.goLive();
  }

  private goLive(): void {
    this.state = 'live';
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    let blocked = false;
    for (const b of held) if (!this.socket!.write(b)) blocked = true;
    this.setBlocked(blocked);
    if (this.ended) this.socket!.end();
  }

  private onGone(up: net.Socket, err: Error | null): void {
    if (up !== this.socket || this.state === 'closed') return;
    this.detach();
    const lost = (detail: string): void => {
      this.state = 'down';
      this.events.onUpstreamGone('lost', detail);
      // A write to a dead socket returns false and its 'drain' never comes: that pause is over.
      this.setBlocked(false);
    };
    const identity = this.identity;
    if (identity === null || !mayBeDeliberate(err) || !this.events.mayBeClosedOnPurpose()) {
      lost(err?.message ?? 'closed by upstream');
      return;
    }
    // While the answer is awaited no client command is read: if this turns out to be a
    // failure, everything read before it is answered "connection lost", and nothing after it.
    this.state = 'verifying';
    this.setBlocked(true);
    this.dialer.verify(this.addr!, identity, (same, evidence) => {
      if (this.state !== 'verifying') return; // closed meanwhile
      this.state = 'down';
      this.events.onUpstreamGone(same ? 'closed_by_server' : 'lost', same ? evidence : `closed by upstream (${evidence})`);
      this.setBlocked(false);
    });
  }

  /** Forgets the upstream socket; its late events are ignored. */
  private detach(): void {
    const up = this.socket;
    if (up === null) return;
    this.socket = null;
    abandonUpstream(up);
  }

  private setBlocked(blocked: boolean): void {
    if (blocked === this.blocked) return;
    this.blocked = blocked;
    this.events.onLinkWritable(!blocked);
  }
}

/**
 * Redis closes clients on purpose (CLIENT KILL, `timeout`, client-output-buffer-limit) with a
 * FIN, or a reset when input was left unread; a timeout or an unreachable host is a failure.
 */
function mayBeDeliberate(err: Error | null): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return err === null || code === 'ECONNRESET' || code === 'EPIPE';
}
