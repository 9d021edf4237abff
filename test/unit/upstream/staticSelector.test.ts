/** StaticSelector, socat's case: one fixed upstream, PING-checked for /readyz and the upstream_up gauge. */
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamAddress } from '../../../src/config/address.js';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import type { HealthOptions } from '../../../src/upstream/healthCheck.js';
import { StaticSelector } from '../../../src/upstream/staticSelector.js';
import { startRedis, type RedisServer } from '../../support/redisServer.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const HEALTH: Omit<HealthOptions, 'probe'> = { intervalMs: 50, timeoutMs: 1000, failuresBeforeDown: 1, preamble: null, tls: null };
const addressOf = (port: number): UpstreamAddress => ({ host: '127.0.0.1', port, tls: false, url: `tcp://127.0.0.1:${port}` });

async function redis(port?: number): Promise<RedisServer> {
  return cleanup.add(await startRedis([], port), (r) => r.stop('SIGKILL'));
}

function selector(port: number, health: Partial<Omit<HealthOptions, 'probe'>> = {}) {
  const stats = new ListenerStats('redis:6379', TRAITS.size);
  const log = new LogCapture();
  const sel = cleanup.add(new StaticSelector(addressOf(port), { ...HEALTH, ...health }, stats, log.logger), (s) => s.stop());
  return { sel, stats, log };
}

describe('StaticSelector', () => {
  it('always names its one upstream; not ready until the first PING is answered, with the gauges at 0', async () => {
    const port = await freePort();
    const url = `tcp://127.0.0.1:${port}`;
    const { sel, stats } = selector(port);
    expect(sel.current()).toEqual(addressOf(port));
    expect(sel.ready()).toBe(false);
    expect(sel.status()).toEqual([{ upstream: url, up: false, error: 'not checked yet' }]);
    expect([stats.upstreamUp.get(url), stats.connectFailures.get(url)]).toEqual([0, 0]);
  });

  it('up: ready, the gauge at 1, a log line; down: not ready, the error in the status, the gauge at 0; the address never changes', async () => {
    const r = await redis();
    const { sel, stats, log } = selector(r.port);
    sel.start();
    await waitUntil(() => sel.ready(), { what: 'ready' });
    expect(sel.status()).toEqual([{ upstream: r.url, up: true }]);
    expect(stats.upstreamUp.get(r.url)).toBe(1);
    expect(log.events('upstream up')).toEqual([expect.objectContaining({ level: 'info', listener: 'redis:6379', upstream: r.url, reason: 'PING answered' })]);
    await r.stop('SIGKILL');
    await waitUntil(() => !sel.ready(), { what: 'not ready' });
    expect(sel.status()).toEqual([{ upstream: r.url, up: false, error: expect.any(String) }]);
    expect(stats.upstreamUp.get(r.url)).toBe(0);
    expect(log.events('upstream down')).toEqual([expect.objectContaining({ level: 'warn', upstream: r.url })]);
    expect(sel.current()).toEqual(addressOf(r.port));
  });

  it('suspect() probes at once instead of waiting for the interval', async () => {
    const r = await redis();
    const { sel } = selector(r.port, { intervalMs: 60_000 });
    sel.start();
    await waitUntil(() => sel.ready(), { what: 'ready' });
    await r.stop('SIGKILL');
    sel.suspect();
    await waitUntil(() => !sel.ready(), { timeoutMs: 5000, what: 'not ready well before the 60 s interval' });
  });

  it('healthOf gives its health check (which knows the server process) for its own URL only', async () => {
    const r = await redis();
    const { sel } = selector(r.port);
    sel.start();
    await waitUntil(() => sel.healthOf(r.url)?.identity()?.runId != null, { what: 'the run_id' });
    expect(sel.healthOf(r.url)!.identity()).toMatchObject({ role: 'master' });
    expect(sel.healthOf('tcp://127.0.0.1:1')).toBeNull();
  });
});
