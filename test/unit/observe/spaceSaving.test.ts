/**
 * The Space-Saving summary against exact counts: its guarantees (every held key's true count is
 * in [count − error, count]; every key seen more than total/capacity times is held) on skewed and
 * on adversarial streams, with its fixed arrays and hash index surviving many evictions.
 */
import { describe, expect, it } from 'vitest';
import { KEY_BYTES, SpaceSaving } from '../../../src/observe/spaceSaving.js';
import { SeededRandom, zipf } from '../../support/pseudoRandom.js';

function feed(ss: SpaceSaving, keys: readonly string[]): Map<string, number> {
  const exact = new Map<string, number>();
  for (const k of keys) {
    const b = Buffer.from(k);
    ss.offer(b, 0, b.length, 1);
    exact.set(k, (exact.get(k) ?? 0) + 1);
  }
  return exact;
}

/** Held keys with their counters, from the summary's own arrays. */
function held(ss: SpaceSaving): Map<string, { count: number; error: number }> {
  const out = new Map<string, { count: number; error: number }>();
  for (let c = 0; c < ss.size; c++) {
    const k = ss.keyOf(c).toString();
    expect(out.has(k), `key ${k} held twice`).toBe(false);
    out.set(k, { count: ss.counts[c]!, error: ss.errors[c]! });
  }
  return out;
}

function checkGuarantees(ss: SpaceSaving, exact: Map<string, number>): void {
  const h = held(ss);
  let sum = 0;
  for (const [k, { count, error }] of h) {
    const truth = exact.get(k) ?? 0;
    expect(truth, k).toBeLessThanOrEqual(count);
    expect(truth, k).toBeGreaterThanOrEqual(count - error);
    sum += count;
  }
  expect(sum).toBe(ss.total); // every occurrence is in exactly one counter
  for (const [k, n] of exact) if (n > ss.total / ss.capacity) expect(h.has(k), `${k} (${n} of ${ss.total})`).toBe(true);
}

describe('SpaceSaving', () => {
  it('counts exactly while the distinct keys fit', () => {
    const ss = new SpaceSaving(50);
    const exact = feed(ss, Array.from({ length: 5000 }, (_, i) => `k${i % 50}`));
    for (const [k, { count, error }] of held(ss)) expect([k, count, error]).toEqual([k, exact.get(k), 0]);
  });

  it('keeps its guarantees on a Zipf stream far larger than its capacity', () => {
    const next = zipf(new SeededRandom(7), 20_000, 1.1);
    const ss = new SpaceSaving(200);
    const exact = feed(ss, Array.from({ length: 100_000 }, () => `user:${next()}`));
    checkGuarantees(ss, exact);
    // The most popular keys are counted closely.
    const top = [...exact].sort((a, b) => b[1] - a[1]).slice(0, 10);
    const h = held(ss);
    for (const [k, n] of top) expect(h.get(k)!.error / n, k).toBeLessThan(0.05);
  });

  it('keeps its guarantees when every key is new (each offer evicts)', () => {
    const ss = new SpaceSaving(64);
    const keys = Array.from({ length: 20_000 }, (_, i) => (i % 3 === 0 ? 'hot' : `cold:${i}`));
    checkGuarantees(ss, feed(ss, keys));
    expect(held(ss).get('hot')!.count).toBeGreaterThanOrEqual(Math.ceil(20_000 / 3));
  });

  it('tells long keys apart by length and hash beyond the bytes it keeps', () => {
    const ss = new SpaceSaving(8);
    const prefix = 'p'.repeat(KEY_BYTES);
    const exact = feed(ss, [`${prefix}a`, `${prefix}b`, `${prefix}a`, `${prefix}ab`]);
    expect(ss.size).toBe(3);
    expect(exact.size).toBe(3);
    expect(ss.keyOf(0).length).toBe(KEY_BYTES);
  });

  it('empties on clear() and counts anew', () => {
    const ss = new SpaceSaving(4);
    feed(ss, ['a', 'b', 'c', 'd', 'e']);
    ss.clear();
    expect([ss.size, ss.total, ss.floor]).toEqual([0, 0, 0]);
    checkGuarantees(ss, feed(ss, ['x', 'x', 'y']));
  });
});
