/**
 * Space-Saving (Metwally, Agrawal, El Abbadi 2005): the most frequent keys of a stream in a fixed
 * number of counters. A key seen again adds one to its counter; a new key takes the smallest
 * counter over, adding one to it, and remembers that count as its error. So every key's counter
 * over-counts it by at most its error, and a key with more than total/capacity occurrences is
 * always held.
 *
 * Everything lives in typed arrays allocated once, so memory is fixed whatever the keys: per
 * counter KEY_BYTES of key, its full length and hash, count, error, a few commands, its place in
 * the hash index, and its links in the Stream-Summary (~240 bytes with KEY_BYTES 128). Keys longer
 * than KEY_BYTES are told apart by their first KEY_BYTES bytes, full length and 32-bit hash.
 *
 * Counters are kept as the paper's Stream-Summary: groups of counters with equal counts, in a
 * list ordered by count, so that both adding one and finding the smallest counter take constant
 * time (a heap took ten sift steps per eviction when, as usual, most counts are equal).
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
  // Stream-Summary: each counter's group and its neighbours in it; each group's count, first
  // counter and neighbours (by count); groups not in use are on a free list. -1: none.
  private readonly group: Int32Array;
  private readonly nextInGroup: Int32Array;
  private readonly prevInGroup: Int32Array;
  private readonly groupCount: Float64Array;
  private readonly groupFirst: Int32Array;
  private readonly groupNext: Int32Array;
  private readonly groupPrev: Int32Array;
  private readonly freeGroups: Int32Array;
  private freeCount = 0;
  /** The group with the smallest count, or -1. */
  private lowest = -1;

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
    this.group = new Int32Array(capacity);
    this.nextInGroup = new Int32Array(capacity);
    this.prevInGroup = new Int32Array(capacity);
    this.groupCount = new Float64Array(capacity);
    this.groupFirst = new Int32Array(capacity);
    this.groupNext = new Int32Array(capacity);
    this.groupPrev = new Int32Array(capacity);
    this.freeGroups = new Int32Array(capacity);
    this.clear();
  }

  /** The smallest count held when every counter is in use, else 0: what an absent key may have had. */
  get floor(): number {
    return this.size < this.capacity ? 0 : this.groupCount[this.lowest]!;
  }

  /** One occurrence of the key at `buf[start, start + len)` by command `cmd` (`hash`: its keyHash). */
  offer(buf: Buffer, start: number, len: number, cmd: number, hash = keyHash(buf, start, len)): void {
    this.total++;
    let c = this.find(buf, start, len, hash);
    if (c < 0) {
      if (this.size < this.capacity) {
        c = this.size++;
        this.counts[c] = 0;
        this.errors[c] = 0;
        this.joinLowest(c);
      } else {
        c = this.groupFirst[this.lowest]!;
        this.unindex(c);
        this.errors[c] = this.counts[c]!;
      }
      this.hashes[c] = hash;
      this.lengths[c] = len;
      // A loop, not Buffer.copy: for a few bytes the call into C++ costs more than the copy.
      const kept = len < KEY_BYTES ? len : KEY_BYTES;
      const base = c * KEY_BYTES;
      for (let j = 0; j < kept; j++) this.keys[base + j] = buf[start + j]!;
      const cb = c * COMMANDS_PER_KEY;
      for (let k = cb; k < cb + COMMANDS_PER_KEY; k++) this.commands[k] = 0;
      this.index(c);
    }
    this.increment(c);
    this.countCommand(c, cmd);
  }

  /** An occurrence counted in `total` but kept out of the counters (a doorkeeper turned it away). */
  skip(): void {
    this.total++;
  }

  clear(): void {
    this.total = 0;
    this.size = 0;
    this.table.fill(0);
    this.lowest = -1;
    this.freeCount = this.capacity;
    for (let g = 0; g < this.capacity; g++) this.freeGroups[g] = this.capacity - 1 - g;
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

  /** A new counter (count 0) joins the lowest group, or a new group of count 0 before it. */
  private joinLowest(c: number): void {
    let g = this.lowest;
    if (g < 0 || this.groupCount[g] !== 0) {
      g = this.newGroup(0, -1, this.lowest);
      this.lowest = g;
    }
    this.addTo(g, c);
  }

  /** counts[c] + 1, moving c to the group of that count (made if missing). */
  private increment(c: number): void {
    const g = this.group[c]!;
    const n = ++this.counts[c]!;
    const next = this.groupNext[g]!;
    if (next >= 0 && this.groupCount[next] === n) {
      this.removeFrom(g, c);
      this.addTo(next, c);
    } else if (this.groupFirst[g] === c && this.nextInGroup[c] === -1) {
      this.groupCount[g] = n; // alone in its group: the group moves up with it
    } else {
      const fresh = this.newGroup(n, g, next);
      this.removeFrom(g, c);
      this.addTo(fresh, c);
    }
  }

  private addTo(g: number, c: number): void {
    const first = this.groupFirst[g]!;
    this.group[c] = g;
    this.prevInGroup[c] = -1;
    this.nextInGroup[c] = first;
    if (first >= 0) this.prevInGroup[first] = c;
    this.groupFirst[g] = c;
  }

  /** Takes c out of group g, dropping g once it is empty. */
  private removeFrom(g: number, c: number): void {
    const prev = this.prevInGroup[c]!;
    const next = this.nextInGroup[c]!;
    if (prev >= 0) this.nextInGroup[prev] = next;
    else this.groupFirst[g] = next;
    if (next >= 0) this.prevInGroup[next] = prev;
    if (this.groupFirst[g] !== -1) return;
    const before = this.groupPrev[g]!;
    const after = this.groupNext[g]!;
    if (before >= 0) this.groupNext[before] = after;
    else this.lowest = after;
    if (after >= 0) this.groupPrev[after] = before;
    this.freeGroups[this.freeCount++] = g;
  }

  private newGroup(count: number, before: number, after: number): number {
    const g = this.freeGroups[--this.freeCount]!;
    this.groupCount[g] = count;
    this.groupFirst[g] = -1;
    this.groupPrev[g] = before;
    this.groupNext[g] = after;
    if (before >= 0) this.groupNext[before] = g;
    if (after >= 0) this.groupPrev[after] = g;
    return g;
  }
}
