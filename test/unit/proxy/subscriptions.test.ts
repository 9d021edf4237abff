/** Subscriptions: the one record of channels, patterns and shard channels, and the commands that restore them. */
import { describe, expect, it } from 'vitest';
import { Subscriptions, subscriptionKind } from '../../../src/proxy/subscriptions.js';
import { decodeCommand } from '../../../src/resp/commandCodec.js';
import { ROLE, TRAITS } from '../../../src/resp/commandTraits.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const replayed = (subs: Subscriptions): [string, string, number][] =>
  subs.replay().map((c) => [decodeCommand(c.bytes)!.map((x) => x.toString('latin1')).join(' '), TRAITS.names[c.cmd]!, c.replies]);

describe('Subscriptions', () => {
  it('counts each kind on its own and all together; a name added twice is held once', () => {
    const subs = new Subscriptions();
    subs.add('channel', b('a'));
    subs.add('channel', b('a'));
    subs.add('channel', b('b'));
    subs.add('pattern', b('a'));
    subs.add('shard', b('s'));
    expect([subs.size('channel'), subs.size('pattern'), subs.size('shard'), subs.count]).toEqual([2, 1, 1, 4]);
  });

  it('removes by name within a kind only; removing a name not held is harmless', () => {
    const subs = new Subscriptions();
    subs.add('channel', b('a'));
    subs.add('pattern', b('a'));
    subs.remove('channel', b('a'));
    subs.remove('channel', b('never'));
    subs.remove('shard', b('a'));
    expect([subs.size('channel'), subs.size('pattern'), subs.count]).toEqual([0, 1, 1]);
  });

  it('clears one kind, or all', () => {
    const subs = new Subscriptions();
    subs.add('channel', b('a'));
    subs.add('pattern', b('p*'));
    subs.add('shard', b('s'));
    subs.clear('pattern');
    expect([subs.size('channel'), subs.size('pattern'), subs.size('shard')]).toEqual([1, 0, 1]);
    subs.clear();
    expect(subs.count).toBe(0);
  });

  it('replays SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE with every name held, one reply per name, nothing for an empty kind', () => {
    const subs = new Subscriptions();
    expect(subs.replay()).toEqual([]);
    subs.add('shard', b('s1'));
    subs.add('channel', b('a'));
    subs.add('channel', b('b'));
    expect(replayed(subs)).toEqual([
      ['SUBSCRIBE a b', 'subscribe', 2],
      ['SSUBSCRIBE s1', 'ssubscribe', 1],
    ]);
    subs.add('pattern', b('n*'));
    expect(replayed(subs).map(([w]) => w)).toEqual(['SUBSCRIBE a b', 'PSUBSCRIBE n*', 'SSUBSCRIBE s1']);
  });

  it('names are binary-safe and copied: the caller may reuse its buffer', () => {
    const subs = new Subscriptions();
    const name = Buffer.from([0xff, 0x00, 0x80, 0x41]);
    subs.add('channel', name);
    name.fill(0x7a);
    const args = decodeCommand(subs.replay()[0]!.bytes)!;
    expect(args[1]).toEqual(Buffer.from([0xff, 0x00, 0x80, 0x41]));
    subs.remove('channel', Buffer.from([0xff, 0x00, 0x80, 0x41]));
    expect(subs.count).toBe(0);
  });

  it('subscriptionKind maps each subscribe-family role to its set, and nothing else', () => {
    expect([ROLE.SUBSCRIBE, ROLE.UNSUBSCRIBE, ROLE.PSUBSCRIBE, ROLE.PUNSUBSCRIBE, ROLE.SSUBSCRIBE, ROLE.SUNSUBSCRIBE].map(subscriptionKind)).toEqual([
      'channel',
      'channel',
      'pattern',
      'pattern',
      'shard',
      'shard',
    ]);
    expect([ROLE.PLAIN, ROLE.MONITOR, ROLE.RESET].map(subscriptionKind)).toEqual([null, null, null]);
  });
});
