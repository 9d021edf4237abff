/**
 * The connection state a client has set on its upstream connection, remembered so that a new
 * upstream connection (after a loss or a failover) can be put back in the same state before the
 * client's next command: AUTH, HELLO (protocol, auth, name), SELECT, CLIENT SETNAME, READONLY and
 * the channels, patterns and shard channels it is subscribed to.
 *
 * Commands that change state only take effect when their reply is not an error (AUTH with a
 * wrong password changes nothing); subscriptions take effect as sent, because each channel is
 * confirmed separately and a refused SUBSCRIBE is refused whole.
 */
import type { CommandIndex } from '../resp/commandIndex.js';
import { encodeCommand } from '../resp/commandCodec.js';

export interface ReplayCommand {
  readonly bytes: Buffer;
  readonly cmd: number;
  /** Replies it will get (one per channel for the subscribe family). */
  readonly replies: number;
  /** Its error is the point (the MULTI poison): an error reply does not mean the replay failed. */
  readonly expectError?: boolean;
  /** The ambassador's own command (its upstream AUTH), not one replayed for the client. */
  readonly fromAmbassador?: boolean;
}

/** Ids of the commands whose arguments are state worth replaying. */
export interface StateIds {
  readonly auth: number;
  readonly hello: number;
  readonly select: number;
  readonly setname: number;
  readonly readonly: number;
  readonly readwrite: number;
  readonly subscribe: number;
  readonly unsubscribe: number;
  readonly psubscribe: number;
  readonly punsubscribe: number;
  readonly ssubscribe: number;
  readonly sunsubscribe: number;
  readonly watch: number;
  readonly unwatch: number;
  readonly exec: number;
  readonly discard: number;
  readonly reset: number;
  readonly multi: number;
}

export function stateIds(index: CommandIndex): StateIds {
  return {
    auth: index.idOf('auth'),
    hello: index.idOf('hello'),
    select: index.idOf('select'),
    setname: index.idOf('client|setname'),
    readonly: index.idOf('readonly'),
    readwrite: index.idOf('readwrite'),
    subscribe: index.idOf('subscribe'),
    unsubscribe: index.idOf('unsubscribe'),
    psubscribe: index.idOf('psubscribe'),
    punsubscribe: index.idOf('punsubscribe'),
    ssubscribe: index.idOf('ssubscribe'),
    sunsubscribe: index.idOf('sunsubscribe'),
    watch: index.idOf('watch'),
    unwatch: index.idOf('unwatch'),
    exec: index.idOf('exec'),
    discard: index.idOf('discard'),
    reset: index.idOf('reset'),
    multi: index.idOf('multi'),
  };
}

/**
 * A command that cannot exist, sent inside a replayed MULTI: Redis refuses it and marks the
 * transaction, so the client's EXEC answers -EXECABORT instead of running half a transaction.
 */
export const TRANSACTION_POISON = encodeCommand(['ambassador-upstream-was-lost-transaction-aborted']);

export class SessionState {
  private auth: Buffer[] | null = null;
  private hello: Buffer[] | null = null;
  private db = 0;
  private name: Buffer | null = null;
  private readOnly = false;
  private readonly channels = new Map<string, Buffer>();
  private readonly patterns = new Map<string, Buffer>();
  private readonly shardChannels = new Map<string, Buffer>();
  /** WATCH sent and not yet cleared by EXEC, DISCARD, UNWATCH or RESET. */
  watching = false;
  /** The upstream holding the client's WATCHes was lost: its next transaction must fail. */
  watchLost = false;

  constructor(private readonly ids: StateIds) {}

  /** Whether the command's arguments are needed (the caller then decodes the frame). */
  needsArgs(cmd: number): boolean {
    const i = this.ids;
    return (
      cmd === i.auth ||
      cmd === i.hello ||
      cmd === i.select ||
      cmd === i.setname ||
      cmd === i.subscribe ||
      cmd === i.unsubscribe ||
      cmd === i.psubscribe ||
      cmd === i.punsubscribe ||
      cmd === i.ssubscribe ||
      cmd === i.sunsubscribe
    );
  }

  /** Effects as the command is sent (outside MULTI). */
  onSent(cmd: number, args: Buffer[] | null): void {
    const i = this.ids;
    if (cmd === i.watch) this.watching = true;
    else if (cmd === i.unwatch || cmd === i.exec || cmd === i.discard || cmd === i.reset) {
      this.watching = false;
      this.watchLost = false;
    } else if (args !== null) {
      const names = args.slice(1);
      if (cmd === i.subscribe) add(this.channels, names);
      else if (cmd === i.psubscribe) add(this.patterns, names);
      else if (cmd === i.ssubscribe) add(this.shardChannels, names);
      else if (cmd === i.unsubscribe) remove(this.channels, names);
      else if (cmd === i.punsubscribe) remove(this.patterns, names);
      else if (cmd === i.sunsubscribe) remove(this.shardChannels, names);
    }
  }

  /** Effects once the reply came back and was not an error. */
  onSucceeded(cmd: number, args: Buffer[] | null): void {
    const i = this.ids;
    if (cmd === i.reset) {
      this.auth = null;
      this.hello = null;
      this.db = 0;
      this.name = null;
      this.readOnly = false;
      this.channels.clear();
      this.patterns.clear();
      this.shardChannels.clear();
      return;
    }
    if (cmd === i.readonly) this.readOnly = true;
    else if (cmd === i.readwrite) this.readOnly = false;
    if (args === null) return;
    if (cmd === i.auth) this.auth = args.slice(1);
    else if (cmd === i.hello) this.hello = args.slice(1);
    else if (cmd === i.select && args.length === 2) this.db = Number(args[1]!.toString('latin1')) || 0;
    else if (cmd === i.setname && args.length === 3) this.name = args[2]!;
  }

  get subscriptions(): number {
    return this.channels.size + this.patterns.size + this.shardChannels.size;
  }

  /** Commands that rebuild the state on a fresh connection, in the order they must run. */
  replay(inMulti: boolean): ReplayCommand[] {
    const i = this.ids;
    const out: ReplayCommand[] = [];
    const push = (cmd: number, args: (string | Buffer)[], replies = 1): void => {
      out.push({ bytes: encodeCommand(args), cmd, replies });
    };
    if (this.auth) push(i.auth, ['AUTH', ...this.auth]);
    if (this.hello) push(i.hello, ['HELLO', ...this.hello]);
    if (this.db !== 0) push(i.select, ['SELECT', String(this.db)]);
    if (this.name) push(i.setname, ['CLIENT', 'SETNAME', this.name]);
    if (this.readOnly) push(i.readonly, ['READONLY']);
    if (this.channels.size > 0) push(i.subscribe, ['SUBSCRIBE', ...this.channels.values()], this.channels.size);
    if (this.patterns.size > 0) push(i.psubscribe, ['PSUBSCRIBE', ...this.patterns.values()], this.patterns.size);
    if (this.shardChannels.size > 0) push(i.ssubscribe, ['SSUBSCRIBE', ...this.shardChannels.values()], this.shardChannels.size);
    if (inMulti) {
      push(i.multi, ['MULTI']);
      out.push({ bytes: TRANSACTION_POISON, cmd: 0, replies: 1, expectError: true });
    }
    return out;
  }
}

function add(set: Map<string, Buffer>, names: Buffer[]): void {
  for (const n of names) set.set(n.toString('latin1'), Buffer.from(n));
}

function remove(set: Map<string, Buffer>, names: Buffer[]): void {
  if (names.length === 0) set.clear();
  for (const n of names) set.delete(n.toString('latin1'));
}
