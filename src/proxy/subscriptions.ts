/**
 * The channels, patterns and shard channels a client is subscribed to, as the server confirmed
 * them: the one record of subscriptions, read for replay, for counting the replies an argument-
 * less UNSUBSCRIBE gets, and for knowing that RESP2 arrays may be pub/sub messages.
 */
import { encodeCommand } from '../resp/commandCodec.js';
import { ROLE, TRAITS } from '../resp/commandTraits.js';
import type { ReplayCommand } from '../upstream/replayCommand.js';

export type SubscriptionKind = 'channel' | 'pattern' | 'shard';

export class Subscriptions {
  private readonly sets: Record<SubscriptionKind, Map<string, Buffer>> = { channel: new Map(), pattern: new Map(), shard: new Map() };

  /** Subscriptions of every kind. */
  get count(): number {
    return this.sets.channel.size + this.sets.pattern.size + this.sets.shard.size;
  }

  size(kind: SubscriptionKind): number {
    return this.sets[kind].size;
  }

  add(kind: SubscriptionKind, name: Buffer): void {
    this.sets[kind].set(name.toString('latin1'), Buffer.from(name));
  }

  remove(kind: SubscriptionKind, name: Buffer): void {
    this.sets[kind].delete(name.toString('latin1'));
  }

  clear(kind?: SubscriptionKind): void {
    if (kind !== undefined) this.sets[kind].clear();
    else for (const k of Object.keys(this.sets) as SubscriptionKind[]) this.sets[k].clear();
  }

  /** SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE that restore these on a fresh connection. */
  replay(): ReplayCommand[] {
    const out: ReplayCommand[] = [];
    const push = (word: string, kind: SubscriptionKind): void => {
      const names = [...this.sets[kind].values()];
      if (names.length > 0) out.push({ bytes: encodeCommand([word, ...names]), cmd: TRAITS.idOf(word.toLowerCase()), replies: names.length });
    };
    push('SUBSCRIBE', 'channel');
    push('PSUBSCRIBE', 'pattern');
    push('SSUBSCRIBE', 'shard');
    return out;
  }
}

/** Which subscription set a subscribe-family role adds to or removes from. */
export function subscriptionKind(role: number): SubscriptionKind | null {
  switch (role) {
    case ROLE.SUBSCRIBE:
    case ROLE.UNSUBSCRIBE:
      return 'channel';
    case ROLE.PSUBSCRIBE:
    case ROLE.PUNSUBSCRIBE:
      return 'pattern';
    case ROLE.SSUBSCRIBE:
    case ROLE.SUNSUBSCRIBE:
      return 'shard';
    default:
      return null;
  }
}
