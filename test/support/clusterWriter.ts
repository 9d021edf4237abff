/**
 * Load on a Redis Cluster through a cluster client (ioredis `Cluster`): a few loops, each doing
 * SET (a new key each time, a value of its own) and INCR (one counter per hash tag) on keys
 * spread over the slots the test chose, recording every acknowledged write and every error, and
 * checking afterwards, straight at the nodes, that each acknowledged write is there.
 */
import type { Cluster } from 'ioredis';
import { RawClient } from './rawClient.js';
import { keySlot, servesSlot, type NodeLine, type RedisCluster } from './redisCluster.js';
import { cmd, plain } from './resp.js';
import { now, sleep } from './wait.js';

/**
 * After an error, a pause before the next write, as a client would back off. Without it a client
 * that rejects at once (ioredis while it has no usable node) turns the loop into promise
 * callbacks only: timers never run, the test's own deadline included, and the errors pile up
 * (seen once: 4 GB and no end).
 */
const backOff = (): Promise<void> => sleep(10);

/** A hash tag (`{…}`) for each of `slots`: keys with it hash to that slot. */
export function tagsForSlots(slots: Iterable<number>): Map<number, string> {
  const want = new Set(slots);
  const out = new Map<number, string>();
  for (let n = 0; out.size < want.size && n < 5_000_000; n++) {
    const tag = `{t${n}}`;
    const slot = keySlot(tag);
    if (want.has(slot) && !out.has(slot)) out.set(slot, tag);
  }
  if (out.size < want.size) throw new Error(`no tag found for ${want.size - out.size} slots`);
  return out;
}

export interface Ack {
  readonly at: number;
  readonly slot: number;
}

export class ClusterWriter {
  /** Acknowledged SETs: key → value. */
  readonly sets = new Map<string, string>();
  /** Acknowledged INCRs per counter key. */
  readonly incrs = new Map<string, number>();
  /** INCRs that got an error (they may or may not have run) per counter key. */
  readonly incrErrors = new Map<string, number>();
  readonly errors: { at: number; op: string; key: string; error: string }[] = [];
  readonly acks: Ack[] = [];
  private seq = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly io: Cluster,
    /** slot → hash tag: where the writes go. */
    private readonly tags: ReadonlyMap<number, string>,
    private readonly name: string,
    private readonly concurrency = 6,
  ) {}

  get acknowledged(): number {
    return this.acks.length;
  }

  start(): void {
    const tags = [...this.tags];
    for (let l = 0; l < this.concurrency; l++) {
      this.loops.push(
        (async () => {
          while (!this.stopped) {
            const [slot, tag] = tags[Math.floor(Math.random() * tags.length)]!;
            const n = this.seq++;
            if (n % 2 === 0) {
              const key = `${tag}:${this.name}:s${n}`;
              const value = `${this.name}-${n}`;
              await this.io.set(key, value).then(
                () => {
                  this.sets.set(key, value);
                  this.acks.push({ at: now(), slot });
                },
                (e: Error) => {
                  this.errors.push({ at: now(), op: 'set', key, error: e.message });
                  return backOff();
                },
              );
            } else {
              const key = `${tag}:${this.name}:ctr`;
              await this.io.incr(key).then(
                () => {
                  this.incrs.set(key, (this.incrs.get(key) ?? 0) + 1);
                  this.acks.push({ at: now(), slot });
                },
                (e: Error) => {
                  this.incrErrors.set(key, (this.incrErrors.get(key) ?? 0) + 1);
                  this.errors.push({ at: now(), op: 'incr', key, error: e.message });
                  return backOff();
                },
              );
            }
          }
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** The first write acknowledged after `t` to one of `slots` (all slots unless told). */
  firstAckAfter(t: number, slots?: ReadonlySet<number>): Ack | undefined {
    return this.acks.find((a) => a.at > t && (slots === undefined || slots.has(a.slot)));
  }

  /**
   * Reads every acknowledged key straight from the primary serving its slot now: problems found
   * (a SET not there or with another value; a counter not equal to its acknowledged INCRs, or,
   * where some INCRs failed, outside acknowledged … acknowledged + failed).
   */
  async verify(cluster: RedisCluster): Promise<string[]> {
    const view = await cluster.view();
    const problems: string[] = [];
    const setKeys = [...this.sets.keys()];
    const counterKeys = [...new Set([...this.incrs.keys(), ...this.incrErrors.keys()])];
    const values = await getAll(cluster, view, [...setKeys, ...counterKeys]);
    for (const k of setKeys) {
      if (values.get(k) !== this.sets.get(k)) problems.push(`SET ${k} acknowledged with ${this.sets.get(k)}, now ${JSON.stringify(values.get(k))}`);
    }
    for (const k of counterKeys) {
      const acked = this.incrs.get(k) ?? 0;
      const failed = this.incrErrors.get(k) ?? 0;
      const v = Number(values.get(k) ?? 0);
      if (v < acked || v > acked + failed) problems.push(`counter ${k} is ${v}, acknowledged INCRs ${acked}${failed > 0 ? ` (+${failed} failed)` : ''}`);
    }
    return problems;
  }

  /** GET of `keys` straight from the primary serving each now. */
  async read(cluster: RedisCluster, keys: readonly string[]): Promise<Map<string, string | null>> {
    return getAll(cluster, await cluster.view(), keys);
  }

  summary(): string {
    const counters = [...this.incrs.values()].reduce((a, b) => a + b, 0);
    const texts = [...new Set(this.errors.map((e) => e.error.replace(/\d+/g, 'N')))];
    return `${this.name}: ${this.acks.length} writes acknowledged (${this.sets.size} SETs, ${counters} INCRs on ${this.incrs.size} counters), ${this.errors.length} errors ${JSON.stringify(texts)}`;
  }
}

/** GET of every key at the primary serving its slot by `view`, pipelined per node. */
async function getAll(cluster: RedisCluster, view: readonly NodeLine[], keys: readonly string[]): Promise<Map<string, string | null>> {
  const byNode = new Map<string, string[]>();
  for (const k of keys) {
    const slot = keySlot(k);
    const owner = view.find((l) => l.flags.includes('master') && !l.flags.includes('fail') && servesSlot(l, slot));
    if (owner === undefined) throw new Error(`no primary serves slot ${slot}`);
    byNode.set(owner.id, [...(byNode.get(owner.id) ?? []), k]);
  }
  const out = new Map<string, string | null>();
  for (const [id, list] of byNode) {
    const c = await RawClient.connect(cluster.byId(id).port);
    try {
      for (let at = 0; at < list.length; at += 1000) {
        const batch = list.slice(at, at + 1000);
        const k = c.frameEnds().length;
        await c.write(Buffer.concat(batch.map((key) => cmd('GET', key))));
        await c.waitForFrames(k + batch.length, 30_000);
        const replies = c.replies().slice(k);
        batch.forEach((key, i) => out.set(key, plain(replies[i]!) as string | null));
      }
    } finally {
      c.close();
    }
  }
  return out;
}
