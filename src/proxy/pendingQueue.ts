/**
 * Commands sent upstream and not yet answered, oldest first: a ring of parallel typed arrays so
 * that pipelining thousands of commands allocates nothing per command.
 */

/** The upstream answers, for the client. */
export const OWNER_CLIENT = 0;
/** The upstream answers the ambassador's own command, whose error is expected (the MULTI poison). */
export const OWNER_INTERNAL = 1;
/** The ambassador answers, for the client (a refused command: its reply waits in `extra`). */
export const OWNER_LOCAL = 2;
/** The upstream answers a command that restores the connection (AUTH, SELECT, ...): it must succeed. */
export const OWNER_REPLAY = 3;
export class PendingQueue {
  private head = 0;
  private count = 0;
  private cmd: Int32Array;
  private start: Float64Array;
  /** Replies still expected: 1 for most commands, N for SUBSCRIBE a1..aN, -1 = decide at head. */
  private replies: Int32Array;
  /** PendingKind of the entry. */
  private kind: Uint8Array;
  /** Small integer argument of special commands (HELLO's protocol version). */
  private arg: Int32Array;
  /** Who answers, and for whom: one of the OWNER_* values. */
  private internal: Uint8Array;
  /** Decoded arguments of state-changing commands, applied when the reply succeeds. */
  private extra: (Buffer[] | null)[];
  /** How many internal entries (OWNER_INTERNAL and OWNER_REPLAY) are queued. */
  internalCount = 0;
  /** How many OWNER_REPLAY entries are queued: the connection is not restored until none is. */
  replayCount = 0;
  /** How many locally answered entries are queued. */
  localCount = 0;

  // Small to start: an idle client costs little; pipelining clients grow it by doubling.
  constructor(initial = 8) {
    this.cmd = new Int32Array(initial);
    this.start = new Float64Array(initial);
    this.replies = new Int32Array(initial);
    this.kind = new Uint8Array(initial);
    this.arg = new Int32Array(initial);
    this.internal = new Uint8Array(initial);
    this.extra = new Array<Buffer[] | null>(initial).fill(null);
  }

  get length(): number {
    return this.count;
  }

  /** Entries the ring holds before it grows. */
  private get cap(): number {
    return this.cmd.length;
  }

  push(cmd: number, start: number, replies: number, kind: number, arg: number, extra: Buffer[] | null = null): void {
    if (this.count === this.cap) this.grow();
    this.set((this.head + this.count) % this.cap, cmd, start, replies, kind, arg, extra, 0);
    this.count++;
  }

  /**
   * Queues one of the ambassador's own commands ahead of everything (it is written before any
   * queued client bytes): OWNER_REPLAY, or OWNER_INTERNAL where its error is expected.
   */
  unshiftInternal(cmd: number, start: number, replies: number, kind: number, arg: number, owner = OWNER_REPLAY): void {
    if (this.count === this.cap) this.grow();
    this.head = (this.head - 1 + this.cap) % this.cap;
    this.set(this.head, cmd, start, replies, kind, arg, null, owner);
    this.count++;
    this.internalCount++;
    if (owner === OWNER_REPLAY) this.replayCount++;
  }

  /** Queues an internal command whose error is expected at the back (right after the client frame before it). */
  pushInternal(cmd: number, start: number, replies: number, kind: number, arg: number): void {
    if (this.count === this.cap) this.grow();
    this.set((this.head + this.count) % this.cap, cmd, start, replies, kind, arg, null, OWNER_INTERNAL);
    this.count++;
    this.internalCount++;
  }

  /**
   * Queues a command the ambassador answers itself with `reply`, in its turn. `counted`: it is one
   * of the client's commands (shared mode's QUIT), so its answer is timed like a reply (arg 1).
   */
  pushLocal(cmd: number, start: number, reply: Buffer, counted = false): void {
    if (this.count === this.cap) this.grow();
    this.set((this.head + this.count) % this.cap, cmd, start, 1, 0, counted ? 1 : 0, [reply], OWNER_LOCAL);
    this.count++;
    this.localCount++;
  }

  get headLocal(): boolean {
    return this.count > 0 && this.internal[this.head] === OWNER_LOCAL;
  }

  /** Visits every entry oldest first with its OWNER_* value (and a local entry's reply). */
  forEach(visit: (owner: number, reply: Buffer | null) => void): void {
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % this.cap;
      const owner = this.internal[i]!;
      visit(owner, owner === OWNER_LOCAL ? this.extra[i]![0]! : null);
    }
  }

  shift(): void {
    const owner = this.internal[this.head];
    if (owner === OWNER_INTERNAL) this.internalCount--;
    else if (owner === OWNER_REPLAY) {
      this.internalCount--;
      this.replayCount--;
    } else if (owner === OWNER_LOCAL) this.localCount--;
    this.extra[this.head] = null;
    this.head = (this.head + 1) % this.cap;
    this.count--;
  }

  get headInternal(): boolean {
    const owner = this.internal[this.head];
    return owner === OWNER_INTERNAL || owner === OWNER_REPLAY;
  }
  get headReplay(): boolean {
    return this.count > 0 && this.internal[this.head] === OWNER_REPLAY;
  }
  get headExtra(): Buffer[] | null {
    return this.extra[this.head]!;
  }

  /** Client (not internal) entries queued. */
  get clientCount(): number {
    return this.count - this.internalCount;
  }

  get headCmd(): number {
    return this.cmd[this.head]!;
  }
  get headStart(): number {
    return this.start[this.head]!;
  }
  get headKind(): number {
    return this.kind[this.head]!;
  }
  get headArg(): number {
    return this.arg[this.head]!;
  }
  get headReplies(): number {
    return this.replies[this.head]!;
  }
  set headReplies(n: number) {
    this.replies[this.head] = n;
  }

  /** Commands buffered before the upstream connected start their clock when they are sent. */
  restamp(now: number): void {
    for (let k = 0; k < this.count; k++) this.start[(this.head + k) % this.cap] = now;
  }

  clear(): void {
    this.extra.fill(null);
    this.head = 0;
    this.count = 0;
    this.internalCount = 0;
    this.replayCount = 0;
    this.localCount = 0;
  }

  private set(i: number, cmd: number, start: number, replies: number, kind: number, arg: number, extra: Buffer[] | null, internal: number): void {
    this.cmd[i] = cmd;
    this.start[i] = start;
    this.replies[i] = replies;
    this.kind[i] = kind;
    this.arg[i] = arg;
    this.extra[i] = extra;
    this.internal[i] = internal;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const order = (src: Int32Array | Float64Array | Uint8Array, dst: Int32Array | Float64Array | Uint8Array): void => {
      for (let k = 0; k < this.count; k++) dst[k] = src[(this.head + k) % this.cap]!;
    };
    const cmd = new Int32Array(cap);
    const start = new Float64Array(cap);
    const replies = new Int32Array(cap);
    const kind = new Uint8Array(cap);
    const arg = new Int32Array(cap);
    const internal = new Uint8Array(cap);
    const extra = new Array<Buffer[] | null>(cap).fill(null);
    for (let k = 0; k < this.count; k++) extra[k] = this.extra[(this.head + k) % this.cap]!;
    order(this.internal, internal);
    order(this.cmd, cmd);
    order(this.start, start);
    order(this.replies, replies);
    order(this.kind, kind);
    order(this.arg, arg);
    this.cmd = cmd;
    this.start = start;
    this.replies = replies;
    this.kind = kind;
    this.arg = arg;
    this.internal = internal;
    this.extra = extra;
    this.head = 0;
  }
}
