/**
 * Everything the ambassador knows about commands, in one table indexed by command id: its metric
 * label, what the ambassador must do beside relaying it (its role), its category, how many of
 * its leading tokens are read, and whether its arguments are connection state worth replaying.
 * Built once from the generated command table (Redis's own facts: flags, arity, key specs); the
 * handful of commands the ambassador treats specially are named in ROLES below, nowhere else.
 *
 * Ids: 0 is "unknown"; then every command in table order, each followed by its subcommands
 * (labelled "client|setname"). A client sending names outside the table cannot grow anything.
 */
import { COMMAND_DEFS, type CommandDef, type CommandFacts } from './commandTable.js';

/** What the ambassador does with a command beside relaying it; PLAIN for almost all. */
export const ROLE = {
  PLAIN: 0,
  SUBSCRIBE: 1,
  UNSUBSCRIBE: 2,
  PSUBSCRIBE: 3,
  PUNSUBSCRIBE: 4,
  SSUBSCRIBE: 5,
  SUNSUBSCRIBE: 6,
  HELLO: 7,
  RESET: 8,
  MONITOR: 9,
  /** Redis flags it blocking (BLPOP, WAIT, ...): its latency is waiting, not work. */
  BLOCKING: 10,
  /** SYNC/PSYNC: unless refused, the connection becomes a replication stream. */
  REPLICATION: 11,
  /** XREAD/XREADGROUP: blocking only with a BLOCK option. */
  XREAD: 12,
  XREADGROUP: 13,
  MULTI: 14,
  EXEC: 15,
  DISCARD: 16,
  WATCH: 17,
  UNWATCH: 18,
  QUIT: 19,
  AUTH: 20,
  SELECT: 21,
  CLIENT_SETNAME: 22,
  READONLY: 23,
  READWRITE: 24,
  CLIENT_REPLY: 25,
  CLIENT_TRACKING: 26,
} as const;

/**
 * What a command means for the connection it runs on, coarsely: `ordinary` commands could run on
 * any connection; the others make, read or hold connection state.
 */
export type Category = 'ordinary' | 'blocking' | 'pubsub' | 'transaction' | 'replication' | 'connection';

/**
 * Why a command needs a connection of the client's own (AMBASSADOR_UPSTREAM_MODE=shared): it
 * makes or reads connection state, or holds the connection; or (identity) its client certificate maps
 * it to an ACL user of its own. A bounded set: it is a metric label.
 */
export const PIN_REASONS = [
  'select',
  'auth',
  'hello',
  'transaction',
  'pubsub',
  'blocking',
  'monitor',
  'replication',
  'client',
  'readonly',
  'reset',
  'asking',
  'script-debug',
  'large',
  'unknown',
  'identity',
] as const;
export type PinReason = (typeof PIN_REASONS)[number];

/** Replies that name cluster nodes by address: rewritten on a cluster listener (src/proxy/clusterRewriter.ts). */
export type NodeNaming = 'slots' | 'shards' | 'nodes' | 'node-lines' | 'role' | 'info';

interface Special {
  readonly role: number;
  readonly category: Category;
  /** Its reply names cluster nodes by address. */
  readonly naming?: NodeNaming;
  /** Why it cannot share a connection with other clients; none: it can. */
  readonly pin?: PinReason;
  /** Its decoded arguments are needed (state to replay, or the gate's AUTH check). */
  readonly args?: boolean;
  /** Leading tokens read (name included), where more than the name and a subcommand. */
  readonly tokens?: number;
}

const ROLES: Readonly<Record<string, Special>> = {
  subscribe: { role: ROLE.SUBSCRIBE, category: 'pubsub', args: true, pin: 'pubsub' },
  unsubscribe: { role: ROLE.UNSUBSCRIBE, category: 'pubsub', args: true, pin: 'pubsub' },
  psubscribe: { role: ROLE.PSUBSCRIBE, category: 'pubsub', args: true, pin: 'pubsub' },
  punsubscribe: { role: ROLE.PUNSUBSCRIBE, category: 'pubsub', args: true, pin: 'pubsub' },
  ssubscribe: { role: ROLE.SSUBSCRIBE, category: 'pubsub', args: true, pin: 'pubsub' },
  sunsubscribe: { role: ROLE.SUNSUBSCRIBE, category: 'pubsub', args: true, pin: 'pubsub' },
  hello: { role: ROLE.HELLO, category: 'connection', args: true, tokens: 2, pin: 'hello' },
  reset: { role: ROLE.RESET, category: 'connection', pin: 'reset' },
  monitor: { role: ROLE.MONITOR, category: 'connection', pin: 'monitor' },
  sync: { role: ROLE.REPLICATION, category: 'replication', pin: 'replication' },
  psync: { role: ROLE.REPLICATION, category: 'replication', pin: 'replication' },
  replconf: { role: ROLE.PLAIN, category: 'replication', pin: 'replication' },
  // XREAD's options (COUNT n, BLOCK ms) and XREADGROUP's (GROUP g c, COUNT, BLOCK, NOACK) come
  // before STREAMS: read enough tokens to find BLOCK there. They pin only with BLOCK.
  xread: { role: ROLE.XREAD, category: 'blocking', tokens: 8, pin: 'blocking' },
  xreadgroup: { role: ROLE.XREADGROUP, category: 'blocking', tokens: 8, pin: 'blocking' },
  wait: { role: ROLE.BLOCKING, category: 'blocking', pin: 'blocking' },
  waitaof: { role: ROLE.BLOCKING, category: 'blocking', pin: 'blocking' },
  // EXEC, DISCARD and UNWATCH can only matter after MULTI or WATCH, which already pinned.
  multi: { role: ROLE.MULTI, category: 'transaction', pin: 'transaction' },
  exec: { role: ROLE.EXEC, category: 'transaction' },
  discard: { role: ROLE.DISCARD, category: 'transaction' },
  watch: { role: ROLE.WATCH, category: 'transaction', pin: 'transaction' },
  unwatch: { role: ROLE.UNWATCH, category: 'transaction' },
  // QUIT on a shared connection would close it for everyone: the ambassador answers it itself.
  quit: { role: ROLE.QUIT, category: 'connection' },
  auth: { role: ROLE.AUTH, category: 'connection', args: true, pin: 'auth' },
  // SELECT 0 keeps the shared connections' database; any other pins (pinning.ts reads the argument).
  select: { role: ROLE.SELECT, category: 'connection', args: true, pin: 'select' },
  'client|setname': { role: ROLE.CLIENT_SETNAME, category: 'connection', args: true, pin: 'client' },
  readonly: { role: ROLE.READONLY, category: 'connection', pin: 'readonly' },
  readwrite: { role: ROLE.READWRITE, category: 'connection', pin: 'readonly' },
  // CLIENT REPLY's mode and CLIENT TRACKING's ON/OFF are the third token.
  'client|reply': { role: ROLE.CLIENT_REPLY, category: 'connection', tokens: 3, pin: 'client' },
  'client|tracking': { role: ROLE.CLIENT_TRACKING, category: 'connection', tokens: 3, pin: 'client' },
  // ASKING flags the connection for the next command (a cluster redirect).
  asking: { role: ROLE.PLAIN, category: 'connection', pin: 'asking' },
  'cluster|slots': { role: ROLE.PLAIN, category: 'ordinary', naming: 'slots' },
  'cluster|shards': { role: ROLE.PLAIN, category: 'ordinary', naming: 'shards' },
  'cluster|nodes': { role: ROLE.PLAIN, category: 'ordinary', naming: 'nodes' },
  'cluster|replicas': { role: ROLE.PLAIN, category: 'ordinary', naming: 'node-lines' },
  'cluster|slaves': { role: ROLE.PLAIN, category: 'ordinary', naming: 'node-lines' },
  role: { role: ROLE.PLAIN, category: 'ordinary', naming: 'role' },
  info: { role: ROLE.PLAIN, category: 'ordinary', naming: 'info' },
  // SCRIPT DEBUG YES|SYNC puts the connection's next EVALs in the Lua debugger.
  'script|debug': { role: ROLE.PLAIN, category: 'connection', pin: 'script-debug' },
};

export class CommandTraits {
  /** Metric label of each id: "get", "client|setname", …; id 0 is "unknown". */
  readonly names: string[] = ['unknown'];
  readonly role: Uint8Array;
  readonly category: Category[] = ['connection'];
  /** Leading tokens the proxy reads of each command (name included). */
  readonly tokensWanted: Uint8Array;
  /** 1 where the decoded arguments are needed. */
  readonly wantsArgs: Uint8Array;
  /** Id of the parent command for a subcommand, else the id itself. */
  readonly parent: Int32Array;
  /** Why each command cannot share a connection (null: it can); id 0, unknown, always pins. */
  readonly pin: (PinReason | null)[] = ['unknown'];
  /** How each command's reply names cluster nodes, if it does. */
  readonly naming: (NodeNaming | null)[] = [null];
  /** Redis's facts for each id (null for "unknown"). */
  readonly facts: (CommandFacts | null)[] = [null];
  /** Subcommand names of each command that has them. */
  readonly subcommands = new Map<number, readonly string[]>();

  constructor(defs: readonly CommandDef[]) {
    const rows: { label: string; facts: CommandFacts; parent: number }[] = [];
    for (const d of defs) {
      const id = rows.length + 1;
      rows.push({ label: d.name, facts: d, parent: id });
      if (d.subcommands.length > 0) this.subcommands.set(id, d.subcommands.map((s) => s.name));
      for (const s of d.subcommands) rows.push({ label: `${d.name}|${s.name}`, facts: s, parent: id });
    }
    const n = rows.length + 1;
    this.role = new Uint8Array(n);
    this.tokensWanted = new Uint8Array(n).fill(1);
    this.wantsArgs = new Uint8Array(n);
    this.parent = new Int32Array(n);
    for (const [k, r] of rows.entries()) {
      const id = k + 1;
      const special = ROLES[r.label];
      const blocking = r.facts.flags.includes('blocking');
      this.names.push(r.label);
      this.facts.push(r.facts);
      this.parent[id] = r.parent;
      this.role[id] = special?.role ?? (blocking ? ROLE.BLOCKING : ROLE.PLAIN);
      // Every CLIENT subcommand is about the connection it is sent on (its id, name, reply mode…).
      const aboutConnection = r.label.startsWith('client|');
      this.category.push(special?.category ?? (blocking ? 'blocking' : aboutConnection ? 'connection' : 'ordinary'));
      this.pin.push(special?.pin ?? (blocking ? 'blocking' : aboutConnection ? 'client' : null));
      this.naming.push(special?.naming ?? null);
      this.wantsArgs[id] = special?.args ? 1 : 0;
      // A command with subcommands needs its second token to be named at all.
      const own = this.subcommands.has(id) ? 2 : 1;
      this.tokensWanted[id] = Math.max(own, special?.tokens ?? 0);
    }
    // The subcommand decides how many tokens its parent's frame needs.
    for (const [id, subs] of this.subcommands) {
      for (const s of subs) this.tokensWanted[id] = Math.max(this.tokensWanted[id]!, this.tokensWanted[this.idOf(`${this.names[id]}|${s}`)]!);
    }
  }

  get size(): number {
    return this.names.length;
  }

  /** Id of a label; throws for a name not in the table (a programming error, caught by tests). */
  idOf(label: string): number {
    const id = this.names.indexOf(label);
    if (id < 0) throw new Error(`command "${label}" is not in the command table`);
    return id;
  }

  /** Whether `label` names a command or subcommand of the table ("config", "config|set"). */
  isLabel(label: string): boolean {
    return label !== 'unknown' && this.names.includes(label);
  }

  hasSubcommands(id: number): boolean {
    return this.subcommands.has(id);
  }

  /** Upper-case name for messages: "CLIENT SETNAME". */
  display(id: number): string {
    return (this.names[id] ?? 'unknown').replace('|', ' ').toUpperCase();
  }
}

/** The table for the Redis version this ambassador was built against. */
export const TRAITS = new CommandTraits(COMMAND_DEFS);
