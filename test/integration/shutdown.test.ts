/**
 * SIGTERM/SIGINT as PID 1 gets them: stop accepting, let replies in flight reach their clients
 * (up to AMBASSADOR_SHUTDOWN_TIMEOUT_MS), exit 0. Idle clients do not hold the exit up.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { Cleanup, exited } from '../support/processes.js';
import { connectError, openClient } from '../support/rawClient.js';
import { waitBlockedClients } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const shared = new Cleanup();
const cleanup = new Cleanup();
let redis: RedisServer;

beforeAll(async () => {
  redis = shared.track(await startRedis());
});
afterEach(() => cleanup.run());
afterAll(() => shared.run());

describe('shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with idle clients connected: exit 0 promptly (not after the shutdown timeout), clients closed`, async () => {
      // A long timeout: if idle clients were waited for, the exit would take 30 s.
      const { amb, port } = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_SHUTDOWN_TIMEOUT_MS: '30000' } });
      const clients = [];
      for (let i = 0; i < 3; i++) {
        const c = await openClient(cleanup, port);
        await c.write(cmd('PING'));
        await c.waitForReplies(1);
        clients.push(c);
      }
      // Well under the 30 s timeout, and generous for a loaded machine (the exit should take ~1 s).
      const done = exited(amb.process, 6_000);
      amb.process.kill(signal);
      const { code } = await done;
      expect(code).toBe(0);
      for (const c of clients) await c.waitClosed(5_000);
      expect(amb.logs().some((l) => l.event === 'stopped')).toBe(true);
    });
  }

  it('SIGTERM while BLPOP k 1 is in flight: its nil reply reaches the client, then exit 0', async () => {
    const { amb, port } = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_SHUTDOWN_TIMEOUT_MS: '5000' } });
    const c = await openClient(cleanup, port);
    await c.write(cmd('BLPOP', 'shutdown:empty', 1));
    await waitBlockedClients(redis.port, 1);
    const done = exited(amb.process, 10_000);
    amb.process.kill('SIGTERM');
    // While the reply is pending, the port stops accepting.
    await waitUntil(async () => (await connectError(port)) !== null, { timeoutMs: 5_000, what: 'the listener to stop accepting' });
    // The BLPOP times out after 1 s; its reply must be out before the process exits.
    const { code } = await done;
    expect(code).toBe(0);
    expect(c.text()).toBe('*-1\r\n');
    await c.waitClosed(5_000);
  });

  it('SIGTERM while a reply never comes: the client is closed at the shutdown timeout and the exit is still 0', async () => {
    const { amb, port } = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_SHUTDOWN_TIMEOUT_MS: '500' } });
    const c = await openClient(cleanup, port);
    await c.write(cmd('BLPOP', 'shutdown:forever', 0));
    await waitBlockedClients(redis.port, 1);
    const done = exited(amb.process, 6_000);
    amb.process.kill('SIGTERM');
    const { code } = await done;
    expect(code).toBe(0);
    await c.waitClosed(5_000);
    expect(amb.logs().some((l) => l.event === 'shutdown timeout: closing sessions still waiting for replies')).toBe(true);
  });

  it('pipelined replies already in flight at SIGTERM are all delivered', async () => {
    const { amb, port } = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_SHUTDOWN_TIMEOUT_MS: '5000' } });
    const c = await openClient(cleanup, port);
    // BLPOP holds the connection; the 100 ECHOs behind it are answered only after it returns.
    await c.write(Buffer.concat([cmd('BLPOP', 'shutdown:empty2', 1), ...Array.from({ length: 100 }, (_, i) => cmd('ECHO', `e${i}`))]));
    await waitBlockedClients(redis.port, 1);
    const done = exited(amb.process, 10_000);
    amb.process.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const replies = c.replies().map(plain);
    expect(replies).toHaveLength(101);
    expect(replies[0]).toBeNull();
    expect(replies[100]).toBe('e99');
  });
});
