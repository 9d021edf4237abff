/**
 * The state a client has set on its upstream connection: one record, read by the reply matcher
 * (protocol, modes), the request path (MULTI, CLIENT REPLY) and the upstream link (what to replay
 * on a fresh connection). Commands change it when Redis accepts them: a refused AUTH changes
 * nothing, and subscriptions are what the server confirmed.
 */
import { encodeCommand } from '../resp/commandCodec.js';
import { ROLE, TRAITS } from '../resp/commandTraits.js';
import type { ReplayCommand } from '../upstream/replayCommand.js';
import { subscriptionKind, Subscriptions } from './subscriptions.js';
import { TransactionNamings } from './transactionNamings.js';

/** CLIENT REPLY modes. */
export const REPLY_ON = 0;
export const REPLY_OFF = 1;
export const REPLY_SKIP_NEXT = 2;

/**
 * A command that cannot exist, sent inside a replayed MULTI: Redis refuses it and marks the
 * transaction, so the client's EXEC answers -EXECABORT instead of running half a transaction.
 */
export const TRANSACTION_POISON = encodeCommand(['ambassador-upstream-was-lost-transaction-aborted']);

/** What a replay restores besides subscriptions, as the last accepted commands set it. */
class Restorable {
  auth: Buffer[] | null = null;
  hello: Buffer[] | null = null;
  db = 0;
  name: Buffer | null = null;
  readOnly = false;
}

export class ConnectionState {
  /** RESP version the connection speaks (HELLO 3 switches to 3; RESET and a new connection to 2). */
  protocol = 2;
  /** Between MULTI and EXEC/DISCARD, as sent (commands are queued, each answered +QUEUED). */
  inMulti = false;
  /** WATCH sent and not yet cleared by EXEC, DISCARD, UNWATCH or RESET. */
  watching = false;
  /** The upstream holding the client's WATCHes was lost: its next transaction must fail. */
  watchLost = false;
  monitoring = false;
  replyMode = REPLY_ON;
  /** CLIENT TRACKING is on: invalidations for keys read before a loss cannot be recovered. */
  tracking = false;
  /** QUIT was sent: the upstream's close that follows is the answer, not a loss. */
  quitSent = false;
  /** SYNC/PSYNC was answered with a replication stream: the connection carries raw bytes from then on. */
  replicating = false;
  readonly subscriptions = new Subscriptions();
  /** Cluster listeners: which replies inside each EXEC's array name nodes. */
  readonly transactions = new TransactionNamings();
  private readonly restorable = new Restorable();
  /** Subscribe-family commands queued in the open MULTI: they take effect when EXEC commits. */
  private readonly queued: { readonly role: number; readonly args: Buffer[] }[] = [];

  get subscribed(): boolean {
    return this.subscriptions.count > 0;
  }

  /** Effects as a command is sent outside MULTI (WATCH is connection state from the moment it is sent). */
  onSent(role: number): void {
    if (role === ROLE.MULTI) this.queued.length = 0;
    if (role === ROLE.WATCH) this.watching = true;
    else if (role === ROLE.UNWATCH || role === ROLE.EXEC || role === ROLE.DISCARD || role === ROLE.RESET) {
      this.watching = false;
      this.watchLost = false;
    } else if (role === ROLE.QUIT) this.quitSent = true;
  }

  /**
   * Effects once Redis accepted a command. `kind` is its role as queued (ROLE.PLAIN inside
   * MULTI, where the reply is only +QUEUED), `args` its decoded arguments where the command table
   * says they matter, `arg` the small argument the matcher kept (HELLO's protocol, CLIENT
   * TRACKING on = 1 / off = 0).
   */
  onAccepted(kind: number, args: Buffer[] | null, arg: number): void {
    const r = this.restorable;
    switch (kind) {
      case ROLE.RESET:
        this.reset();
        return;
      case ROLE.HELLO:
        if (arg !== 0) this.protocol = arg;
        if (args !== null) r.hello = args.slice(1);
        return;
      case ROLE.MONITOR:
        this.monitoring = true;
        return;
      case ROLE.READONLY:
        r.readOnly = true;
        return;
      case ROLE.READWRITE:
        r.readOnly = false;
        return;
      case ROLE.CLIENT_TRACKING:
        this.tracking = arg === 1;
        return;
      case ROLE.AUTH:
        if (args !== null) r.auth = args.slice(1);
        return;
      case ROLE.SELECT:
        if (args !== null && args.length === 2) r.db = Number(args[1]!.toString('latin1')) || 0;
        return;
      case ROLE.CLIENT_SETNAME:
        if (args !== null && args.length === 3) r.name = args[2]!;
    }
  }

  /** A subscribe-family command queued inside MULTI, with its decoded arguments. */
  queueSubscription(role: number, args: Buffer[]): void {
    this.queued.push({ role, args });
  }

  /**
   * EXEC was answered: with its array the queued subscribe-family commands ran (their first
   * confirmations are inside it, the others follow on their own); an abort or a null array
   * (a WATCH failed) ran nothing.
   */
  transactionDone(committed: boolean): void {
    if (committed) {
      for (const q of this.queued) {
        const kind = subscriptionKind(q.role)!;
        const names = q.args.slice(1);
        const unsubscribe = q.role === ROLE.UNSUBSCRIBE || q.role === ROLE.PUNSUBSCRIBE || q.role === ROLE.SUNSUBSCRIBE;
        if (unsubscribe && names.length === 0) this.subscriptions.clear(kind);
        for (const n of names) {
          if (unsubscribe) this.subscriptions.remove(kind, n);
          else this.subscriptions.add(kind, n);
        }
      }
    }
    this.queued.length = 0;
  }

  /**
   * CLIENT REPLY OFF|SKIP|ON and RESET applied to the reply mode as networking.c does; true when
   * this command gets no reply at all. `mode` is CLIENT REPLY's argument ('on', 'off', 'skip')
   * or null for any other command.
   */
  silences(mode: 'on' | 'off' | 'skip' | null, isReset: boolean): boolean {
    const on = mode === 'on';
    const off = mode === 'off';
    const skip = mode === 'skip';
    switch (this.replyMode) {
      case REPLY_SKIP_NEXT:
        // This command is the skipped one, unless it is CLIENT REPLY ON, which clears the skip.
        this.replyMode = off ? REPLY_OFF : skip ? REPLY_SKIP_NEXT : REPLY_ON;
        if (on) return false;
        if (isReset) this.reset();
        return true;
      case REPLY_OFF:
        if (on || isReset) {
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

  /** An empty command (`*0`, a blank inline line) uses up a CLIENT REPLY SKIP, as in Redis. */
  onEmptyCommand(): void {
    if (this.replyMode === REPLY_SKIP_NEXT) this.replyMode = REPLY_ON;
  }

  /** The upstream connection is gone: a new one starts in RESP2, with no subscriptions or MONITOR on the server. */
  connectionLost(): void {
    this.protocol = 2;
    this.monitoring = false;
    this.queued.length = 0;
    if (this.watching) this.watchLost = true;
  }

  /** RESET, as Redis applies it: back to a fresh connection's state. */
  reset(): void {
    this.protocol = 2;
    this.inMulti = false;
    this.watching = false;
    this.watchLost = false;
    this.monitoring = false;
    this.tracking = false;
    this.replyMode = REPLY_ON;
    this.subscriptions.clear();
    this.queued.length = 0;
    Object.assign(this.restorable, new Restorable());
  }

  /** Commands that rebuild the state on a fresh connection, in the order they must run. */
  replay(): ReplayCommand[] {
    const r = this.restorable;
    const out: ReplayCommand[] = [];
    const push = (label: string, args: (string | Buffer)[]): void => {
      out.push({ bytes: encodeCommand(args), cmd: TRAITS.idOf(label), replies: 1 });
    };
    if (r.auth) push('auth', ['AUTH', ...r.auth]);
    if (r.hello) push('hello', ['HELLO', ...r.hello]);
    if (r.db !== 0) push('select', ['SELECT', String(r.db)]);
    if (r.name) push('client|setname', ['CLIENT', 'SETNAME', r.name]);
    if (r.readOnly) push('readonly', ['READONLY']);
    out.push(...this.subscriptions.replay());
    if (this.inMulti) {
      push('multi', ['MULTI']);
      out.push({ bytes: TRANSACTION_POISON, cmd: 0, replies: 1, expectError: true });
    }
    return out;
  }

  /** The name CLIENT SETNAME (or else HELLO … SETNAME) gave the connection, or null; for the slow log. */
  get clientName(): Buffer | null {
    const r = this.restorable;
    if (r.name !== null) return r.name;
    // HELLO's options after the protocol: AUTH user password, SETNAME name. AUTH's two are
    // skipped whole, so a user or password spelled "setname" is never taken for the name.
    const hello = r.hello ?? [];
    for (let i = 1; i + 1 < hello.length; ) {
      const option = hello[i]!.toString('latin1').toLowerCase();
      if (option === 'setname') return hello[i + 1]!;
      i += option === 'auth' ? 3 : 1;
    }
    return null;
  }

  /** The protocol a replayed HELLO brings back (0: none replayed). */
  get replayedProtocol(): number {
    const v = this.restorable.hello?.[0]?.toString('latin1');
    return v === '3' ? 3 : v === '2' ? 2 : 0;
  }
}
