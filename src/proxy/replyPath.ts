/**
 * Upstream bytes → reply scanner → matcher → client. Whole chunks go to the client unchanged;
 * only while replies to the ambassador's own commands (a replayed state) or its own local answers
 * are due are replies cut out frame by frame, so those never reach the client and local answers
 * take their turn. A SYNC/PSYNC's reply is looked at before it is scanned: a replication stream
 * is not RESP, and from its first byte on everything is relayed raw.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { RespScanner } from '../resp/scanner.js';
import type { ConnectionState } from './connectionState.js';
import type { LinkHolder } from './linkHolder.js';
import type { ListenerRuntime } from './listenerRuntime.js';
import type { ReplyMatcher } from './replyMatcher.js';

const MINUS = 0x2d;
const PUSH = 0x3e;

export interface ReplyEvents {
  /** The upstream sent bytes that are not RESP: nothing more can be delimited. */
  onUpstreamProtocolError(message: string): void;
  /** A SYNC/PSYNC was answered with a replication stream. */
  onReplicationStarted(): void;
  /** The replies of a chunk were handled (the pending counts may have changed). */
  afterReplies(): void;
}

export class ReplyPath {
  /** Made at the first upstream byte: in shared mode a client that is never pinned never needs one. */
  private readScanner: RespScanner | null = null;
  /** Timestamp shared by every frame of the chunk being scanned (one clock read per chunk). */
  private now = 0;
  // Frame by frame, while internal or local replies are due: the chunk, what of it was passed
  // on, and the start of a frame begun in an earlier chunk, held until it is known to be the client's.
  private chunk: Buffer | null = null;
  private byFrame = false;
  private sent = 0;
  private held: Buffer | null = null;
  /** A SYNC/PSYNC's reply begins with the next byte; `syncAt` is where it begins in the chunk being scanned. */
  private replicationDue = false;
  private syncAt = -1;
  private stopped = false;
  /** Shared mode: the client's socket is corked until the end of this turn of the event loop. */
  private corked = false;

  constructor(
    private readonly client: net.Socket,
    private readonly runtime: ListenerRuntime,
    private readonly matcher: ReplyMatcher,
    private readonly state: ConnectionState,
    private readonly links: LinkHolder,
    private readonly events: ReplyEvents,
  ) {}

  private get scanner(): RespScanner {
    return (this.readScanner ??= this.newScanner());
  }

  /** True when a reply is partly passed to the client: the stream cannot be resumed elsewhere. */
  get replyCut(): boolean {
    return this.readScanner !== null && !this.readScanner.atBoundary && !this.byFrame;
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.state.replicating) {
      this.toClient(chunk);
      return;
    }
    if (this.replicationDue) {
      this.replicationDue = false;
      // SYNC/PSYNC is answered with an error line, or with a stream: "\n" keep-alives,
      // +FULLRESYNC/+CONTINUE, or (SYNC) the RDB payload's "$<length>" at once. A RESP3 push
      // (an invalidation) may come first; it is scanned, and the look is taken after it.
      if (chunk[0] !== MINUS && chunk[0] !== PUSH) {
        this.events.onReplicationStarted();
        this.toClient(chunk);
        return;
      }
    }
    this.now = performance.now();
    this.chunk = chunk;
    this.byFrame = this.matcher.internalPending || this.matcher.localPending || this.held !== null;
    this.sent = 0;
    this.scanner.feed(chunk);
    this.chunk = null;
    if (this.stopped) return this.events.afterReplies();
    if (this.syncAt >= 0) return this.lookAtSyncReply(chunk);
    if (this.scanner.failed) return;
    if (!this.byFrame) this.toClient(chunk);
    else if (this.sent < chunk.length) {
      const rest = chunk.subarray(this.sent);
      this.held = this.held === null ? rest : Buffer.concat([this.held, rest]);
    }
    this.events.afterReplies();
  }

  /** Shared mode: bytes of the reply to the client's oldest command in flight, passed on as they arrive. */
  onSharedBytes(bytes: Buffer): void {
    if (!this.corked) {
      // A reply at a time would be a write (a syscall) per command: what the shared connection
      // hands this client in one turn goes out in one write.
      this.corked = true;
      this.client.cork();
      process.nextTick(this.uncork);
    }
    this.toClient(bytes);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.client.uncork();
  };

  /** Shared mode: that reply ended; `frame` is the shared connection's scanner, describing it. */
  onSharedFrameEnd(frame: RespScanner, now: number): void {
    this.matcher.onReply(frame, now);
    this.emitLocal();
    this.events.afterReplies();
  }

  /** A command the ambassador answers itself (the gate refused it), in its turn among the replies. */
  answerLocally(cmd: number, now: number, reply: Buffer, counted = false): void {
    this.matcher.pushLocal(cmd, now, reply, counted);
    this.emitLocal();
  }

  /** A SYNC/PSYNC was sent with nothing before it: the next reply byte decides. */
  expectReplicationReply(): void {
    if (this.readScanner === null || this.readScanner.atBoundary) this.replicationDue = true;
  }

  /** Nothing more is read (the session is ending). */
  stop(): void {
    this.stopped = true;
    this.scanner.stop();
  }

  /** The upstream connection is gone: the next one starts at a frame boundary. */
  connectionLost(): void {
    this.readScanner = null;
    this.held = null;
    this.replicationDue = false;
    this.syncAt = -1;
  }

  /** Bytes the session owes the client itself (errors for commands the upstream will never answer). */
  deliver(bytes: Buffer): void {
    this.toClient(bytes);
  }

  /** Redis closed the connection itself: a reply cut short reaches the client as far as it came. */
  flushHeld(): void {
    if (this.held !== null) this.toClient(this.held);
    this.held = null;
  }

  private newScanner(): RespScanner {
    return new RespScanner(
      'reply',
      {
        onFrame: (s, end) => {
          const internal = this.matcher.onReply(s, this.now);
          if (this.byFrame) this.frameDone(end, internal);
          if (this.matcher.replicationReplyDue && this.syncAt < 0) {
            // What follows may be a replication stream, which is not RESP: stop here and look.
            this.syncAt = end;
            this.scanner.stop();
          }
        },
        onProtocolError: (message, goodEnd) => this.onProtocolError(message, goodEnd),
      },
      { limits: this.runtime.settings.limits, lean: true, arrays: this.matcher },
    );
  }

  /** The scanner stopped where a SYNC/PSYNC's reply begins: pass what came before, look at the rest. */
  private lookAtSyncReply(chunk: Buffer): void {
    const at = this.syncAt;
    this.syncAt = -1;
    if (!this.byFrame) this.toClient(chunk.subarray(0, at));
    this.readScanner = null;
    this.replicationDue = true;
    if (at < chunk.length) this.onUpstreamData(chunk.subarray(at));
    else this.events.afterReplies();
  }

  private frameDone(end: number, internal: boolean): void {
    const chunk = this.chunk!;
    if (!internal) {
      if (this.held !== null) this.toClient(this.held);
      this.toClient(chunk.subarray(this.sent, end));
    }
    this.held = null;
    this.sent = end;
    this.emitLocal();
  }

  /** Local answers whose turn has come (every reply before them has been delivered). */
  private emitLocal(): void {
    for (let reply = this.matcher.takeLocalHead(); reply !== null; reply = this.matcher.takeLocalHead()) this.toClient(reply);
  }

  private toClient(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.runtime.perCommand) this.runtime.stats.bytesOut += bytes.length;
    if (!this.client.write(bytes)) this.links.link.pauseReplies(this.client.writableLength);
  }

  private onProtocolError(message: string, goodEnd: number): void {
    // Complete replies before the bad bytes still reach the client; nothing after them can.
    const chunk = this.chunk;
    if (chunk !== null && !this.byFrame && goodEnd > 0) this.toClient(chunk.subarray(0, goodEnd));
    this.events.onUpstreamProtocolError(message);
  }
}
