/**
 * Space-Saving (Metwally, Agrawal, El Abbadi 2005): the most frequent keys of a stream in a fixed
 * number of counters. A key seen again adds one to its counter; a new key takes the smallest
 * counter over, adding one to it, and remembers that count as its error. So every key's counter
 * over-counts it by at most its error, and a key with more than total/capacity occurrences is
 * always held.
 *
 * Everything lives in typed arrays allocated once, so memory is fixed whatever the keys: per
 * counter KEY_BYTES of key, its full length and hash, count, error, a few commands, and its
 * place in the hash index and in the min-heap (~220 bytes with KEY_BYTES 128). Keys longer than
 * KEY_BYTES are told apart by their first KEY_BYTES bytes, full length and 32-bit hash.
 */

/** Bytes of each key kept (longer keys are shown cut, with their length). */
export const KEY_BYTES = 128;
/** Commands remembered per key (themselves a tiny space-saving summary). */
export const COMMANDS_PER_KEY = 4;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function keyHash(buf: Buffer, start: number, len: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < start + len; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME) >>> 0;
  return h;
}

export class SpaceSaving {
  /** Keys counted since the last clear. */
  total = 0;
  /** Counters in use. */
  size = 0;
  readonly keys: Buffer;
  readonly hashes: Uint32Array;
  /** Full key length (only KEY_BYTES of it kept). */
  readonly lengths: Int32Array;
  readonly counts: Float64Array;
  readonly errors: Float64Array;
  /** COMMANDS_PER_KEY slots per counter: command id + 1 (0: empty), and its count. */
  readonly commands: Int32Array;
  readonly commandCounts: Float64Array;
  /** Open-addressed index: counter + 1 (0: empty), by hash. */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Min-heap of counters by count, and each counter's place in it. */
  private readonly heap: Int32Array;
  private readonly place: Int32Array;

  constructor(readonly capacity: number) {
    this.keys = Buffer.alloc(capacity * KEY_BYTES);
    this.hashes = new Uint32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.counts = new Float64Array(capacity);
    this.errors = new Float64Array(capacity);
    this.commands = new Int32Array(capacity * COMMANDS_PER_KEY);
    this.commandCounts = new Float64Array(capacity * COMMANDS_PER_KEY);
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    this.heap = new Int32Array(capacity);
    this.place = new Int32Array(capacity);
  }

  /** The smallest count held when every counter is in use, else 0: what an absent key may have had. */
  get floor(): number {
    return this.size < this.capacity ? 0 : this.counts[this.heap[0]!]!;
  }

  /** One occurrence of the key at `buf[start, start + len)` by command `cmd`. */
  offer(buf: Buffer, start: number, len: number, cmd: number): void {
    const hash = keyHash(buf, start, len);
    this.total++;
    let c = this.find(buf, start, len, hash);
    if (c < 0) {
      if (this.size < this.capacity) {
        c = this.size++;
        this.counts[c] = 0;
        this.errors[c] = 0;
        this.heap[c] = c;
        this.place[c] = c;
        this.siftUp(c);
      } else {
        c = this.heap[0]!;
        this.unindex(c);
        this.errors[c] = this.counts[c]!;
      }
      this.hashes[c] = hash;
      this.lengths[c] = len;
      buf.copy(this.keys, c * KEY_BYTES, start, start + Math.min(len, KEY_BYTES));
      this.commands.fill(0, c * COMMANDS_PER_KEY, (c + 1) * COMMANDS_PER_KEY);
      this.index(c);
    }
    this.counts[c]!++;
    this.countCommand(c, cmd);
    this.siftDown(this.place[c]!);
  }

  clear(): void {
    this.total = 0;
    this.size = 0;
    this.table.fill(0);
  }

  /** The key bytes kept for counter `c` (at most KEY_BYTES). */
  keyOf(c: number): Buffer {
    return this.keys.subarray(c * KEY_BYTES, c * KEY_BYTES + Math.min(this.lengths[c]!, KEY_BYTES));
  }

  private find(buf: Buffer, start: number, len: number, hash: number): number {
    const kept = Math.min(len, KEY_BYTES);
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.table[i]!;
      if (e === 0) return -1;
      const c = e - 1;
      if (this.hashes[c] !== hash || this.lengths[c] !== len) continue;
      const base = c * KEY_BYTES;
      let same = true;
      for (let j = 0; j < kept; j++) {
        if (this.keys[base + j] !== buf[start + j]) {
          same = false;
          break;
        }
      }
      if (same) return c;
    }
  }

  private index(c: number): void {
    let i = this.hashes[c]! & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = c + 1;
  }

  /** Removes counter `c` from the index, shifting later entries back (linear probing has no tombstones here). */
  private unindex(c: number): void {
    let i = this.hashes[c]! & this.mask;
    while (this.table[i] !== c + 1) i = (i + 1) & this.mask;
    this.table[i] = 0;
    for (let j = (i + 1) & this.mask; this.table[j] !== 0; j = (j + 1) & this.mask) {
      const home = this.hashes[this.table[j]! - 1]! & this.mask;
      // The entry at j may move to i if its home is not in (i, j] (cyclically).
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        this.table[i] = this.table[j]!;
        this.table[j] = 0;
        i = j;
      }
    }
  }

  private countCommand(c: number, cmd: number): void {
    const base = c * COMMANDS_PER_KEY;
    let least = base;
    for (let k = base; k < base + COMMANDS_PER_KEY; k++) {
      if (this.commands[k] === cmd + 1) {
        this.commandCounts[k]!++;
        return;
      }
      if (this.commands[k] === 0) {
        this.commands[k] = cmd + 1;
        this.commandCounts[k] = 1;
        return;
      }
      if (this.commandCounts[k]! < this.commandCounts[least]!) least = k;
    }
    this.commands[least] = cmd + 1;
    this.commandCounts[least]!++;
  }

  private siftUp(p: number): void {
    const heap = this.heap;
    while (p > 0) {
      const parent = (p - 1) >> 1;
      if (this.counts[heap[parent]!]! <= this.counts[heap[p]!]!) return;
      this.swap(p, parent);
      p = parent;
    }
  }

  private siftDown(p: number): void {
    const heap = this.heap;
    const n = this.size;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= n) return;
      const r = l + 1;
      const child = r < n && this.counts[heap[r]!]! < this.counts[heap[l]!]! ? r : l;
      if (this.counts[heap[p]!]! <= this.counts[heap[child]!]!) return;
      this.swap(p, child);
      p = child;
    }
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    this.heap[a] = y;
    this.heap[b] = x;
    this.place[y] = a;
    this.place[x] = b;
  }
}
