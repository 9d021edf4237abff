/**
 * Upstream bytes → reply scanner → matcher → client. Whole chunks go to the client unchanged.
 * Frame by frame — replies between them still passed on together, in one write — while replies
 * to the ambassador's own commands (a replayed state) or its own local answers are due, so those
 * never reach the client and local answers take their turn, and always on a cluster listener,
 * where a reply that names nodes is rewritten (ClusterRewriter). A SYNC/PSYNC's reply is looked at
 * before it is scanned: a replication stream is not RESP, and from its first byte on everything
 * is relayed raw.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { RespScanner } from '../resp/scanner.js';
import { TRAITS } from '../resp/commandTraits.js';
import { tokenStartsWith } from '../resp/frameView.js';
import { RESP_TYPE } from '../resp/scanner.js';
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
  // Frame by frame: the chunk; where the bytes not yet written begin, and where its last complete
  // frame ended; the start of a frame begun in an earlier chunk, held until it is known whether
  // it goes on unchanged; or else whether that frame is being passed on as it streams.
  private chunk: Buffer | null = null;
  private byFrame = false;
  private passStart = 0;
  private lastEnd = 0;
  private held: Buffer | null = null;
  private passing = false;
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
    return this.readScanner !== null && !this.readScanner.atBoundary && (!this.byFrame || this.passing);
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
    const m = this.matcher;
    this.byFrame = m.internalPending || m.localPending || this.held !== null || this.passing || this.runtime.cluster !== null;
    this.passStart = 0;
    this.lastEnd = 0;
    this.scanner.feed(chunk);
    this.chunk = null;
    if (this.stopped) {
      this.flush(chunk, this.lastEnd);
      return this.events.afterReplies();
    }
    if (this.syncAt >= 0) return this.lookAtSyncReply(chunk);
    if (this.scanner.failed) return;
    if (!this.byFrame) this.toClient(chunk);
    else this.afterChunk(chunk);
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
    this.passing = false;
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
          if (this.byFrame) this.frameDone(s, end, internal);
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
    else this.flush(chunk, at);
    this.readScanner = null;
    this.replicationDue = true;
    if (at < chunk.length) this.onUpstreamData(chunk.subarray(at));
    else this.events.afterReplies();
  }

  /**
   * Frame by frame, a frame ended at `end`: the ambassador's own reply is cut out, one that names
   * cluster nodes is rewritten, any other stays among the bytes passed on together.
   */
  private frameDone(s: RespScanner, end: number, internal: boolean): void {
    const chunk = this.chunk!;
    // Where the frame began in this chunk, or -1 when it began in an earlier one.
    const began = this.held === null && !this.passing ? this.lastEnd : -1;
    if (this.passing) {
      this.passing = false; // streamed as it came: the rest of it is among the bytes to pass on
    } else if (internal) {
      this.flush(chunk, Math.max(began, 0));
      this.held = null;
      this.passStart = end;
    } else {
      const bytes = (): Buffer => (this.held !== null ? Buffer.concat([this.held, chunk.subarray(0, end)]) : chunk.subarray(began, end));
      const rewritten = this.runtime.cluster !== null ? this.rewritten(s, bytes) : null;
      if (rewritten !== null) {
        this.flush(chunk, Math.max(began, 0));
        this.toClient(rewritten);
        this.held = null;
        this.passStart = end;
      } else if (this.held !== null) {
        this.toClient(this.held);
        this.held = null;
      }
    }
    this.lastEnd = end;
    if (this.matcher.localHeadReady) {
      this.flush(chunk, end);
      this.emitLocal();
    }
  }

  /** A cluster reply that names nodes, rewritten; null when it goes on as it is. */
  private rewritten(s: RespScanner, bytes: () => Buffer): Buffer | null {
    const cluster = this.runtime.cluster!;
    const host = cluster.announceHost ?? clientFacingHost(this.client);
    if (s.frameType === RESP_TYPE.ERROR) {
      if (!tokenStartsWith(s, 0, 'moved ') && !tokenStartsWith(s, 0, 'ask ')) return null;
      const r = cluster.rewriter.redirect(bytes(), host);
      if (r === null) return null;
      cluster.onRedirect(r.kind);
      return r.bytes;
    }
    const cmd = this.matcher.answered;
    const naming = cmd >= 0 ? TRAITS.naming[cmd] : null;
    if (naming !== null && naming !== undefined) return cluster.rewriter.rewrite(naming, bytes(), host);
    const inside = this.matcher.answeredNamings;
    return inside === null ? null : cluster.rewriter.rewriteTransaction(inside, bytes(), host);
  }

  /** The chunk ended: a frame still arriving is held, or passed on as it streams. */
  private afterChunk(chunk: Buffer): void {
    if (this.scanner.atBoundary || this.passing) return this.flush(chunk, chunk.length);
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, chunk]);
      return;
    }
    this.flush(chunk, this.lastEnd);
    // Held whole where a loss before its end can still be answered honestly (a reply the client
    // never saw part of); on a cluster listener, which goes frame by frame all the time, only
    // where it may be rewritten, so large values stream.
    const next = this.matcher.headCommand;
    const candidate = chunk[this.lastEnd] === MINUS || (next >= 0 && TRAITS.naming[next] !== null) || this.matcher.headNamesNodes;
    const hold = this.runtime.cluster === null || this.matcher.headInternal || candidate;
    if (hold) this.held = chunk.subarray(this.lastEnd);
    else {
      this.passing = true;
      this.flush(chunk, chunk.length);
    }
  }

  /** Writes the bytes from where writing stopped up to `upTo`. */
  private flush(chunk: Buffer, upTo: number): void {
    if (upTo > this.passStart) this.toClient(chunk.subarray(this.passStart, upTo));
    this.passStart = Math.max(this.passStart, upTo);
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
    if (chunk !== null && goodEnd > 0) {
      if (this.byFrame) this.flush(chunk, this.lastEnd);
      else this.toClient(chunk.subarray(0, goodEnd));
    }
    this.events.onUpstreamProtocolError(message);
  }
}

/** The address the client reached the ambassador at (an IPv4 one without its IPv6 mapping). */
function clientFacingHost(client: net.Socket): string {
  const a = client.localAddress ?? '127.0.0.1';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}
