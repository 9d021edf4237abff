/** Deterministic pseudo-randomness (xorshift32), so that a run can be repeated from its seed. */

export class SeededRandom {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }

  /** The next 32 bits. */
  nextUint32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }

  /** In [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** A deterministic pseudo-random byte string: every byte value, CR and LF included. */
export function pseudoRandomBytes(n: number, seed: number): Buffer {
  const r = new SeededRandom(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = r.nextUint32() & 0xff;
  return b;
}

/**
 * Ranks 0..n-1 drawn with Zipf's law (rank r with weight 1/(r+1)^s), the skew of real key
 * popularity: a draw is a binary search in the cumulative weights.
 */
export function zipf(random: SeededRandom, n: number, s: number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cumulative[r] = total += 1 / (r + 1) ** s;
  return () => {
    const x = random.next() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
