/** Byte-stream comparison that says where two streams part, for transparency assertions. */
import { expect } from 'vitest';

/**
 * Fails with the first differing offset and 60 bytes of context from each stream (as JSON
 * strings, so CR, LF and binary bytes are visible). Streams are latin1 strings: one char a byte.
 */
export function expectSameBytes(actual: string, expected: string, what = 'reply streams', names: [string, string] = ['through the ambassador', 'direct']): void {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const ctx = (s: string): string => JSON.stringify(s.slice(Math.max(0, i - 60), i + 60));
  const w = Math.max(names[0].length, names[1].length) + 1;
  expect.fail(
    `${what} differ at byte ${i} (lengths ${actual.length} vs ${expected.length}):\n ${(names[0] + ':').padEnd(w)} ${ctx(actual)}\n ${(names[1] + ':').padEnd(w)} ${ctx(expected)}`,
  );
}
