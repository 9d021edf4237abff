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
