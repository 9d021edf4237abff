/**
 * UpstreamDialer, a listener's way to its upstream: connects wherever its selector points now,
 * counts failed attempts per upstream, asks the selector's health check about server identity,
 * and passes sessions' suspicions on at most every 200 ms. The selector is a test double of the
 * UpstreamSelector interface; connections and the health check are real.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamAddress } from '../../../src/config/address.js';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import type { UpstreamUnreachable } from '../../../src/upstream/connector.js';
import { UpstreamDialer, type DialSettings } from '../../../src/upstream/dialer.js';
import { HealthCheck } from '../../../src/upstream/healthCheck.js';
import type { UpstreamSelector, UpstreamStatus } from '../../../src/upstream/upstreamSelector.js';
import { startRedis } from '../../support/redisServer.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';
import { addressOf, HEALTH } from './upstreamKit.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const SETTINGS: DialSettings = { connectTimeoutMs: 1000, tcpKeepaliveMs: 0, tls: null };

/** A selector that points wherever the test says and records what it is told. */
class PointingSelector implements UpstreamSelector {
  target: UpstreamAddress | null = null;
  readonly suspicions: string[] = [];
  checks = new Map<string, HealthCheck>();
  current(): UpstreamAddress | null {
    return this.target;
  }
  start(): void {}
  stop(): void {}
  suspect(reason: string): void {
    this.suspicions.push(reason);
  }
  ready(): boolean {
    return this.target !== null;
  }
  status(): UpstreamStatus[] {
    return [];
  }
  healthOf(url: string): HealthCheck | null {
    return this.checks.get(url) ?? null;
  }
}

function dialer() {
  const selector = new PointingSelector();
  const stats = new ListenerStats('redis:6379', TRAITS.size);
  const log = new LogCapture();
  return { selector, stats, log, dialer: new UpstreamDialer(selector, SETTINGS, stats, log.logger) };
}

function dial(d: UpstreamDialer, windowMs: number) {
  const outcomes: { err: UpstreamUnreachable | null; socket: net.Socket | null; addr: UpstreamAddress | null }[] = [];
  const handle = d.connect(windowMs, (err, socket, addr) => {
    outcomes.push({ err, socket, addr });
    if (socket !== null) cleanup.add(socket, (s) => s.destroy());
  });
  cleanup.add(handle, (h) => h.cancel());
  return outcomes;
}

async function listening(): Promise<number> {
  const server = net.createServer((s) => cleanup.add(s, (x) => x.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.add(server, (s) => new Promise<void>((r) => s.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

describe('UpstreamDialer', () => {
  it('connects to where the selector points, asking again before each attempt; failed attempts are counted per upstream', async () => {
    const { selector, stats, dialer: d } = dialer();
    const dead = await freePort();
    const live = await listening();
    selector.target = addressOf(dead);
    const outcomes = dial(d, 10_000);
    await waitUntil(() => (stats.connectFailures.get(addressOf(dead).url) ?? 0) >= 2, { what: 'two refused attempts' });
    expect(d.current()).toEqual(addressOf(dead));
    selector.target = addressOf(live);
    await waitUntil(() => outcomes.length > 0, { what: 'the connection' });
    expect(outcomes[0]).toMatchObject({ err: null, addr: addressOf(live) });
    expect(stats.connectFailures.get(addressOf(live).url)).toBeUndefined();
  });

  it('no master known for the whole window: unreachable, nothing counted against any upstream', async () => {
    const { stats, dialer: d } = dialer();
    const outcomes = dial(d, 10);
    await waitUntil(() => outcomes.length > 0, { what: 'the outcome' });
    expect(outcomes[0]!.err!.message).toContain('no master is known for this listener yet');
    expect(stats.connectFailures.size).toBe(0);
  });

  it('identityOf and verify go to the health check probing that address; none: unknown, and verify says false', async () => {
    const { selector, dialer: d } = dialer();
    const r = cleanup.track(await startRedis());
    const addr = addressOf(r.port);
    expect(d.identityOf(addr)).toBeNull();
    const verdict = await new Promise<[boolean, string]>((resolve) => d.verify(addr, { runId: 'x', role: 'master', connection: 1 }, (same, why) => resolve([same, why])));
    expect(verdict).toEqual([false, 'the upstream is no longer probed (the master moved)']);
    const hc = cleanup.add(new HealthCheck(addr, { ...HEALTH, probe: 'ping' }, () => {}), (h) => h.stop());
    selector.checks.set(addr.url, hc);
    hc.start();
    await waitUntil(() => d.identityOf(addr)?.runId != null, { what: 'the identity' });
    const before = d.identityOf(addr)!;
    expect(before.role).toBe('master');
    const same = await new Promise<boolean>((resolve) => d.verify(addr, before, (s) => resolve(s)));
    expect(same).toBe(true);
  });

  it('suspect: passed on once for a burst, and again once the 200 ms have passed', async () => {
    const { selector, log, dialer: d } = dialer();
    d.suspect('a client got -READONLY');
    d.suspect('another client got -READONLY');
    d.suspect('a third');
    expect(selector.suspicions).toEqual(['a client got -READONLY']);
    expect(log.events('upstream suspected')).toEqual([expect.objectContaining({ level: 'debug', listener: 'redis:6379', reason: 'a client got -READONLY' })]);
    await waitUntil(
      () => {
        d.suspect('later');
        return selector.suspicions.length === 2;
      },
      { intervalMs: 10, what: 'a later suspicion to be passed on' },
    );
    expect(selector.suspicions).toEqual(['a client got -READONLY', 'later']);
  });
});
