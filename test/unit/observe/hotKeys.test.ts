/**
 * Hot keys over a sliding window of Space-Saving buckets: every key of a command counts (MSET's
 * every other argument, EVAL's numkeys), buckets the window has left behind drop out, and the
 * merged view keeps the bounds: each listed key's true count in the window is within
 * [count − error, count], and a key used more than `unlisted_max` times is listed. Workers'
 * views merged (admin/observeViews.ts) keep the same bounds.
 */
import { describe, expect, it } from 'vitest';
import { mergeViews } from '../../../src/admin/observeViews.js';
import { HotKeys, type HotKeysView } from '../../../src/observe/hotKeys.js';
import { encodeCommand } from '../../../src/resp/commandCodec.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { SeededRandom, zipf } from '../../support/pseudoRandom.js';

const id = (label: string): number => TRAITS.idOf(label);

function count(h: HotKeys, now: number, ...args: string[]): void {
  // A frame in the middle of a chunk, as the request path hands it over.
  const chunk = Buffer.concat([Buffer.from('*1\r\n$4\r\nPING\r\n'), encodeCommand(args), Buffer.from('junk')]);
  h.countFrame(id(args[0]!.toLowerCase()), chunk, 14, now);
}

const byKey = (v: HotKeysView): Record<string, number> => Object.fromEntries(v.keys.map((k) => [k.key, k.count]));

function checkBounds(v: HotKeysView, exact: Map<string, number>): void {
  const listed = new Set(v.keys.map((k) => k.key));
  for (const k of v.keys) {
    const truth = exact.get(k.key) ?? 0;
    expect(truth, k.key).toBeLessThanOrEqual(k.count);
    expect(truth, k.key).toBeGreaterThanOrEqual(k.count - k.error);
  }
  for (const [k, n] of exact) if (n > v.unlisted_max) expect(listed.has(k), `${k}: ${n} > ${v.unlisted_max}`).toBe(true);
}

describe('HotKeys', () => {
  it('counts every key of a command, by the key specs, with the commands that used it', () => {
    const h = new HotKeys(60_000, 6, 100);
    count(h, 1, 'SET', 'a', '1');
    count(h, 2, 'MSET', 'a', '1', 'b', '2');
    count(h, 3, 'MGET', 'a', 'b', 'c');
    count(h, 4, 'EVAL', 'return 1', '2', 'c', 'd', 'notakey');
    count(h, 5, 'PING');
    count(h, 6, 'PUBLISH', 'channel', 'm');
    const v = h.view(10);
    // A key's first use in a bucket is turned away by the doorkeeper and counted as the +1 that
    // count and error both carry: d, used once, is not listed, but unlisted_max covers it.
    expect(byKey(v)).toEqual({ a: 3, b: 2, c: 2 });
    expect(v.keys.map((k) => k.error)).toEqual([1, 1, 1]);
    expect(v.unlisted_max).toBe(1);
    expect(v.keys_counted).toBe(8);
    expect(v.keys.find((k) => k.key === 'a')!.commands).toEqual([
      { cmd: 'mset', count: 1 },
      { cmd: 'mget', count: 1 },
    ]);
  });

  it('keeps keys used once out of the counters (the doorkeeper), a bucket at a time', () => {
    const h = new HotKeys(60_000, 6, 100);
    for (let i = 0; i < 10_000; i++) count(h, 1, 'GET', `once:${i}`);
    count(h, 2, 'GET', 'twice');
    count(h, 3, 'GET', 'twice');
    const v = h.view(4);
    // Ten thousand one-off keys did not take the 100 counters: the key used twice is listed.
    expect(v.keys.map((k) => [k.key, k.count, k.error])).toEqual([['twice', 2, 1]]);
    expect(v.keys_counted).toBe(10_002);
    // In the next bucket, a key must be seen twice again.
    count(h, 20_000, 'GET', 'twice');
    expect(h.view(20_001).keys.map((k) => [k.key, k.count, k.error])).toEqual([['twice', 3, 2]]);
  });

  it('forgets what the sliding window has left behind, a bucket at a time', () => {
    const h = new HotKeys(60_000, 6, 100);
    for (let t = 0; t < 120_000; t += 1000) count(h, t, 'GET', t < 30_000 ? 'early' : 'late');
    const v = h.view(120_000);
    expect(byKey(v).early).toBeUndefined();
    // 50 to 60 s of the window are read, depending on where the current bucket stands.
    expect(byKey(v).late).toBeGreaterThanOrEqual(50);
    expect(byKey(v).late).toBeLessThanOrEqual(60);
    expect(v.window_ms).toBeLessThanOrEqual(60_000);
    expect(h.view(1_000_000).keys).toEqual([]);
  });

  it('keeps the bounds on a skewed (Zipf) stream over many buckets, and lists the top keys', () => {
    const next = zipf(new SeededRandom(11), 50_000, 1.05);
    const h = new HotKeys(60_000, 6, 300);
    const exact = new Map<string, number>();
    const n = 120_000;
    for (let i = 0; i < n; i++) {
      const key = `k${next()}`;
      const t = (i / n) * 50_000; // all inside the window, across five buckets
      count(h, t, 'GET', key);
      exact.set(key, (exact.get(key) ?? 0) + 1);
    }
    const v = h.view(50_000, 100);
    checkBounds(v, exact);
    const top = [...exact].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k]) => k);
    const listed = v.keys.map((k) => k.key);
    for (const k of top) expect(listed).toContain(k);
  });

  it('merges workers’ views keeping the bounds (a key one worker did not list gets its unlisted bound)', () => {
    const next = zipf(new SeededRandom(3), 5_000, 1.1);
    const exact = new Map<string, number>();
    const views = [0, 1, 2].map(() => {
      const h = new HotKeys(60_000, 6, 100);
      for (let i = 0; i < 30_000; i++) {
        const key = `k${next()}`;
        count(h, i, 'GET', key);
        exact.set(key, (exact.get(key) ?? 0) + 1);
      }
      return h.view(30_000, 100);
    });
    const merged = mergeViews(views, 100);
    expect(merged.keys_counted).toBe(90_000);
    checkBounds(merged, exact);
  });

  it('shows a long key cut, with its length', () => {
    const h = new HotKeys();
    count(h, 1, 'GET', 'x'.repeat(300));
    count(h, 1, 'GET', 'x'.repeat(300));
    const [k] = h.view(2).keys;
    expect(k!.key).toBe(`${'x'.repeat(128)}... (172 more bytes)`);
    expect(k!.key_bytes).toBe(300);
  });
});
