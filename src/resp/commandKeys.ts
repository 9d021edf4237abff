/**
 * Where a command's keys are, from the command table's Redis 7 key specs, as redis-server's own
 * getKeysUsingKeySpecs (db.c) finds them: each spec begins at an index, or just after a keyword
 * searched from `startFrom` (forward when positive, backward from the end when negative), then
 * takes a range (`lastKey`, `keyStep`, `limit`) or a count read from an argument (`keyNumIndex`,
 * `firstKey`, `keyStep`). Specs of an unknown kind (SORT's STORE) are skipped, as are commands
 * flagged pubsub (SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE: their specs name shard channels,
 * CMD_KEY_NOT_KEY). A command whose arguments do not fit its specs has no keys here, where Redis
 * answers it with an error.
 *
 * Used for hot keys (AMBASSADOR_HOTKEYS): the arguments are read from the frame's bytes, never
 * decoded into Buffers (FrameArgs).
 */
import { TRAITS } from './commandTraits.js';
import type { KeySpec } from './commandTable.js';

/** Reading a request's arguments, by position (0 is the command's name). */
export interface ArgReader {
  readonly argc: number;
  /** Whether argument `i` equals `word` (lower-case ASCII), ignoring case. */
  isWord(i: number, word: string): boolean;
  /** The integer argument `i` spells (string2ll: optional '-', no leading zeros), or null. */
  integer(i: number): number | null;
}

/**
 * A key spec with every field present, so that all specs share one object shape: the table's
 * specs each carry only their own fields, and reading them per command through differently shaped
 * objects showed in the profile.
 */
interface Spec {
  /** Begin at this index, or (0) search for `keyword` from `startFrom`. */
  readonly index: number;
  readonly keyword: string;
  readonly startFrom: number;
  /** Range (true: lastKey, limit) or a count read from keyNumIndex (false: firstKey). */
  readonly range: boolean;
  readonly lastKey: number;
  readonly limit: number;
  readonly keyNumIndex: number;
  readonly firstKey: number;
  readonly keyStep: number;
}

function normalized(k: KeySpec): Spec {
  return {
    index: k.index ?? 0,
    keyword: k.keyword ?? '',
    startFrom: k.startFrom ?? 0,
    range: k.lastKey !== undefined,
    lastKey: k.lastKey ?? 0,
    limit: k.limit ?? 0,
    keyNumIndex: k.keyNumIndex ?? 0,
    firstKey: k.firstKey ?? 0,
    keyStep: k.keyStep ?? 1,
  };
}

/** Key specs per command id; null where the command has no keys. */
const SPECS: (readonly Spec[] | null)[] = TRAITS.facts.map((f) => {
  if (f === null || f.flags.includes('pubsub')) return null;
  const known = f.keys.filter((k) => k.index !== undefined || k.keyword !== undefined);
  return known.length === 0 ? null : known.map(normalized);
});

/** Per command: the one key's index where that is all its specs say (GET, SET, INCR…), else 0. */
const SINGLE_KEY: Int32Array = Int32Array.from(SPECS, (specs) =>
  specs !== null && specs.length === 1 && specs[0]!.index > 0 && specs[0]!.range && specs[0]!.lastKey === 0 ? specs[0]!.index : 0,
);

/**
 * Per command: how many leading arguments hold all its keys where that is fixed by its specs
 * (every spec an index with a non-negative lastKey: GET, SET, RENAME…), else 0 (read them all).
 */
const FIXED_ARGS: Int32Array = Int32Array.from(SPECS, (specs) =>
  specs !== null && specs.every((k) => k.index > 0 && k.range && k.lastKey >= 0) ? Math.max(...specs.map((k) => k.index + k.lastKey + 1)) : 0,
);

/** How many leading arguments FrameArgs must read for command `id`'s keys (Infinity: all). */
export function argsNeeded(id: number): number {
  return FIXED_ARGS[id]! > 0 ? FIXED_ARGS[id]! : Infinity;
}

/** Whether command `id` has any keys to look for. */
export function hasKeys(id: number): boolean {
  return SPECS[id] !== null && SPECS[id] !== undefined;
}

/**
 * Positions of the keys of command `id` in `args`, written to `out` (grown as needed) in spec
 * order; returns how many (0 where the arguments do not fit the specs).
 */
export function keyPositions(id: number, args: ArgReader, out: { positions: Int32Array }): number {
  const single = SINGLE_KEY[id]!;
  if (single > 0) {
    if (single >= args.argc) return 0;
    out.positions[0] = single;
    return 1;
  }
  const specs = SPECS[id];
  if (specs === null || specs === undefined) return 0;
  let n = 0;
  for (let s = 0; s < specs.length; s++) {
    const spec = specs[s]!;
    const first0 = beginOf(spec, args);
    if (first0 === 0) continue;
    if (!rangeOf(spec, args, first0)) return 0;
    const first = range.first;
    const last = range.last;
    const step = range.step;
    if (last >= args.argc || last < first || first >= args.argc) return 0;
    for (let i = first; i <= last; i += step) {
      if (n === out.positions.length) {
        const grown = new Int32Array(n * 2);
        grown.set(out.positions);
        out.positions = grown;
      }
      out.positions[n++] = i;
    }
  }
  return n;
}

/** Where the spec's keys begin: its index, or just after its keyword; 0 when the keyword is absent. */
function beginOf(spec: Spec, args: ArgReader): number {
  if (spec.index > 0) return spec.index;
  const from = spec.startFrom;
  const argc = args.argc;
  const start = from > 0 ? from : argc + from;
  const end = from > 0 ? argc - 1 : 1;
  for (let i = start; i !== end; i = start <= end ? i + 1 : i - 1) {
    if (i >= argc || i < 1) break;
    if (args.isWord(i, spec.keyword)) return i + 1;
  }
  return 0;
}

/** rangeOf's answer: reused, so that finding keys allocates nothing. */
const range = { first: 0, last: 0, step: 1 };

/** Sets `range` to the keys from `first`; false where the count cannot be read. */
function rangeOf(spec: Spec, args: ArgReader, first: number): boolean {
  range.step = spec.keyStep;
  range.first = first;
  if (spec.range) {
    const lastKey = spec.lastKey;
    const limit = spec.limit;
    if (lastKey >= 0) range.last = first + lastKey;
    else if (limit === 0) range.last = args.argc + lastKey;
    else range.last = first + (Math.trunc((args.argc - first) / limit) + lastKey);
    return true;
  }
  const at = first + spec.keyNumIndex;
  if (at >= args.argc) return false;
  const numkeys = args.integer(at);
  if (numkeys === null || numkeys < 0) return false;
  range.first = first + spec.firstKey;
  range.last = range.first + numkeys - 1;
  return true;
}

/**
 * The arguments of one multibulk request frame, as offsets into the buffer it lies in: headers
 * are read, payloads are skipped by their length. One instance is reused frame after frame.
 */
export class FrameArgs implements ArgReader {
  argc = 0;
  private buf: Buffer = Buffer.alloc(0);
  private starts = new Int32Array(16);
  private lengths = new Int32Array(16);

  /**
   * Reads the multibulk frame that lies whole in `buf` from `at` (as the request scanner
   * accepted it), its first `needed` arguments at most (argc is the frame's whole count); false
   * for anything else (an inline command).
   */
  read(buf: Buffer, at: number, needed = Infinity): boolean {
    if (buf[at] !== 0x2a /* * */) return false;
    let pos = at + 1;
    let argc = 0;
    while (buf[pos] !== 0x0d) argc = argc * 10 + buf[pos++]! - 48;
    pos += 2;
    const read = argc < needed ? argc : needed;
    if (read > this.starts.length) {
      this.starts = new Int32Array(read);
      this.lengths = new Int32Array(read);
    }
    for (let k = 0; k < read; k++) {
      pos++; // '$'
      let len = 0;
      while (buf[pos] !== 0x0d) len = len * 10 + buf[pos++]! - 48;
      pos += 2;
      this.starts[k] = pos;
      this.lengths[k] = len;
      pos += len + 2;
    }
    this.buf = buf;
    this.argc = argc;
    return true;
  }

  /** The buffer the arguments are in, and argument `i`'s offset and length there. */
  get buffer(): Buffer {
    return this.buf;
  }
  start(i: number): number {
    return this.starts[i]!;
  }
  length(i: number): number {
    return this.lengths[i]!;
  }

  isWord(i: number, word: string): boolean {
    if (this.lengths[i] !== word.length) return false;
    const at = this.starts[i]!;
    for (let j = 0; j < word.length; j++) {
      const b = this.buf[at + j]!;
      if ((b >= 65 && b <= 90 ? b | 0x20 : b) !== word.charCodeAt(j)) return false;
    }
    return true;
  }

  integer(i: number): number | null {
    const len = this.lengths[i]!;
    const at = this.starts[i]!;
    if (len === 0 || len > 20) return null;
    const text = this.buf.toString('latin1', at, at + len);
    return /^(0|-?[1-9][0-9]*)$/.test(text) ? Number(text) : null;
  }
}
