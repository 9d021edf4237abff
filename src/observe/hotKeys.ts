/**
 * AMBASSADOR_HOTKEYS=on: the keys one listener's clients use most, over a sliding window. Every
 * key of every command sent (the first key, and each key of MGET, MSET, DEL, …, found by the
 * command table's key specs, commandKeys.ts) counts once, in the current bucket of BUCKETS
 * Space-Saving summaries that each cover WINDOW_MS / BUCKETS; the oldest bucket is emptied as
 * the window moves on. Reading merges the buckets: a key's count is the sum of its counters, and
 * for each full bucket that does not hold it, that bucket's smallest counter (what it may have
 * had there) is added to both its count and its error. So a key's true count lies in
 * [count − error, count], and any key used more than the sum of the buckets' floors is listed.
 *
 * A doorkeeper (as in TinyLFU) keeps a key's first occurrence in a bucket out of the counters: a
 * bit per hash, set on first sight; only a key seen again is offered. Most keys of a large key
 * space are used once in ten seconds, and each would otherwise evict a counter. The bounds stay
 * exact: a key's occurrences in a bucket are those offered plus at most one turned away, so each
 * bucket adds 1 to a key's count and to its error (present or not), and to the unlisted bound.
 *
 * Memory is fixed at start: BUCKETS × CAPACITY counters of ~240 bytes and a 128 KB doorkeeper,
 * about 1.6 MB per listener.
 * Key names are never metric labels (unbounded, and sensitive): they are shown on /hotkeys only,
 * which is why the admin endpoint must stay on a private address when this is on.
 */
import { TRAITS } from '../resp/commandTraits.js';
import { argsNeeded, FrameArgs, hasKeys, keyPositions } from '../resp/commandKeys.js';
import { decodeCommand, encodeCommand } from '../resp/commandCodec.js';
import { displayBytes } from './displayBytes.js';
import { COMMANDS_PER_KEY, KEY_BYTES, keyHash, SpaceSaving } from './spaceSaving.js';

/** Keys reported. */
export const TOP_KEYS = 100;
/** Counters per bucket: ten per reported key, the usual margin for Space-Saving. */
export const CAPACITY = 1000;
export const WINDOW_MS = 60_000;
export const BUCKETS = 6;
/** Doorkeeper bits (a power of two): enough that ten seconds of a million-key load leave most unset. */
const DOORKEEPER_BITS = 1 << 20;

export interface HotKey {
  readonly key: string;
  /** Full length, where the key was longer than the KEY_BYTES shown. */
  readonly key_bytes?: number;
  /** Estimated commands on the key in the window: an upper bound. */
  readonly count: number;
  /** How much `count` may over-count: the true count is in [count − error, count]. */
  readonly error: number;
  /** The commands seen on it most (approximate, from the newest counters). */
  readonly commands: { readonly cmd: string; readonly count: number }[];
}

export interface HotKeysView {
  /** Milliseconds of traffic the buckets read cover (up to WINDOW_MS). */
  readonly window_ms: number;
  /** Keys counted in that time (a command with three keys counts three). */
  readonly keys_counted: number;
  /** Any key not listed was used at most this many times in the window. */
  readonly unlisted_max: number;
  readonly keys: HotKey[];
}

export class HotKeys {
  private readonly buckets: SpaceSaving[];
  /** When each bucket began (performance.now() ms); -1: unused. */
  private readonly began: Float64Array;
  private current = 0;
  private readonly args = new FrameArgs();
  private readonly at = { positions: new Int32Array(16) };
  /** The current bucket's doorkeeper: one bit per key hash seen in it. */
  private readonly seen = new Uint32Array(DOORKEEPER_BITS / 32);

  constructor(
    private readonly windowMs = WINDOW_MS,
    buckets = BUCKETS,
    capacity = CAPACITY,
  ) {
    this.buckets = Array.from({ length: buckets }, () => new SpaceSaving(capacity));
    this.began = new Float64Array(buckets).fill(-1);
  }

  /** The request frame that lies whole in `buf` from `at` was sent at `now`: count its keys. */
  countFrame(id: number, buf: Buffer, at: number, now: number): void {
    if (!hasKeys(id)) return;
    if (!this.args.read(buf, at, argsNeeded(id))) {
      // An inline command (rare: redis-cli piped input, telnet): decoded, then read like the others.
      const decoded = decodeCommand(buf.subarray(at));
      if (decoded === null || !this.args.read(encodeCommand(decoded), 0)) return;
    }
    const n = keyPositions(id, this.args, this.at);
    if (n === 0) return;
    const bucket = this.bucketAt(now);
    const a = this.args;
    const positions = this.at.positions;
    const bytes = a.buffer;
    for (let k = 0; k < n; k++) {
      const start = a.start(positions[k]!);
      const len = a.length(positions[k]!);
      const hash = keyHash(bytes, start, len);
      const bit = hash & (DOORKEEPER_BITS - 1);
      const word = this.seen[bit >>> 5]!;
      const mask = 1 << (bit & 31);
      if ((word & mask) === 0) {
        this.seen[bit >>> 5] = word | mask;
        bucket.skip();
      } else {
        bucket.offer(bytes, start, len, id, hash);
      }
    }
  }

  /** The top keys of the window ending at `now`. */
  view(now: number, top = TOP_KEYS): HotKeysView {
    const live = this.buckets.map((b, i) => ({ b, began: this.began[i]! })).filter((x) => x.began >= 0 && x.began > now - this.windowMs);
    const merged = new Map<string, { bucket: SpaceSaving; c: number; count: number; error: number; present: Set<SpaceSaving>; commands: Map<number, number> }>();
    for (const { b } of live) {
      for (let c = 0; c < b.size; c++) {
        const id = `${b.hashes[c]}:${b.lengths[c]}:${b.keyOf(c).toString('latin1')}`;
        let m = merged.get(id);
        if (m === undefined) merged.set(id, (m = { bucket: b, c, count: 0, error: 0, present: new Set(), commands: new Map() }));
        m.count += b.counts[c]!;
        m.error += b.errors[c]!;
        m.present.add(b);
        for (let k = c * COMMANDS_PER_KEY; k < (c + 1) * COMMANDS_PER_KEY; k++) {
          const cmd = b.commands[k]! - 1;
          if (cmd >= 0) m.commands.set(cmd, (m.commands.get(cmd) ?? 0) + b.commandCounts[k]!);
        }
      }
    }
    // Each bucket may have turned one occurrence of any key away (the doorkeeper): +1 each.
    const floors = live.reduce((n, x) => n + x.b.floor + 1, 0);
    const keys = [...merged.values()].map((m) => {
      const absent = live.reduce((n, x) => n + (m.present.has(x.b) ? 1 : x.b.floor + 1), 0);
      return { ...m, count: m.count + absent, error: m.error + absent };
    });
    keys.sort((x, y) => y.count - x.count);
    const oldest = live.reduce((t, x) => Math.min(t, x.began), now);
    return {
      window_ms: Math.round(now - oldest),
      keys_counted: live.reduce((n, x) => n + x.b.total, 0),
      // A key held but not listed counts no more than the first one left out.
      unlisted_max: Math.max(floors, keys[top]?.count ?? 0),
      keys: keys.slice(0, top).map((m) => shown(m.bucket, m.c, m.count, m.error, m.commands)),
    };
  }

  /** The bucket `now` falls in, emptying those the window has left behind. */
  private bucketAt(now: number): SpaceSaving {
    const span = this.windowMs / this.buckets.length;
    const began = this.began[this.current]!;
    if (began >= 0 && now < began + span) return this.buckets[this.current]!;
    this.current = (this.current + 1) % this.buckets.length;
    this.buckets[this.current]!.clear();
    this.seen.fill(0);
    this.began[this.current] = now;
    return this.buckets[this.current]!;
  }
}

function shown(b: SpaceSaving, c: number, count: number, error: number, commands: Map<number, number>): HotKey {
  const len = b.lengths[c]!;
  const key = displayBytes(b.keyOf(c)) + (len > KEY_BYTES ? `... (${len - KEY_BYTES} more bytes)` : '');
  return {
    key,
    ...(len > KEY_BYTES ? { key_bytes: len } : {}),
    count,
    error,
    commands: [...commands].sort((x, y) => y[1] - x[1]).map(([cmd, n]) => ({ cmd: TRAITS.names[cmd] ?? 'unknown', count: n })),
  };
}
