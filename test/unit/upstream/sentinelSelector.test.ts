/**
 * SentinelSelector against a real redis-sentinel watching a real master and replica: the master
 * is found with SENTINEL MASTER at start, +switch-master after a failure is followed (with the
 * gauges and the health check moving to the new master), and what it says when no sentinel
 * answers or the master name is unknown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamAddress } from '../../../src/config/address.js';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import type { HealthOptions } from '../../../src/upstream/healthCheck.js';
import { SentinelSelector } from '../../../src/upstream/sentinelSelector.js';
import { startRedis, type RedisServer } from '../../support/redisServer.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';
import { MASTER_NAME, startSentinel, waitForReplicaKnown, type Sentinel } from './sentinelKit.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const HEALTH: Omit<HealthOptions, 'probe'> = { intervalMs: 50, timeoutMs: 1000, failuresBeforeDown: 1, preamble: null, tls: null };

async function redis(args: string[] = []): Promise<RedisServer> {
  return cleanup.add(await startRedis(args), (r) => r.stop('SIGKILL'));
}

function selector(sentinelPorts: number[], masterName = MASTER_NAME) {
  const stats = new ListenerStats('redis:6379', TRAITS.size);
  const log = new LogCapture();
  const changes: [string | null, string | null, string][] = [];
  const sel = cleanup.add(
    new SentinelSelector(
      { masterName, sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })) },
      HEALTH,
      // Polling is not what is tested: only the start and +switch-master may move the master.
      60_000,
      stats,
      log.logger,
      (prev: UpstreamAddress | null, next: UpstreamAddress | null, reason: string) => changes.push([prev?.url ?? null, next?.url ?? null, reason]),
    ),
    (s) => s.stop(),
  );
  sel.start();
  return { sel, stats, log, changes };
}

/** A master, its replica in sync, and one sentinel that knows both. */
async function watched(): Promise<{ master: RedisServer; replica: RedisServer; sentinel: Sentinel }> {
  // Diskless sync without its default 5 s delay, so the replica is in sync at once.
  const master = await redis(['--repl-diskless-sync-delay', '0']);
  const replica = await redis(['--replicaof', '127.0.0.1', String(master.port)]);
  const sentinel = cleanup.add(await startSentinel(master.port), (s) => s.stop());
  return { master, replica, sentinel };
}

describe('SentinelSelector', () => {
  it('finds the master with SENTINEL MASTER at start and health-checks it', async () => {
    const { master, sentinel } = await watched();
    const { sel, stats, log, changes } = selector([sentinel.port]);
    await waitUntil(() => sel.ready(), { what: () => `ready; status ${JSON.stringify(sel.status())}` });
    expect(sel.current()).toEqual({ host: '127.0.0.1', port: master.port, tls: false, url: master.url });
    expect(changes).toEqual([[null, master.url, `sentinel 127.0.0.1:${sentinel.port} (config-epoch 0)`]]);
    expect(sel.status()).toEqual([{ upstream: master.url, up: true }]);
    expect([stats.upstreamUp.get(master.url), stats.connectFailures.get(master.url), stats.failovers]).toEqual([1, 0, 0]);
    expect(sel.healthOf(master.url)).not.toBeNull();
    expect(log.events('master found')).toEqual([expect.objectContaining({ master_name: MASTER_NAME, old_master: null, new_master: master.url })]);
  });

  it('follows +switch-master when the sentinel fails the master over', async () => {
    const { master, replica, sentinel } = await watched();
    await waitForReplicaKnown(sentinel);
    const { sel, stats, log, changes } = selector([sentinel.port]);
    await waitUntil(() => sel.ready(), { what: 'ready on the first master' });
    await master.stop('SIGKILL');
    await waitUntil(() => sel.current()?.port === replica.port, { timeoutMs: 20_000, what: () => `the switch to the replica\n${sentinel.output().slice(-2000)}` });
    expect(changes.slice(1)).toEqual([[master.url, replica.url, `+switch-master from sentinel 127.0.0.1:${sentinel.port}`]]);
    expect(stats.failovers).toBe(1);
    // The gauge and the health check moved with the master.
    expect(stats.upstreamUp.has(master.url)).toBe(false);
    expect(sel.healthOf(master.url)).toBeNull();
    expect(sel.healthOf(replica.url)?.upstream.url).toBe(replica.url);
    await waitUntil(() => sel.ready() && stats.upstreamUp.get(replica.url) === 1, { what: 'ready on the new master' });
    expect(log.events('failover')).toEqual([expect.objectContaining({ level: 'warn', old_master: master.url, new_master: replica.url })]);
  });

  it('while no sentinel answers: no master, not ready, and the status says so', async () => {
    const dead = await freePort();
    const { sel } = selector([dead]);
    expect(sel.current()).toBeNull();
    expect(sel.ready()).toBe(false);
    expect(sel.status()).toEqual([{ upstream: `sentinel:${MASTER_NAME}`, up: false, error: 'no sentinel has answered yet' }]);
  });

  it('a master name the sentinel does not know: the sentinel\'s error is in the status', async () => {
    const { sentinel } = await watched();
    const { sel } = selector([sentinel.port], 'nosuchmaster');
    await waitUntil(() => /No such master/i.test(sel.status()[0]?.error ?? ''), { what: () => `the error; status ${JSON.stringify(sel.status())}` });
    expect(sel.status()).toEqual([{ upstream: 'sentinel:nosuchmaster', up: false, error: expect.stringContaining(`sentinel 127.0.0.1:${sentinel.port}: `) }]);
    expect(sel.current()).toBeNull();
  });
});
