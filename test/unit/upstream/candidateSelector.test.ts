/**
 * CandidateSelector against a real master and replica: the candidate whose ROLE says master is
 * chosen whatever its place in the list, kept while it still says master, and left for a
 * promoted replica only once it stops; the selector never promotes anything itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamAddress } from '../../../src/config/address.js';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { CandidateSelector } from '../../../src/upstream/candidateSelector.js';
import type { HealthOptions } from '../../../src/upstream/healthCheck.js';
import { startRedis, type RedisServer } from '../../support/redisServer.js';
import { RawClient } from '../../support/rawClient.js';
import { cmd } from '../../support/resp.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const HEALTH: Omit<HealthOptions, 'probe'> = { intervalMs: 50, timeoutMs: 1000, failuresBeforeDown: 1, preamble: null, tls: null };
const addressOf = (port: number): UpstreamAddress => ({ host: '127.0.0.1', port, tls: false, url: `tcp://127.0.0.1:${port}` });

async function redis(args: string[] = []): Promise<RedisServer> {
  return cleanup.add(await startRedis(args), (r) => r.stop('SIGKILL'));
}

async function ask(port: number, ...args: string[]): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    await c.write(cmd(...args));
    return (await c.waitForBytes((b) => b.includes('\r\n'), args.join(' '))).toString('latin1');
  } finally {
    c.close();
  }
}

/** Master + replica, the replica first in the candidate list. */
async function pair(health: Partial<Omit<HealthOptions, 'probe'>> = {}) {
  const master = await redis();
  const replica = await redis(['--replicaof', '127.0.0.1', String(master.port)]);
  const stats = new ListenerStats('redis:6379', TRAITS.size);
  const log = new LogCapture();
  const changes: [string | null, string | null, string][] = [];
  const sel = cleanup.add(
    new CandidateSelector([addressOf(replica.port), addressOf(master.port)], { ...HEALTH, ...health }, stats, log.logger, (prev, next, reason) =>
      changes.push([prev?.url ?? null, next?.url ?? null, reason]),
    ),
    (s) => s.stop(),
  );
  sel.start();
  return { master, replica, sel, stats, log, changes };
}

const roleOf = (sel: CandidateSelector, url: string): string | undefined => sel.status().find((s) => s.upstream === url)?.role;

describe('CandidateSelector', () => {
  it('picks the candidate that says master, not the first in the list', async () => {
    const { master, replica, sel, stats, log, changes } = await pair();
    expect(sel.current()).toBeNull();
    await waitUntil(() => sel.ready(), { what: 'ready' });
    expect(sel.current()).toEqual(addressOf(master.port));
    expect(changes).toEqual([[null, master.url, 'ROLE is master']]);
    expect(stats.failovers).toBe(0);
    await waitUntil(() => roleOf(sel, replica.url) === 'replica', { what: 'the replica probed' });
    expect(sel.status()).toEqual([
      { upstream: replica.url, up: true, role: 'replica' },
      { upstream: master.url, up: true, role: 'master' },
    ]);
    expect([stats.upstreamUp.get(master.url), stats.upstreamUp.get(replica.url)]).toEqual([1, 1]);
    expect(log.events('master found')).toEqual([expect.objectContaining({ old_master: null, new_master: master.url })]);
  });

  it('follows a REPLICAOF NO ONE promotion once the old master stops saying master', async () => {
    const { master, replica, sel, stats, log, changes } = await pair();
    await waitUntil(() => sel.ready(), { what: 'ready' });
    expect(await ask(replica.port, 'REPLICAOF', 'NO', 'ONE')).toBe('+OK\r\n');
    await waitUntil(() => roleOf(sel, replica.url) === 'master', { what: 'the promoted replica to say master' });
    // Two masters: the current one is kept while it still says master.
    expect([sel.current(), changes.length]).toEqual([addressOf(master.port), 1]);
    expect(await ask(master.port, 'REPLICAOF', '127.0.0.1', String(replica.port))).toBe('+OK\r\n');
    await waitUntil(() => sel.current()?.port === replica.port, { what: 'the switch to the promoted replica' });
    expect(changes.slice(1)).toEqual([[master.url, replica.url, 'ROLE is replica']]);
    expect(stats.failovers).toBe(1);
    expect(log.events('failover')).toEqual([expect.objectContaining({ level: 'warn', old_master: master.url, new_master: replica.url })]);
    await waitUntil(() => sel.ready(), { what: 'ready on the new master' });
  });

  it('a master lost with no replica promoted: the last master is kept, not ready; a promotion is then followed', async () => {
    const { master, replica, sel, changes } = await pair();
    await waitUntil(() => sel.ready(), { what: 'ready' });
    await master.stop('SIGKILL');
    await waitUntil(() => !sel.ready(), { what: 'not ready' });
    expect([sel.current(), changes.length]).toEqual([addressOf(master.port), 1]);
    expect(sel.status().find((s) => s.upstream === master.url)).toMatchObject({ up: false, error: expect.any(String) });
    expect(await ask(replica.port, 'REPLICAOF', 'NO', 'ONE')).toBe('+OK\r\n');
    await waitUntil(() => sel.current()?.port === replica.port && sel.ready(), { what: 'the promoted replica' });
    expect(changes.slice(1)).toEqual([[master.url, replica.url, 'ROLE is master']]);
  });

  it('with no candidate saying master there is no master at all', async () => {
    const dead = await freePort();
    const orphan = await redis(['--replicaof', '127.0.0.1', String(dead)]);
    const stats = new ListenerStats('redis:6379', TRAITS.size);
    const sel = cleanup.add(new CandidateSelector([addressOf(orphan.port)], HEALTH, stats, new LogCapture().logger, () => {}), (s) => s.stop());
    sel.start();
    await waitUntil(() => roleOf(sel, orphan.url) === 'replica', { what: 'the replica probed' });
    expect([sel.current(), sel.ready()]).toEqual([null, false]);
  });

  it('suspect() probes every candidate at once; healthOf finds each one\'s check', async () => {
    const { master, replica, sel } = await pair({ intervalMs: 60_000 });
    await waitUntil(() => sel.ready() && roleOf(sel, replica.url) === 'replica', { what: 'both probed' });
    expect(sel.healthOf(master.url)?.upstream.url).toBe(master.url);
    expect(sel.healthOf(replica.url)?.upstream.url).toBe(replica.url);
    expect(sel.healthOf('tcp://127.0.0.1:1')).toBeNull();
    await master.stop('SIGKILL');
    expect(await ask(replica.port, 'REPLICAOF', 'NO', 'ONE')).toBe('+OK\r\n');
    sel.suspect();
    await waitUntil(() => sel.current()?.port === replica.port, { timeoutMs: 5000, what: 'the switch, well before the 60 s interval' });
  });
});
