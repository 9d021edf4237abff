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

/**
 * Whole frames that follow each other in one client chunk are queued as one, up to this size: a
 * pipelining client's commands go in one write, and a round still takes no more than this from it.
 */
const MERGE_LIMIT = 16 * 1024;
const EMPTY = Buffer.alloc(0);

export class SharedLink implements UpstreamLink, SharedOwner {
  readonly wholeFrames = true;
  readonly restoring = false;
  queued = false;
  // A queue with a moving head (shift() copies a long array): frames, and the commands in each.
  private frames: Buffer[] = [];
  private commands: number[] = [];
  private head = 0;
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
    return this.head < this.frames.length;
  }

  /** Nothing of the session's is waiting to be written or waiting for its reply. */
  get settled(): boolean {
    return this.inFlight === 0 && !this.hasFrames;
  }

  start(): void {
    this.conn = this.pool.assign();
    this.conn.join(this);
  }

  send(frame: Buffer): void {
    if (frame.length === 0 || this.isClosed) return;
    // Idle on a connection that is down: another may be up.
    if (this.inFlight === 0 && !this.hasFrames && !this.conn!.live) this.move();
    const last = this.frames.length - 1;
    const prev = last >= this.head ? this.frames[last]! : null;
    if (prev !== null && prev.buffer === frame.buffer && prev.byteOffset + prev.length === frame.byteOffset && prev.length + frame.length <= MERGE_LIMIT) {
      this.frames[last] = Buffer.from(prev.buffer, prev.byteOffset, prev.length + frame.length);
      this.commands[last]!++;
    } else {
      this.frames.push(frame);
      this.commands.push(1);
    }
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
    if (!this.hasFrames) return undefined;
    const frame = this.frames[this.head]!;
    this.frames[this.head] = EMPTY;
    this.head++;
    return frame;
  }

  onWritten(): number {
    const n = this.commands[this.head - 1]!;
    this.inFlight += n;
    if (this.head === this.frames.length) this.clearFrames();
    else if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.commands = this.commands.slice(this.head);
      this.head = 0;
    }
    return n;
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
    this.clearFrames();
    this.events.onUpstreamGone('lost', detail);
    this.partReply = false;
  }

  onUnreachable(err: UpstreamUnreachable): void {
    this.clearFrames();
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
    this.clearFrames();
  }

  close(): void {
    this.isClosed = true;
    this.clearFrames();
    this.conn?.leave(this);
  }

  private clearFrames(): void {
    this.frames = [];
    this.commands = [];
    this.head = 0;
  }

  private move(): void {
    this.conn!.leave(this);
    this.conn = this.pool.assign();
    this.conn.join(this);
  }
}
