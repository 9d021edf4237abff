/**
 * Pairs each command a client sent with the reply that answers it, so every command gets its
 * count, latency and error class. Redis answers in order, one reply per command, except where
 * the protocol says otherwise; each exception is handled here from what the frames themselves
 * say, never by guessing from timing:
 *
 * - SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE a b c: one confirmation per channel; UNSUBSCRIBE with no
 *   argument: one per channel subscribed at that moment (at least one). Messages (RESP2 arrays
 *   while subscribed, RESP3 > pushes) answer nothing.
 * - MONITOR: after its +OK, lines of the form +<timestamp> ... answer nothing.
 * - CLIENT REPLY OFF|SKIP|ON: OFF and SKIP get no reply; SKIP also silences the next command;
 *   ON (and RESET) turn replies back on.
 * - *0 and empty inline lines: Redis ignores them (the scanner reports argc 0).
 * - RESP3 attributes are folded into the reply they decorate by the scanner.
 * - QUIT and RESET: ordinary replies (+OK, +RESET); RESET also ends pub/sub and MONITOR modes
 *   and returns the connection to RESP2.
 * A reply that arrives when nothing is pending is counted as an unsolicited push, not an error.
 * What a reply changes in the connection's state is applied to ConnectionState, its one record.
 */
import { performance } from 'node:perf_hooks';
import { ROLE, TRAITS } from '../resp/commandTraits.js';
import { errorWord, readBlocks, tokenInteger, tokenIs } from '../resp/frameView.js';
import { RESP_TYPE, type ArrayCapture, type RespScanner } from '../resp/scanner.js';
import { ERROR_CODES, PUSH_KINDS } from '../metrics/metricTable.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { ConnectionState } from './connectionState.js';
import type { QueuedNaming } from './transactionNamings.js';
import { OWNER_CLIENT, OWNER_INTERNAL, OWNER_LOCAL, OWNER_REPLAY, PendingQueue } from './pendingQueue.js';
import type { ReplayCommand } from '../upstream/replayCommand.js';
import { subscriptionKind, type SubscriptionKind, type Subscriptions } from './subscriptions.js';

const PUSH_MESSAGE = PUSH_KINDS.indexOf('message');
const PUSH_PMESSAGE = PUSH_KINDS.indexOf('pmessage');
const PUSH_SMESSAGE = PUSH_KINDS.indexOf('smessage');
const PUSH_MONITOR = PUSH_KINDS.indexOf('monitor');
const PUSH_INVALIDATE = PUSH_KINDS.indexOf('invalidate');
const PUSH_OTHER = PUSH_KINDS.indexOf('other');
const ERROR_OTHER = ERROR_CODES.indexOf('other');
/** Errors that say the upstream is no longer a usable master: worth probing at once. */
const TROUBLE = new Set(['READONLY', 'LOADING', 'MASTERDOWN'].map((c) => ERROR_CODES.indexOf(c)));

/** The confirmation word each subscribe-family role receives. */
const CONFIRMATION: Record<number, string> = {
  [ROLE.SUBSCRIBE]: 'subscribe',
  [ROLE.UNSUBSCRIBE]: 'unsubscribe',
  [ROLE.PSUBSCRIBE]: 'psubscribe',
  [ROLE.PUNSUBSCRIBE]: 'punsubscribe',
  [ROLE.SSUBSCRIBE]: 'ssubscribe',
  [ROLE.SUNSUBSCRIBE]: 'sunsubscribe',
};
const SUBSCRIBE_ROLES = [ROLE.SUBSCRIBE, ROLE.UNSUBSCRIBE, ROLE.PSUBSCRIBE, ROLE.PUNSUBSCRIBE, ROLE.SSUBSCRIBE, ROLE.SUNSUBSCRIBE];

function isSubscribeFamily(role: number): boolean {
  return role >= ROLE.SUBSCRIBE && role <= ROLE.SUNSUBSCRIBE;
}

function isUnsubscribe(role: number): boolean {
  return role === ROLE.UNSUBSCRIBE || role === ROLE.PUNSUBSCRIBE || role === ROLE.SUNSUBSCRIBE;
}

export class ReplyMatcher implements ArrayCapture {
  private readonly queue = new PendingQueue();
  /** The command the last reply frame completed (its id), or -1 when that frame answered nothing. */
  private lastAnswered = -1;
  /** The reply just matched was an EXEC's whose array holds replies that name cluster nodes: where. */
  private lastNamings: readonly QueuedNaming[] | null = null;

  constructor(
    /** Null when metrics are off: matching still runs (it keeps the modes right), nothing is counted. */
    private readonly stats: ListenerStats | null,
    private readonly state: ConnectionState,
    /** Called when a reply says the upstream stopped being a usable master. */
    private readonly onTrouble: (errorCode: string) => void,
    /**
     * Called as each command that restores the connection (replayFirst) is answered: `refusal`
     * is null when it succeeded, else the error's first word.
     */
    private readonly onReplayAnswered: (refusal: string | null) => void,
  ) {}

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

  get localPending(): boolean {
    return this.queue.localCount > 0;
  }

  /**
   * RESP2 has no push type: pub/sub confirmations and messages are plain arrays, whose words are
   * read while the connection is subscribed or a subscribe-family command is being answered.
   */
  get captureArrays(): boolean {
    return this.state.protocol === 2 && (this.state.subscribed || (this.queue.length > 0 && isSubscribeFamily(this.queue.headKind)));
  }

  /** Commands restoring the connection whose replies are still due. */
  get replaying(): number {
    return this.queue.replayCount;
  }

  /** The command whose reply the last frame completed (-1: a push, a message, a confirmation still partial…). */
  get answered(): number {
    return this.lastAnswered;
  }

  /** Where the EXEC reply just matched holds replies that name cluster nodes (null: none, or not an EXEC). */
  get answeredNamings(): readonly QueuedNaming[] | null {
    return this.lastNamings;
  }

  /** Whether the next reply due is an EXEC's that holds replies naming cluster nodes. */
  get headNamesNodes(): boolean {
    const q = this.queue;
    return q.length > 0 && q.headKind === ROLE.EXEC && q.headArg !== 0;
  }

  /** The command whose reply comes next (-1: none is waiting), and whether it is the ambassador's own. */
  get headCommand(): number {
    return this.queue.length > 0 ? this.queue.headCmd : -1;
  }

  get headInternal(): boolean {
    return this.queue.length > 0 && this.queue.headInternal;
  }

  /** Whether the oldest entry is an answer of the ambassador's own, due now. */
  get localHeadReady(): boolean {
    return this.queue.headLocal;
  }

  /** Whether the oldest command waiting is a SYNC/PSYNC sent by the client: its reply is due next. */
  get replicationReplyDue(): boolean {
    return this.queue.length > 0 && this.queue.headKind === ROLE.REPLICATION && !this.queue.headInternal;
  }

  /**
   * A complete request frame for command `id` was scanned; it is about to be sent upstream at
   * `now`. `args` are its decoded arguments where the command table wants them.
   */
  onRequest(s: RespScanner, id: number, now: number, args: Buffer[] | null): void {
    const argc = s.frameCount;
    const st = this.state;
    if (argc <= 0) {
      // Redis ignores empty commands without a reply, but they still use up a CLIENT REPLY SKIP.
      st.onEmptyCommand();
      return;
    }
    if (this.stats !== null) this.stats.commands[id]!++;
    const role = TRAITS.role[id]!;
    if (!st.inMulti || role === ROLE.EXEC || role === ROLE.DISCARD) st.onSent(role);
    const mode = role === ROLE.CLIENT_REPLY && argc === 3 && !st.inMulti ? replyModeOf(s) : null;
    if (st.silences(mode, role === ROLE.RESET)) return;

    let kind: number = ROLE.PLAIN;
    let replies = 1;
    let arg = 0;
    if (st.inMulti && role !== ROLE.RESET) {
      if (role === ROLE.EXEC || role === ROLE.DISCARD) {
        st.inMulti = false;
        kind = role;
        if (role === ROLE.EXEC) arg = st.transactions.exec();
        else st.transactions.begin();
      } else {
        st.transactions.queued(id);
        if (isSubscribeFamily(role) && args !== null) st.queueSubscription(role, args);
      }
    } else if (role === ROLE.MULTI) {
      st.inMulti = true;
      st.transactions.begin();
    } else {
      // RESET runs at once even inside MULTI, and ends the transaction.
      st.inMulti = false;
      kind = this.kindOf(role, s);
      if (isSubscribeFamily(kind)) {
        if (argc >= 2) replies = argc - 1;
        else if (isUnsubscribe(kind)) replies = -1;
        else kind = ROLE.PLAIN; // SUBSCRIBE without a channel: one error reply
      } else if (kind === ROLE.HELLO && argc >= 2) {
        arg = tokenIs(s, 1, '3') ? 3 : tokenIs(s, 1, '2') ? 2 : 0;
      } else if (kind === ROLE.CLIENT_TRACKING && argc >= 3) {
        arg = tokenIs(s, 2, 'on') ? 1 : 0;
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
      const kind = TRAITS.role[c.cmd]!;
      const arg = kind === ROLE.HELLO ? this.state.replayedProtocol : 0;
      this.queue.unshiftInternal(c.cmd, now, c.replies, kind, arg, c.expectError ? OWNER_INTERNAL : OWNER_REPLAY);
    }
  }

  /** Queues a command the ambassador answers itself, in its turn. */
  pushLocal(cmd: number, now: number, reply: Buffer, counted = false): void {
    this.queue.pushLocal(cmd, now, reply, counted);
  }

  /** The reply of the oldest entry if it is a local answer (removing it), else null. */
  takeLocalHead(): Buffer | null {
    const q = this.queue;
    if (!q.headLocal) return null;
    const reply = q.headExtra![0]!;
    if (q.headArg === 1 && this.stats !== null) this.stats.durations.observe(q.headCmd, performance.now() - q.headStart);
    q.shift();
    return reply;
  }

  /** Visits the client's pending entries oldest first: null for the upstream's, the reply for local ones. */
  forEachPending(visit: (localReply: Buffer | null) => void): void {
    this.queue.forEach((owner, reply) => {
      if (owner === OWNER_CLIENT || owner === OWNER_LOCAL) visit(reply);
    });
  }

  /** Queues an internal command whose error is expected right behind the last queued client command. */
  pushInternal(cmd: number, now: number): void {
    this.queue.pushInternal(cmd, now, 1, ROLE.PLAIN, 0);
  }

  /** The upstream connection is gone: nothing more will be answered on it. */
  connectionLost(): void {
    this.queue.clear();
    this.state.connectionLost();
  }

  /** Every pending command is dropped; returns how many of them were the client's. */
  abandonPending(): number {
    const n = this.queue.clientCount;
    this.queue.clear();
    return n;
  }

  /** Commands buffered before the upstream connected start their clock when they are sent. */
  restamp(now: number): void {
    this.queue.restamp(now);
  }

  /**
   * A complete reply frame was scanned at `now`. Returns true when the frame answered one of the
   * ambassador's own commands and must not reach the client.
   */
  onReply(s: RespScanner, now: number): boolean {
    this.lastAnswered = -1;
    this.lastNamings = null;
    const t = s.frameType;
    if (t === RESP_TYPE.PUSH) {
      const answered = this.confirmation(s, now);
      if (answered < 0) this.unsolicited(pushKind(s));
      return answered === 1;
    }
    if (t === RESP_TYPE.ARRAY && this.state.protocol === 2 && s.tokenCount >= 3) {
      // RESP2 has no push type: while subscribed, messages and confirmations are plain arrays.
      const subscribing = this.queue.length > 0 && CONFIRMATION[this.queue.headKind] !== undefined;
      if (this.state.subscribed || subscribing || this.queue.length === 0) {
        const kind = pushKind(s);
        if (kind === PUSH_MESSAGE || kind === PUSH_PMESSAGE || kind === PUSH_SMESSAGE) {
          this.unsolicited(kind);
          return false;
        }
        const answered = this.confirmation(s, now);
        if (answered >= 0) return answered === 1;
      }
    }
    if (this.state.monitoring && t === RESP_TYPE.SIMPLE && isMonitorLine(s)) {
      this.unsolicited(PUSH_MONITOR);
      return false;
    }
    if (this.queue.length === 0) {
      this.unsolicited(PUSH_OTHER);
      return false;
    }
    const isError = t === RESP_TYPE.ERROR || t === RESP_TYPE.BLOB_ERROR;
    const q = this.queue;
    const internal = q.headInternal;
    if (!isError) this.state.onAccepted(q.headKind, internal ? null : q.headExtra, q.headArg);
    if (q.headKind === ROLE.EXEC) this.state.transactionDone(!isError && s.frameCount >= 0);
    const code = isError ? errorCode(s) : -1;
    if (q.headReplay) this.onReplayAnswered(isError ? errorWord(s) || 'ERR' : null);
    this.lastAnswered = q.headCmd;
    this.lastNamings = q.headKind === ROLE.EXEC ? this.state.transactions.take(q.headArg) : null;
    if (internal) q.shift();
    else this.complete(now, code);
    if (code >= 0 && TROUBLE.has(code)) this.onTrouble(ERROR_CODES[code]!);
    return internal;
  }

  private complete(now: number, error: number): void {
    const q = this.queue;
    if (this.stats !== null) {
      const cmd = q.headCmd;
      const ms = now - q.headStart;
      if (q.headKind === ROLE.BLOCKING) this.stats.blockingDurations.observe(cmd, ms);
      else this.stats.durations.observe(cmd, ms);
      if (error >= 0) this.stats.error(cmd, error);
    }
    q.shift();
  }

  /**
   * A subscribe-family confirmation ([p|s][un]subscribe, channel, count). Updates the
   * subscriptions, and answers the head command when it is of that family.
   * Returns -1 when the frame is no confirmation, 1 when it answered an internal (replayed)
   * command, 0 otherwise.
   */
  private confirmation(s: RespScanner, now: number): number {
    if (s.tokenCount < 3) return -1;
    const role = SUBSCRIBE_ROLES.find((r) => tokenIs(s, 0, CONFIRMATION[r]!));
    if (role === undefined) return -1;
    const kind = subscriptionKind(role)!;
    const subs = this.state.subscriptions;
    const q = this.queue;
    if (q.length === 0 || q.headKind !== role) {
      // e.g. the server dropping shard channels on its own after a slot moved.
      if (isUnsubscribe(role) && tokenInteger(s, 2) === 0) clearCounted(subs, kind);
      this.unsolicited(PUSH_OTHER);
      return 0;
    }
    if (q.headReplies === -1) q.headReplies = Math.max(1, subs.size(kind));
    // The n-th confirmation names the n-th channel sent (the client's own entries carry them;
    // replayed ones restore names already held).
    const args = q.headInternal ? null : q.headExtra;
    if (args !== null && args.length > 1) {
      const name = args[args.length - q.headReplies]!;
      if (isUnsubscribe(role)) subs.remove(kind, name);
      else subs.add(kind, name);
    }
    // The count each confirmation carries is the server's: none left means none left, whatever
    // was or was not decoded (an argument-less UNSUBSCRIBE, a frame too large to remember).
    if (isUnsubscribe(role) && tokenInteger(s, 2) === 0) clearCounted(subs, kind);
    q.headReplies = q.headReplies - 1;
    const internal = q.headInternal;
    // An argument-less UNSUBSCRIBE drops every one of its kind, whatever patterns remain counted.
    if (q.headReplies <= 0 && args !== null && args.length === 1 && isUnsubscribe(role)) subs.clear(kind);
    if (q.headReplies <= 0) {
      if (q.headReplay) this.onReplayAnswered(null);
      if (internal) q.shift();
      else this.complete(now, -1);
    }
    return internal ? 1 : 0;
  }

  private unsolicited(kind: number): void {
    if (this.stats !== null) this.stats.push[kind]!++;
  }

  /** The pending kind of a command: its role, except that XREAD and XREADGROUP block only with BLOCK. */
  private kindOf(role: number, s: RespScanner): number {
    if (role === ROLE.XREAD) return readBlocks(s, 1) === true ? ROLE.BLOCKING : ROLE.PLAIN;
    if (role === ROLE.XREADGROUP) return readBlocks(s, 4) === true ? ROLE.BLOCKING : ROLE.PLAIN;
    return role;
  }
}

/** A confirmation's count covers channels and patterns together; shard channels on their own. */
function clearCounted(subs: Subscriptions, kind: SubscriptionKind): void {
  if (kind === 'shard') {
    subs.clear('shard');
  } else {
    subs.clear('channel');
    subs.clear('pattern');
  }
}

function replyModeOf(s: RespScanner): 'on' | 'off' | 'skip' | null {
  return tokenIs(s, 2, 'on') ? 'on' : tokenIs(s, 2, 'off') ? 'off' : tokenIs(s, 2, 'skip') ? 'skip' : null;
}

function pushKind(s: RespScanner): number {
  if (tokenIs(s, 0, 'message')) return PUSH_MESSAGE;
  if (tokenIs(s, 0, 'pmessage')) return PUSH_PMESSAGE;
  if (tokenIs(s, 0, 'smessage')) return PUSH_SMESSAGE;
  if (tokenIs(s, 0, 'invalidate')) return PUSH_INVALIDATE;
  return PUSH_OTHER;
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
