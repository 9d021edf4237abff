/**
 * ConnectAttempt, the one dial or retry pause a link has at a time: a dial hands over its socket
 * once; stop() calls off a dial still trying (nothing is handed over, not even later) and a
 * pending retry (it never runs). Real sockets against a real redis-server and a closed port.
 */
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { ConnectAttempt, RETRY_PAUSE_MS } from '../../../src/upstream/connectAttempt.js';
import { UpstreamDialer } from '../../../src/upstream/dialer.js';
import { StaticSelector } from '../../../src/upstream/staticSelector.js';
import { freePort } from '../../support/freePort.js';
import { Cleanup } from '../../support/processes.js';
import { startRedis } from '../../support/redisServer.js';
import { sleep, waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';
import { addressOf, HEALTH } from './upstreamKit.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function dialerTo(port: number): UpstreamDialer {
  const stats = new ListenerStats('redis:6379', TRAITS.size);
  const log = new LogCapture().logger;
  return new UpstreamDialer(new StaticSelector(addressOf(port), HEALTH, stats, log), { connectTimeoutMs: 500, tcpKeepaliveMs: 0, tls: null }, stats, log);
}

describe('ConnectAttempt', () => {
  it('dial: the socket is handed over once, and it reaches the server', async () => {
    const redis = cleanup.track(await startRedis());
    const outcomes: (net.Socket | null)[] = [];
    new ConnectAttempt().dial(dialerTo(redis.port), 1000, (err, socket) => {
      expect(err).toBeNull();
      outcomes.push(socket);
    });
    await waitUntil(() => outcomes.length > 0, { what: 'the socket' });
    const s = cleanup.add(outcomes[0]!, (x) => x.destroy());
    const reply = new Promise<string>((resolve) => s.once('data', (d) => resolve(d.toString('latin1'))));
    s.write('PING\r\n');
    expect(await reply).toBe('+PONG\r\n');
    await sleep(100);
    expect(outcomes).toHaveLength(1);
  });

  it('stop() during a dial to a closed port: nothing is handed over, not even when the window would have ended', async () => {
    const port = await freePort();
    const attempt = new ConnectAttempt();
    let told = 0;
    attempt.dial(dialerTo(port), 300, () => told++);
    await sleep(50);
    attempt.stop();
    await sleep(700);
    expect(told).toBe(0);
  });

  it('the same dial without stop() is told the port is unreachable once its window ends', async () => {
    const port = await freePort();
    const errors: string[] = [];
    new ConnectAttempt().dial(dialerTo(port), 300, (err) => errors.push(err?.message ?? 'none'));
    await waitUntil(() => errors.length > 0, { timeoutMs: 5000, what: 'the unreachable error' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/unreachable/);
  });

  it('retryLater runs after the pause; stop() before it calls it off', async () => {
    const ran: string[] = [];
    const kept = new ConnectAttempt();
    const stopped = new ConnectAttempt();
    const started = Date.now();
    kept.retryLater(() => ran.push(`kept after ${Date.now() - started} ms`));
    stopped.retryLater(() => ran.push('stopped'));
    stopped.stop();
    await waitUntil(() => ran.length > 0, { timeoutMs: RETRY_PAUSE_MS + 2000, what: 'the retry' });
    await sleep(100);
    expect(ran).toHaveLength(1);
    expect(Number(/(\d+) ms/.exec(ran[0]!)![1])).toBeGreaterThanOrEqual(RETRY_PAUSE_MS - 5);
  });
});
