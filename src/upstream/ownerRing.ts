/**
 * Who is owed each reply a shared connection will read, oldest first: one entry per command
 * written. A ring that grows by doubling, so pipelining allocates nothing per command.
 */
export class OwnerRing<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(64);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** The owner of the reply arriving now, if any. */
  get first(): T | undefined {
    return this.count > 0 ? this.items[this.head] : undefined;
  }

  push(owner: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = owner;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const owner = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return owner;
  }

  /** Empties the ring, returning the distinct owners it held, in order of their first entry. */
  drain(): T[] {
    const seen = new Set<T>();
    while (this.count > 0) seen.add(this.shift()!);
    return [...seen];
  }

  private grow(): void {
    const bigger = new Array<T | undefined>(this.items.length * 2);
    for (let k = 0; k < this.count; k++) bigger[k] = this.items[(this.head + k) % this.items.length];
    this.items = bigger;
    this.head = 0;
  }
}
