/**
 * Pairs each command a client sent with the reply that answers it, so every command gets its
 * count, latency and error class. Redis answers in order, one reply per command, except where
 * the protocol says otherwise; each exception is handled here from what the frames themselves
 * say, never by guessing from timing:
 *
 * - SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE a b c: one confirmation per channel; UNSUBSCRIBE with no
 *   argument: one per channel subscribed at that moment (at least one), known from the counts
 *   the confirmations carry. Messages (RESP2 arrays while subscribed, RESP3 > pushes) answer
 *   nothing.
 * - MONITOR: after its +OK, lines of the form +<timestamp> ... answer nothing.
 * - CLIENT REPLY OFF|SKIP|ON: OFF and SKIP get no reply; SKIP also silences the next command;
 *   ON (and RESET) turn replies back on.
 * - *0 and empty inline lines: Redis ignores them (the scanner reports argc 0).
 * - RESP3 attributes are folded into the reply they decorate by the scanner.
 * - QUIT and RESET: ordinary replies (+OK, +RESET); RESET also ends pub/sub and MONITOR modes
 *   and returns the connection to RESP2.
 * A reply that arrives when nothing is pending is counted as an unsolicited push, not an error.
 */
import type { CommandIndex } from '../resp/commandIndex.js';
import { errorWord, tokenInteger, tokenIs } from '../resp/frameView.js';
import { RESP_TYPE, type RespScanner } from '../resp/scanner.js';
import { ERROR_CODES, PUSH_KINDS } from '../metrics/metricTable.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { OWNER_CLIENT, OWNER_LOCAL, OWNER_REPLAY, OWNER_INTERNAL, PendingQueue } from './pendingQueue.js';
import type { ReplayCommand, SessionState } from './sessionState.js';

// PendingQueue kinds.
const K_PLAIN = 0;
const K_SUBSCRIBE = 1;
const K_UNSUBSCRIBE = 2;
const K_PSUBSCRIBE = 3;
const K_PUNSUBSCRIBE = 4;
const K_SSUBSCRIBE = 5;
const K_SUNSUBSCRIBE = 6;
const K_HELLO = 7;
const K_RESET = 8;
const K_MONITOR = 9;
const K_BLOCKING = 10;
/** SYNC/PSYNC: unless refused, its reply turns the connection into a replication stream. */
const K_REPLICATION = 11;

const REPLY_ON = 0;
const REPLY_OFF = 1;
const REPLY_SKIP_NEXT = 2;

const PUSH_MESSAGE = PUSH_KINDS.indexOf('message');
const PUSH_PMESSAGE = PUSH_KINDS.indexOf('pmessage');
const PUSH_SMESSAGE = PUSH_KINDS.indexOf('smessage');
const PUSH_MONITOR = PUSH_KINDS.indexOf('monitor');
const PUSH_INVALIDATE = PUSH_KINDS.indexOf('invalidate');
const PUSH_OTHER = PUSH_KINDS.indexOf('other');
const ERROR_OTHER = ERROR_CODES.indexOf('other');
/** Errors that say the upstream is no longer a usable master: worth probing at once. */
const TROUBLE = new Set(['READONLY', 'LOADING', 'MASTERDOWN'].map((c) => ERROR_CODES.indexOf(c)));

/** The confirmation word each subscribe-family kind receives. */
const CONFIRMATION: Record<number, string> = {
  [K_SUBSCRIBE]: 'subscribe',
  [K_UNSUBSCRIBE]: 'unsubscribe',
  [K_PSUBSCRIBE]: 'psubscribe',
  [K_PUNSUBSCRIBE]: 'punsubscribe',
  [K_SSUBSCRIBE]: 'ssubscribe',
  [K_SUNSUBSCRIBE]: 'sunsubscribe',
};

export interface SpecialIds {
  readonly kinds: Map<number, number>;
  readonly clientReply: number;
  readonly multi: number;
  readonly exec: number;
  readonly discard: number;
  readonly xread: number;
  readonly xreadgroup: number;
  readonly quit: number;
  /** 1 per command id whose reply waits on other clients. */
  readonly blocking: readonly number[];
}

/** Ids of the commands the matcher treats specially, resolved once per process. */
export function specialIds(index: CommandIndex): SpecialIds {
  const kinds = new Map<number, number>([
    [index.idOf('subscribe'), K_SUBSCRIBE],
    [index.idOf('unsubscribe'), K_UNSUBSCRIBE],
    [index.idOf('psubscribe'), K_PSUBSCRIBE],
    [index.idOf('punsubscribe'), K_PUNSUBSCRIBE],
    [index.idOf('ssubscribe'), K_SSUBSCRIBE],
    [index.idOf('sunsubscribe'), K_SUNSUBSCRIBE],
    [index.idOf('hello'), K_HELLO],
    [index.idOf('reset'), K_RESET],
    [index.idOf('monitor'), K_MONITOR],
    [index.idOf('sync'), K_REPLICATION],
    [index.idOf('psync'), K_REPLICATION],
  ]);
  return {
    kinds,
    clientReply: index.idOf('client|reply'),
    multi: index.idOf('multi'),
    exec: index.idOf('exec'),
    discard: index.idOf('discard'),
    xread: index.idOf('xread'),
    xreadgroup: index.idOf('xreadgroup'),
    quit: index.idOf('quit'),
    blocking: index.blocking,
  };
}

export class ReplyMatcher {
  /** RESP version the connection speaks (HELLO 3 switches to 3; RESET back to 2). */
  protocol = 2;
  /** Subscriptions held, as the server's confirmations last reported them. */
  channels = 0;
  patterns = 0;
  shardChannels = 0;
  monitoring = false;
  /** Between MULTI and EXEC/DISCARD, as sent (commands are queued, each answered +QUEUED). */
  inMulti = false;
  private replyMode = REPLY_ON;
  private readonly queue = new PendingQueue();

  constructor(
    private readonly ids: SpecialIds,
    /** Null when metrics are off: matching still runs (it keeps the modes right), nothing is counted. */
    private readonly stats: ListenerStats | null,
    private readonly state: SessionState,
    /** Called when a reply says the upstream stopped being a usable master. */
    private readonly onTrouble: (errorCode: string) => void,
    /**
     * Called as each command that restores the connection (replayFirst) is answered: `refusal`
     * is null when it succeeded, else the error's first word.
     */
    private readonly onReplayAnswered: (refusal: string | null) => void = () => {},
  ) {}

  /** Commands restoring the connection whose replies are still due. */
  get replaying(): number {
    return this.queue.replayCount;
  }

  /** Whether the oldest command waiting is a SYNC/PSYNC sent by the client: its reply is due next. */
  get replicationReplyDue(): boolean {
    return this.queue.length > 0 && this.queue.headKind === K_REPLICATION && !this.queue.headInternal;
  }

  /** Commands sent and not yet answered, the ambassador's own replayed commands included. */
  get pending(): number {
    return this.queue.length;
  }

  /** Commands of the client's still waiting for their replies. */
  get clientPending(): number {
    return this.queue.clientCount;
  }

  /** Whether replies for the ambassador's own commands are due (then replies are handled frame by frame). */
  get internalPending(): boolean {
    return this.queue.internalCount > 0;
  }

  get subscribed(): boolean {
    return this.channels + this.patterns + this.shardChannels > 0;
  }

  /**
   * A complete request frame for command `id` was scanned; it is about to be sent upstream at
   * `now`. `args` are its decoded arguments when SessionState needs them.
   */
  onRequest(s: RespScanner, id: number, now: number, args: Buffer[] | null): void {
    const argc = s.frameCount;
    if (argc <= 0) {
      // Redis ignores empty commands without a reply, but they still use up a CLIENT REPLY SKIP.
      if (this.replyMode === REPLY_SKIP_NEXT) this.replyMode = REPLY_ON;
      return;
    }
    if (this.stats !== null) this.stats.commands[id]!++;
    if (!this.inMulti) this.state.onSent(id, args);
    else if (id === this.ids.exec || id === this.ids.discard) this.state.onSent(id, null);
    if (this.silenced(id, s, argc)) return;

    let kind = K_PLAIN;
    let replies = 1;
    let arg = 0;
    if (this.inMulti && this.ids.kinds.get(id) !== K_RESET) {
      if (id === this.ids.exec || id === this.ids.discard) this.inMulti = false;
    } else if (id === this.ids.multi) {
      this.inMulti = true;
    } else {
      // RESET runs at once even inside MULTI, and ends the transaction.
      if (this.inMulti) this.inMulti = false;
      kind = this.ids.kinds.get(id) ?? (this.isBlocking(id, s) ? K_BLOCKING : K_PLAIN);
      if (kind >= K_SUBSCRIBE && kind <= K_SUNSUBSCRIBE) {
        if (argc >= 2) replies = argc - 1;
        else if (kind === K_UNSUBSCRIBE || kind === K_PUNSUBSCRIBE || kind === K_SUNSUBSCRIBE) replies = -1;
        else kind = K_PLAIN; // SUBSCRIBE without a channel: one error reply
      } else if (kind === K_HELLO && argc >= 2) {
        arg = tokenIs(s, 1, '3') ? 3 : tokenIs(s, 1, '2') ? 2 : 0;
      }
    }
    this.queue.push(id, now, replies, kind, arg, args);
  }

  /**
   * Queues the ambassador's own commands, written to a fresh upstream connection before anything
   * the client sent: their replies are consumed here and never reach the client.
   */
  replayFirst(commands: readonly ReplayCommand[], now: number): void {
    for (let k = commands.length - 1; k >= 0; k--) {
      const c = commands[k]!;
      const kind = this.ids.kinds.get(c.cmd) ?? K_PLAIN;
      const arg = kind === K_HELLO ? this.protocolAfterHello : 0;
      this.queue.unshiftInternal(c.cmd, now, c.replies, kind, arg, c.expectError ? OWNER_INTERNAL : OWNER_REPLAY);
    }
  }

  /** Queues a command the ambassador answers itself, in its turn. */
  pushLocal(cmd: number, now: number, reply: Buffer): void {
    this.queue.pushLocal(cmd, now, reply);
  }

  get localPending(): boolean {
    return this.queue.localCount > 0;
  }

  /** The reply of the oldest entry if it is a local answer (removing it), else null. */
  takeLocalHead(): Buffer | null {
    if (!this.queue.headLocal) return null;
    const reply = this.queue.headExtra![0]!;
    this.queue.shift();
    return reply;
  }

  /** Visits the client's pending entries oldest first: null for the upstream's, the reply for local ones. */
  forEachPending(visit: (localReply: Buffer | null) => void): void {
    this.queue.forEach((owner, reply) => {
      if (owner === OWNER_CLIENT || owner === OWNER_LOCAL) visit(reply);
    });
  }

  /** Queues an internal command right behind the last queued client command. */
  pushInternal(cmd: number, now: number): void {
    this.queue.pushInternal(cmd, now, 1, K_PLAIN, 0);
  }

  /** RESP version a replayed HELLO restores: the one the client negotiated. */
  private protocolAfterHello = 2;

  /**
   * The upstream connection is gone. Returns how many of the client's commands were waiting (each
   * is owed an error); the new connection starts in RESP2 with no subscriptions, as Redis does.
   */
  connectionLost(): number {
    const owed = this.queue.clientCount;
    this.queue.clear();
    this.protocolAfterHello = this.protocol;
    this.protocol = 2;
    this.channels = 0;
    this.patterns = 0;
    this.shardChannels = 0;
    this.monitoring = false;
    return owed;
  }

  /**
   * A complete reply frame was scanned at `now`. Returns true when the frame answered one of the
   * ambassador's own commands and must not reach the client.
   */
  onReply(s: RespScanner, now: number): boolean {
    const t = s.frameType;
    if (t === RESP_TYPE.PUSH) {
      const answered = this.confirmation(s, now);
      if (answered < 0) this.unsolicited(this.pushKind(s));
      return answered === 1;
    }
    if (t === RESP_TYPE.ARRAY && this.protocol === 2 && s.tokenCount >= 3) {
      // RESP2 has no push type: while subscribed, messages and confirmations are plain arrays.
      const subscribing = this.queue.length > 0 && CONFIRMATION[this.queue.headKind] !== undefined;
      if (this.subscribed || subscribing || this.queue.length === 0) {
        const kind = this.pushKind(s);
        if (kind === PUSH_MESSAGE || kind === PUSH_PMESSAGE || kind === PUSH_SMESSAGE) {
          this.unsolicited(kind);
          return false;
        }
        const answered = this.confirmation(s, now);
        if (answered >= 0) return answered === 1;
      }
    }
    if (this.monitoring && t === RESP_TYPE.SIMPLE && isMonitorLine(s)) {
      this.unsolicited(PUSH_MONITOR);
      return false;
    }
    if (this.queue.length === 0) {
      this.unsolicited(PUSH_OTHER);
      return false;
    }
    const isError = t === RESP_TYPE.ERROR || t === RESP_TYPE.BLOB_ERROR;
    const q = this.queue;
    const kind = q.headKind;
    const internal = q.headInternal;
    if (!isError) {
      if (kind === K_HELLO && q.headArg !== 0) this.protocol = q.headArg;
      else if (kind === K_MONITOR) this.monitoring = true;
      else if (kind === K_RESET) this.resetModes();
      if (!internal) this.state.onSucceeded(q.headCmd, q.headExtra);
    }
    const code = isError ? errorCode(s) : -1;
    if (q.headReplay) this.onReplayAnswered(isError ? errorWord(s) || 'ERR' : null);
    if (internal) q.shift();
    else this.complete(now, code);
    if (code >= 0 && TROUBLE.has(code)) this.onTrouble(ERROR_CODES[code]!);
    return internal;
  }

  /**
   * Applies CLIENT REPLY OFF|SKIP|ON and RESET to the reply mode, as networking.c does, and says
   * whether this command will get no reply at all.
   */
  private silenced(id: number, s: RespScanner, argc: number): boolean {
    const replyCmd = id === this.ids.clientReply && argc === 3 && !this.inMulti;
    const on = replyCmd && tokenIs(s, 2, 'on');
    const off = replyCmd && tokenIs(s, 2, 'off');
    const skip = replyCmd && tokenIs(s, 2, 'skip');
    const reset = this.ids.kinds.get(id) === K_RESET;
    switch (this.replyMode) {
      case REPLY_SKIP_NEXT:
        // This command is the skipped one, unless it is CLIENT REPLY ON, which clears the skip.
        this.replyMode = off ? REPLY_OFF : skip ? REPLY_SKIP_NEXT : REPLY_ON;
        if (on) return false;
        if (reset) this.resetModes();
        return true;
      case REPLY_OFF:
        if (on || reset) {
          this.replyMode = REPLY_ON;
          return false;
        }
        return true; // SKIP is ignored while OFF
      default:
        if (off) this.replyMode = REPLY_OFF;
        else if (skip) this.replyMode = REPLY_SKIP_NEXT;
        return off || skip;
    }
  }

  /** Every pending command is dropped; returns how many of them were the client's. */
  abandonPending(): number {
    const n = this.queue.clientCount;
    this.queue.clear();
    return n;
  }

  restamp(now: number): void {
    this.queue.restamp(now);
  }

  private complete(now: number, error: number): void {
    const q = this.queue;
    if (this.stats !== null) {
      const cmd = q.headCmd;
      const ms = now - q.headStart;
      if (q.headKind === K_BLOCKING) this.stats.blockingDurations.observe(cmd, ms);
      else this.stats.durations.observe(cmd, ms);
      if (error >= 0) this.stats.error(cmd, error);
    }
    q.shift();
  }

  /**
   * A subscribe-family confirmation ([p|s][un]subscribe, channel, count). Updates the
   * subscription counts, and answers the head command when it is of that family.
   * Returns -1 when the frame is no confirmation, 1 when it answered an internal (replayed)
   * command, 0 otherwise.
   */
  private confirmation(s: RespScanner, now: number): number {
    if (s.tokenCount < 3) return -1;
    let kind = -1;
    for (let k = K_SUBSCRIBE; k <= K_SUNSUBSCRIBE; k++) {
      if (tokenIs(s, 0, CONFIRMATION[k]!)) {
        kind = k;
        break;
      }
    }
    if (kind < 0) return -1;
    const count = tokenInteger(s, 2);
    const before = kind === K_UNSUBSCRIBE ? this.channels : kind === K_PUNSUBSCRIBE ? this.patterns : this.shardChannels;
    // The count is the connection's total: channels + patterns (shard channels are their own).
    if (count >= 0) {
      if (kind === K_SUBSCRIBE || kind === K_UNSUBSCRIBE) this.channels = Math.max(0, count - this.patterns);
      else if (kind === K_PSUBSCRIBE || kind === K_PUNSUBSCRIBE) this.patterns = Math.max(0, count - this.channels);
      else this.shardChannels = count;
    }
    const q = this.queue;
    if (q.length === 0 || q.headKind !== kind) {
      // e.g. the server dropping shard channels on its own after a slot moved.
      this.unsolicited(PUSH_OTHER);
      return 0;
    }
    if (q.headReplies === -1) q.headReplies = Math.max(1, before);
    q.headReplies = q.headReplies - 1;
    const internal = q.headInternal;
    if (q.headReplies <= 0) {
      if (q.headReplay) this.onReplayAnswered(null);
      if (internal) q.shift();
      else this.complete(now, -1);
    }
    return internal ? 1 : 0;
  }

  private pushKind(s: RespScanner): number {
    if (tokenIs(s, 0, 'message')) return PUSH_MESSAGE;
    if (tokenIs(s, 0, 'pmessage')) return PUSH_PMESSAGE;
    if (tokenIs(s, 0, 'smessage')) return PUSH_SMESSAGE;
    if (tokenIs(s, 0, 'invalidate')) return PUSH_INVALIDATE;
    return PUSH_OTHER;
  }

  private unsolicited(kind: number): void {
    if (this.stats !== null) this.stats.push[kind]!++;
  }

  private resetModes(): void {
    this.protocol = 2;
    this.channels = 0;
    this.patterns = 0;
    this.shardChannels = 0;
    this.monitoring = false;
    this.inMulti = false;
  }

  /**
   * Whether the command's reply waits on other clients. XREAD and XREADGROUP only do with a BLOCK
   * option, found by walking their options (each but NOACK takes a value) up to STREAMS, so a
   * group or consumer named "block" is not mistaken for it.
   */
  private isBlocking(id: number, s: RespScanner): boolean {
    const first = id === this.ids.xread ? 1 : id === this.ids.xreadgroup ? 4 : -1;
    if (first < 0) return this.ids.blocking[id] === 1;
    for (let k = first; k < s.tokenCount; ) {
      if (tokenIs(s, k, 'block')) return true;
      if (tokenIs(s, k, 'streams')) return false;
      k += tokenIs(s, k, 'noack') ? 1 : 2;
    }
    return false;
  }
}

/** MONITOR lines start with the time in seconds: "+1700000000.123456 [0 127.0.0.1:5000] ...". */
function isMonitorLine(s: RespScanner): boolean {
  const b = s.tokenBytes[0]!;
  return s.tokenLength[0]! > 0 && b >= 48 && b <= 57;
}

/** Index into ERROR_CODES of the error's first word. */
function errorCode(s: RespScanner): number {
  const code = ERROR_CODES.indexOf(errorWord(s));
  return code < 0 ? ERROR_OTHER : code;
}
