/**
 * TransactionNamings: which positions of an EXEC reply name cluster nodes, counted from MULTI,
 * handed over by serial when the EXEC is answered; serial 0 when none does; DISCARD drops what
 * was queued; pipelined transactions keep their own positions; an answered EXEC forgets the
 * older ones (whose replies can no longer come).
 */
import { describe, expect, it } from 'vitest';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { TransactionNamings } from '../../../src/proxy/transactionNamings.js';

const id = (label: string): number => TRAITS.idOf(label);

/** MULTI, the commands queued, EXEC: the serial EXEC's queue entry carries. */
function transaction(t: TransactionNamings, ...labels: string[]): number {
  t.begin();
  for (const l of labels) t.queued(id(l));
  return t.exec();
}

describe('TransactionNamings', () => {
  it('positions count every queued command from MULTI, naming or not', () => {
    const t = new TransactionNamings();
    const serial = transaction(t, 'get', 'cluster|slots', 'set', 'role', 'info', 'cluster|replicas', 'cluster|nodes', 'cluster|shards');
    expect(serial).not.toBe(0);
    expect(t.take(serial)).toEqual([
      { at: 1, naming: 'slots' },
      { at: 3, naming: 'role' },
      { at: 4, naming: 'info' },
      { at: 5, naming: 'node-lines' },
      { at: 6, naming: 'nodes' },
      { at: 7, naming: 'shards' },
    ]);
  });

  it('serial 0 when nothing queued names nodes, and take(0) is null', () => {
    const t = new TransactionNamings();
    expect(transaction(t, 'get', 'set', 'cluster|info', 'client|list')).toBe(0);
    expect(transaction(t)).toBe(0);
    expect(t.take(0)).toBeNull();
  });

  it('DISCARD (begin() again) drops what was queued: positions count from the new MULTI', () => {
    const t = new TransactionNamings();
    t.begin();
    t.queued(id('role'));
    t.queued(id('get'));
    t.begin();
    t.queued(id('get'));
    t.queued(id('info'));
    const serial = t.exec();
    expect(t.take(serial)).toEqual([{ at: 1, naming: 'info' }]);
  });

  it('a discarded naming command leaves nothing behind: the next EXEC without one gets serial 0', () => {
    const t = new TransactionNamings();
    t.begin();
    t.queued(id('cluster|slots'));
    t.begin();
    t.queued(id('get'));
    expect(t.exec()).toBe(0);
  });

  it('pipelined transactions: each its own serial and its own positions, taken in order', () => {
    const t = new TransactionNamings();
    const first = transaction(t, 'cluster|slots', 'get');
    const none = transaction(t, 'get');
    const second = transaction(t, 'get', 'get', 'role');
    expect(none).toBe(0);
    expect(new Set([first, second]).size).toBe(2);
    expect(t.take(first)).toEqual([{ at: 0, naming: 'slots' }]);
    expect(t.take(none)).toBeNull();
    expect(t.take(second)).toEqual([{ at: 2, naming: 'role' }]);
  });

  it('take() forgets older serials (their EXEC was lost) but keeps newer ones', () => {
    const t = new TransactionNamings();
    const a = transaction(t, 'role');
    const b = transaction(t, 'info');
    const c = transaction(t, 'cluster|nodes');
    // Replies come in order: once b is answered, a's reply can no longer come.
    expect(t.take(b)).toEqual([{ at: 0, naming: 'info' }]);
    expect(t.take(c)).toEqual([{ at: 0, naming: 'nodes' }]);
    expect([t.take(a), t.take(b), t.take(c)]).toEqual([null, null, null]);
  });

  it('the older serial is gone as soon as a newer one is taken', () => {
    const t = new TransactionNamings();
    const a = transaction(t, 'role');
    const b = transaction(t, 'info');
    t.take(b);
    expect(t.take(a)).toBeNull();
  });
});
