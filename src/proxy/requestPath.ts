/**
 * Client bytes → request scanner → gate → upstream link. Bytes go through unchanged, whole
 * chunks at a time; the scanner only watches them go by to name each command (for the matcher,
 * the gate and the connection state) and to refuse bad input the way redis-server would. With a
 * gate (AMBASSADOR_REQUIREPASS or a command policy) a frame may be held back until its fate is
 * known, answered by the ambassador itself, or rewritten.
 */
import { decodeCommand } from '../resp/commandCodec.js';
import { COMMAND_INDEX } from '../resp/commandIndex.js';
import { ROLE, TRAITS } from '../resp/commandTraits.js';
import { RespScanner } from '../resp/scanner.js';
import type { PinReason } from '../resp/commandTraits.js';
import { TRANSACTION_POISON, type ConnectionState } from './connectionState.js';
import type { LinkHolder } from './linkHolder.js';
import type { ListenerRuntime } from './listenerRuntime.js';
import type { ReplyMatcher } from './replyMatcher.js';
import type { ReplyPath } from './replyPath.js';
import type { RequestGate, Verdict } from './requestGate.js';
import { pinReason } from './pinning.js';

/** Largest partial request kept to recover a state command's arguments (SUBSCRIBE to many channels). */
const PARTIAL_FRAME_LIMIT = 1024 * 1024;
const FORWARD: Verdict = { kind: 'forward' };
const OK = Buffer.from('+OK\r\n');
const TOO_LARGE_TO_CHECK: Verdict = {
  kind: 'local',
  reply: Buffer.from('-ERR command too large for the ambassador to check (over 1 MB before its arguments were known)\r\n'),
  reason: 'policy',
};

export interface RequestEvents {
  /** Bytes that are not a request Redis would accept: `message` is Redis's own error text. */
  onClientProtocolError(message: string): void;
  /** A command the gate would not pass arrived inside a replication stream (nothing can be answered there). */
  onRefusedInReplication(cmd: number): void;
  /** Too many commands in flight: stop reading the client until replies catch up. */
  onTooManyPending(): void;
  /** Shared mode: this client needs an upstream connection of its own from this command on. */
  onPin(reason: PinReason): void;
  /** Shared mode: QUIT was answered here (a shared connection must not be closed); close once all is answered. */
  onQuit(): void;
}

export class RequestPath {
  private readonly scanner: RespScanner;
  /** Timestamp shared by every frame of the chunk being scanned (one clock read per chunk). */
  private now = 0;
  // The chunk being scanned, how much of it is already sent, where its last frame ended, and
  // the bytes of a frame begun in earlier chunks (to decode state commands), or null past 1 MB.
  private chunk: Buffer | null = null;
  private sent = 0;
  private frameStart = 0;
  private partial: Buffer[] | null = [];
  private partialBytes = 0;
  // With a gate: the fate of the frame in progress, and whether its bytes so far were held back.
  private verdict: Verdict | 'wait' | null = null;
  private holding = false;
  /** A frame in progress is kept up to this size; in shared mode at least up to the pin bound. */
  private readonly partialLimit: number;

  constructor(
    private readonly runtime: ListenerRuntime,
    private readonly gate: RequestGate | null,
    private readonly matcher: ReplyMatcher,
    private readonly state: ConnectionState,
    private readonly links: LinkHolder,
    private readonly replies: ReplyPath,
    private readonly events: RequestEvents,
  ) {
    this.partialLimit = runtime.sharedPool === null ? PARTIAL_FRAME_LIMIT : Math.max(PARTIAL_FRAME_LIMIT, runtime.settings.sharedMaxFrameBytes);
    this.scanner = new RespScanner(
      'request',
      {
        onFrame: (s, end) => this.onFrame(s, end),
        onProtocolError: (message, goodEnd) => this.onProtocolError(message, goodEnd),
        tokensWanted: (s) => COMMAND_INDEX.tokensWanted(s),
        ...(gate !== null ? { onCommandName: (s: RespScanner) => this.onCommandName(s) } : {}),
      },
      { limits: runtime.settings.limits },
    );
  }

  get atBoundary(): boolean {
    return this.scanner.atBoundary;
  }

  /**
   * The bytes of the frame in progress, to be sent again after its earlier bytes were dropped:
   * [] at a frame boundary, null when they were not all kept (over 1 MB).
   */
  partialFrame(): Buffer[] | null {
    return this.scanner.atBoundary ? [] : this.partial === null ? null : [...this.partial];
  }

  onData(chunk: Buffer, now: number): void {
    if (this.runtime.perCommand) this.runtime.stats.bytesIn += chunk.length;
    if (this.state.replicating && this.gate === null) {
      // A replica's REPLCONF ACKs get no replies: nothing to match, the bytes just go.
      this.links.link.send(chunk);
      return;
    }
    this.now = now;
    this.chunk = chunk;
    this.sent = 0;
    this.frameStart = 0;
    this.scanner.feed(chunk);
    this.chunk = null;
    if (this.scanner.failed) return; // the valid prefix was sent by onProtocolError
    if (this.links.link.wholeFrames) this.keepTail(chunk);
    else this.sendChunk(chunk);
    if (this.matcher.pending > this.runtime.settings.maxPendingCommands) this.events.onTooManyPending();
  }

  /** Bytes go on a chunk at a time; with a gate, a frame in progress may be held back. */
  private sendChunk(chunk: Buffer): void {
    const link = this.links.link;
    const kind = this.verdictKind();
    if (this.gate !== null && !this.scanner.atBoundary && kind !== 'forward') {
      // The frame in progress may not go upstream (yet): send what precedes it, hold it back.
      link.send(chunk.subarray(this.sent, this.frameStart));
      if (kind !== 'local') this.holding = true;
    } else {
      link.send(this.sent === 0 ? chunk : chunk.subarray(this.sent));
    }
    if (!this.scanner.atBoundary) {
      const tail = chunk.subarray(this.frameStart);
      if (this.holding && this.partialBytes + tail.length > PARTIAL_FRAME_LIMIT) this.decideTooLarge(tail);
      this.keepPartial(tail);
    }
  }

  /**
   * Shared mode: only whole frames go to a shared connection, so a frame in progress is kept
   * until it ends; one too large to keep pins its client, and streams from here on.
   */
  private keepTail(chunk: Buffer): void {
    if (this.scanner.atBoundary) return;
    const tail = chunk.subarray(this.frameStart);
    if (this.partialBytes + tail.length <= this.runtime.settings.sharedMaxFrameBytes) {
      this.keepPartial(tail);
      return;
    }
    const kept = this.partial ?? [];
    this.events.onPin('large');
    for (const b of kept) this.links.link.send(b);
    this.links.link.send(tail);
    this.keepPartial(tail);
  }

  /**
   * A held frame too big to hold back any longer: decide with the tokens that have arrived (the
   * name, and a subcommand) rather than keep buffering; a frame the gate would not pass is
   * dropped as it streams and answered at its end.
   */
  private decideTooLarge(tail: Buffer): void {
    const verdict = this.gate!.final(COMMAND_INDEX.lookup(this.scanner), null);
    if (verdict.kind === 'forward') {
      this.releaseHeld();
      this.links.link.send(tail);
      this.verdict = FORWARD;
    } else {
      this.holding = false;
      // A rewrite needs the decoded arguments, which a frame this large never has: refuse it
      // rather than let it through unchecked.
      this.verdict = verdict.kind === 'local' ? verdict : TOO_LARGE_TO_CHECK;
    }
  }

  /** With a gate: the command's name is known; decide now whether its bytes may flow upstream. */
  private onCommandName(s: RespScanner): void {
    this.verdict = this.gate!.early(COMMAND_INDEX.lookup(s));
    const kind = this.verdictKind();
    if (kind === 'forward') this.releaseHeld();
    else if (kind === 'local') this.holding = false;
  }

  private verdictKind(): 'forward' | 'local' | 'rewrite' | 'wait' | null {
    const v = this.verdict;
    return v === null ? null : v === 'wait' ? 'wait' : v.kind;
  }

  /** Held-back bytes of the frame in progress go upstream after all (whole frames go at their end). */
  private releaseHeld(): void {
    if (!this.holding) return;
    this.holding = false;
    if (!this.links.link.wholeFrames) for (const b of this.partial ?? []) this.links.link.send(b);
  }

  private onFrame(s: RespScanner, end: number): void {
    // Looked up again with every token: at the name only the parent of a subcommand was known.
    const id = s.frameCount > 0 ? COMMAND_INDEX.lookup(s) : 0;
    if (this.state.replicating) {
      this.replicaFrame(id, s.frameCount > 0);
    } else {
      const args = s.frameCount > 0 ? this.argsOf(id, end) : null;
      const verdict = this.gate !== null && s.frameCount > 0 ? this.finalVerdict(id, args) : FORWARD;
      if (verdict.kind === 'forward') this.forward(s, id, end, args);
      else this.answerOrRewrite(s, id, verdict, end);
    }
    this.frameStart = end;
    this.partial = [];
    this.partialBytes = 0;
  }

  /** The decoded arguments, where the gate or the connection state needs them. */
  private argsOf(id: number, end: number): Buffer[] | null {
    // Inside MULTI only the subscribe family's are: they take effect when EXEC commits.
    const stateArgs = TRAITS.wantsArgs[id] === 1 && (!this.state.inMulti || TRAITS.category[id] === 'pubsub');
    const wanted = (this.gate !== null && this.gate.needsArgs(id)) || stateArgs;
    if (!wanted) return null;
    const frame = this.frameBytes(end);
    if (frame === null) {
      this.runtime.log.warn('command too large to remember for replay', { listener: this.runtime.name });
      return null;
    }
    return decodeCommand(frame);
  }

  private finalVerdict(id: number, args: Buffer[] | null): Verdict {
    const v = this.verdict;
    this.verdict = null;
    return v === null || v === 'wait' ? this.gate!.final(id, args) : v;
  }

  private forward(s: RespScanner, id: number, end: number, args: Buffer[] | null): void {
    if (this.links.link.wholeFrames && s.frameCount > 0 && !this.shareable(s, id, args)) return;
    this.releaseHeld();
    this.matcher.onRequest(s, id, this.now, args);
    if (this.links.link.wholeFrames) {
      if (s.frameCount > 0) this.sendFrame(end); // Redis ignores an empty command: so can a shared connection
      return;
    }
    // A SYNC/PSYNC: its reply may begin a replication stream, which is not RESP.
    if (this.matcher.replicationReplyDue) this.replies.expectReplicationReply();
    if (TRAITS.role[id] === ROLE.MULTI && this.state.watchLost && this.state.inMulti) {
      // The WATCHes this transaction relies on were on the lost connection: make its EXEC fail.
      this.state.watchLost = false;
      this.links.link.send(this.chunk!.subarray(this.sent, end));
      this.links.link.send(TRANSACTION_POISON);
      this.sent = end;
      this.matcher.pushInternal(0, this.now);
    }
  }

  /**
   * Shared mode: whether the command may go on the shared connection. QUIT is answered here
   * (false); a command that pins moves the client to a connection of its own first (then it
   * goes there with everything after it; still true).
   */
  private shareable(s: RespScanner, id: number, args: Buffer[] | null): boolean {
    if (TRAITS.role[id] === ROLE.QUIT) {
      if (this.runtime.perCommand) this.runtime.stats.commands[id]!++;
      this.replies.answerLocally(id, this.now, OK, true);
      this.events.onQuit();
      // Redis reads nothing after QUIT; neither is anything after it sent here.
      this.scanner.stop();
      return false;
    }
    this.pinFor(s, id, args, true);
    return true;
  }

  /**
   * Pins the client if the command needs it. `ownBytes`: the command's own frame goes on, so its
   * earlier bytes (kept here) are sent first and the rest of the chunk goes from its start.
   */
  private pinFor(s: RespScanner, id: number, args: Buffer[] | null, ownBytes: boolean): void {
    const reason = pinReason(id, s, args);
    if (reason === null) return;
    const began = this.partial !== null && this.partial.length > 0;
    const kept = this.partial ?? [];
    this.events.onPin(reason);
    if (!ownBytes) return;
    for (const b of kept) this.links.link.send(b);
    this.sent = began ? 0 : this.frameStart;
  }

  /** Shared mode: the frame that ends at `end`, whole, to the shared connection. */
  private sendFrame(end: number): void {
    const chunk = this.chunk!;
    const frame = this.partial === null || this.partial.length === 0 ? chunk.subarray(this.frameStart, end) : Buffer.concat([...this.partial, chunk.subarray(0, end)]);
    this.links.link.send(frame);
    this.sent = end;
  }

  /**
   * A command inside a replication stream (with a gate only: without one the bytes go unscanned).
   * Nothing can be answered there, so a command the gate would not pass ends the session.
   */
  private replicaFrame(id: number, command: boolean): void {
    if (!command || this.gate === null) return;
    const verdict = this.finalVerdict(id, null);
    if (verdict.kind === 'forward') this.releaseHeld();
    else {
      if (verdict.kind === 'local' && verdict.reason !== null) this.runtime.stats.reject(id, verdict.reason);
      // Nothing of this chunk may go on, whatever the session does about it.
      this.scanner.stop();
      this.events.onRefusedInReplication(id);
    }
  }

  /**
   * The gate answered the frame ending at `end` itself, or rewrote it: its own bytes never go
   * upstream. A refusal inside MULTI also poisons the upstream's transaction, as a refused
   * command does in Redis (EXEC then answers -EXECABORT).
   */
  private answerOrRewrite(s: RespScanner, id: number, verdict: Verdict, end: number): void {
    // A frame begun in an earlier chunk starts at 0 here (its earlier bytes were held, not sent).
    const startInChunk = this.partial === null || this.partial.length > 0 ? 0 : this.frameStart;
    const link = this.links.link;
    if (!link.wholeFrames) link.send(this.chunk!.subarray(this.sent, startInChunk));
    this.sent = end;
    this.holding = false;
    if (verdict.kind === 'rewrite') {
      // HELLO … AUTH, forwarded without its AUTH: on a shared connection it pins first.
      if (link.wholeFrames) this.pinFor(s, id, null, false);
      this.links.link.send(verdict.bytes);
      this.matcher.onRequest(s, id, this.now, decodeCommand(verdict.bytes));
    } else if (verdict.kind === 'local') {
      if (verdict.reason !== null) this.runtime.stats.reject(id, verdict.reason);
      if (verdict.reason !== null && this.state.inMulti) {
        link.send(TRANSACTION_POISON);
        this.matcher.pushInternal(0, this.now);
      }
      this.replies.answerLocally(id, this.now, verdict.reply);
    }
  }

  /** A copy of the frame that just ended at `end` (it may have begun in earlier chunks). */
  private frameBytes(end: number): Buffer | null {
    if (this.partial === null) return null;
    if (this.partial.length === 0) return Buffer.from(this.chunk!.subarray(this.frameStart, end));
    return Buffer.concat([...this.partial, this.chunk!.subarray(0, end)]);
  }

  private keepPartial(bytes: Buffer): void {
    if (this.partial === null) return;
    this.partialBytes += bytes.length;
    if (this.partialBytes > this.partialLimit) this.partial = null;
    else this.partial.push(bytes);
  }

  private onProtocolError(message: string, goodEnd: number): void {
    // Redis answers the commands before the bad bytes, then the error, then closes: so do we.
    const chunk = this.chunk;
    if (chunk !== null && goodEnd > this.sent && !this.links.link.wholeFrames) this.links.link.send(chunk.subarray(this.sent, goodEnd));
    this.events.onClientProtocolError(message);
  }
}
