/**
 * A session's place on a shared upstream connection (AMBASSADOR_UPSTREAM_MODE=shared). It is
 * given whole request frames, queues them for the connection's next write, and passes on the
 * replies the connection hands it. A session stays on one connection while it has commands in
 * flight, so its replies come in its order; it may move when idle and its connection is down.
 */
import type { RespScanner } from '../resp/scanner.js';
import type { UpstreamUnreachable } from './connector.js';
import type { SharedConnection, SharedOwner } from './sharedConnection.js';
import type { SharedPool } from './sharedPool.js';
import type { LinkEvents, UpstreamLink } from './upstreamLink.js';

export class SharedLink implements UpstreamLink, SharedOwner {
  readonly wholeFrames = true;
  readonly restoring = false;
  queued = false;
  private frames: Buffer[] = [];
  private inFlight = 0;
  private conn: SharedConnection | null = null;
  private isClosed = false;
  /** Bytes of a reply have reached the session and its end has not. */
  private partReply = false;

  constructor(
    private readonly pool: SharedPool,
    private events: LinkEvents,
  ) {}

  get live(): boolean {
    return this.conn?.live ?? false;
  }

  get url(): string | null {
    return this.conn?.url ?? null;
  }

  get replyCut(): boolean {
    return this.partReply;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get hasFrames(): boolean {
    return this.frames.length > 0;
  }

  /** Nothing of the session's is waiting to be written or waiting for its reply. */
  get settled(): boolean {
    return this.inFlight === 0 && this.frames.length === 0;
  }

  start(): void {
    this.conn = this.pool.assign();
    this.conn.join(this);
  }

  send(frame: Buffer): void {
    if (frame.length === 0 || this.isClosed) return;
    // Idle on a connection that is down: another may be up.
    if (this.inFlight === 0 && this.frames.length === 0 && !this.conn!.live) this.move();
    this.frames.push(frame);
    this.conn!.enqueue(this);
  }

  /**
   * From now on another receives this link's events: a session leaving for a connection of its
   * own still gets the replies to what it sent here, and learns of a loss in its own way.
   */
  redirect(events: LinkEvents): void {
    this.events = events;
  }

  takeFrame(): Buffer | undefined {
    return this.frames.shift();
  }

  onWritten(): void {
    this.inFlight++;
  }

  onReplyBytes(bytes: Buffer): void {
    this.partReply = true;
    this.events.onSharedReplyBytes(bytes);
  }

  onReplyEnd(frame: RespScanner, now: number): void {
    this.partReply = false;
    this.inFlight--;
    this.events.onSharedReplyEnd(frame, now);
  }

  onConnectionLost(detail: string): void {
    this.inFlight = 0;
    this.frames = [];
    this.events.onUpstreamGone('lost', detail);
    this.partReply = false;
  }

  onUnreachable(err: UpstreamUnreachable): void {
    this.frames = [];
    this.events.onUpstreamUnreachable(err, false);
  }

  onWritable(writable: boolean): void {
    this.events.onLinkWritable(writable);
  }

  restored(): void {}

  /** The connection cannot slow down for one client: the session decides (pause it, or close it). */
  pauseReplies(buffered: number): void {
    this.events.onClientBacklog(buffered);
  }

  resumeReplies(): void {
    this.events.onClientBacklog(0);
  }

  /** The client half-closed: nothing to tell a shared connection; the session closes when all is answered. */
  end(): void {}

  /** After a loss the next frame goes to a live connection, if there is one. */
  reconnect(): void {}

  retryLater(): void {}

  /** The pool follows the master for all its sessions. */
  retarget(): void {}

  discardHeld(): void {
    this.frames = [];
  }

  close(): void {
    this.isClosed = true;
    this.frames = [];
    this.conn?.leave(this);
  }

  private move(): void {
    this.conn!.leave(this);
    this.conn = this.pool.assign();
    this.conn.join(this);
  }
}
