/**
 * The upstream is not there: retried within AMBASSADOR_CONNECT_WINDOW_MS, then the client gets
 * -ERR naming the upstream and is closed; Redis starting during the window is found. The upstream
 * dying while commands are in flight: each of them gets "-ERR upstream connection lost; command
 * may or may not have run".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { healthz, readyz } from '../support/ambassadorProcess.js';
import { ambassadorFor, startStack } from '../support/ambassadorPresets.js';
import { freePort } from '../support/freePort.js';
import { Cleanup } from '../support/processes.js';
import { openClient } from '../support/rawClient.js';
import { waitBlockedClients } from '../support/redisInfo.js';
import { startRedis } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { CONNECTION_LOST } from '../support/upstreamErrors.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const LOST = `-${CONNECTION_LOST}\r\n`;

describe('upstream unreachable when a client connects', () => {
  it('PING gets "-ERR upstream tcp://127.0.0.1:<port> unreachable ..." and the connection closes, after about the window', async () => {
    const dead = await freePort();
    const { amb, port } = await ambassadorFor(cleanup, dead, { env: { AMBASSADOR_CONNECT_WINDOW_MS: '500' } });
    const c = await openClient(cleanup, port);
    const t0 = Date.now();
    await c.write(cmd('PING'));
    await c.waitClosed(15_000);
    const elapsed = Date.now() - t0;
    const text = c.text();
    expect(text).toMatch(new RegExp(`^-ERR upstream tcp://127\\.0\\.0\\.1:${dead} unreachable[^\\r\\n]*\\r\\n$`));
    expect(elapsed).toBeLessThan(10_000); // bounded by the window (500 ms), not by a default
    expect(await amb.metric('redis_ambassador_upstream_connect_failures_total', { upstream: `tcp://127.0.0.1:${dead}` })).toBeGreaterThanOrEqual(2);
    // The process is fine; only readiness says the upstream is missing.
    expect(await healthz(amb)).toBe(200);
    expect((await readyz(amb)).status).toBe(503);
  });

  it('a pipelining client gets one error per command it sent', async () => {
    const dead = await freePort();
    const { port } = await ambassadorFor(cleanup, dead, { env: { AMBASSADOR_CONNECT_WINDOW_MS: '300' } });
    const c = await openClient(cleanup, port);
    await c.write(Buffer.concat([cmd('PING'), cmd('SET', 'a', 'b'), cmd('GET', 'a')]));
    await c.waitClosed(15_000);
    const replies = c.replies();
    expect(replies).toHaveLength(3);
    for (const r of replies) expect(plain(r)).toMatchObject({ error: expect.stringMatching(/^ERR upstream tcp:\/\/127\.0\.0\.1:\d+ unreachable/) });
  });

  it('redis-server starting during the window: the retry finds it and the client is answered', async () => {
    const later = await freePort();
    const { amb, port } = await ambassadorFor(cleanup, later, { env: { AMBASSADOR_CONNECT_WINDOW_MS: '20000' } });
    const c = await openClient(cleanup, port);
    await c.write(Buffer.concat([cmd('SET', 'late', 'yes'), cmd('GET', 'late')]));
    // Wait until the ambassador has really failed at least once, then start Redis on that port.
    await waitUntil(async () => (await amb.metric('redis_ambassador_upstream_connect_failures_total')) >= 1, { what: 'a failed attempt' });
    expect(c.closed).toBe(false);
    cleanup.track(await startRedis([], later));
    expect((await c.waitForReplies(2, 20_000)).map(plain)).toEqual(['OK', 'yes']);
  });
});

describe('a client that sends a lot before the upstream is there', () => {
  it('5 MB sent while the upstream is still being retried is delivered once it comes up', async () => {
    const later = await freePort();
    const { amb, port } = await ambassadorFor(cleanup, later, { env: { AMBASSADOR_CONNECT_WINDOW_MS: '20000' } });
    const c = await openClient(cleanup, port);
    const value = Buffer.alloc(5 * 1024 * 1024, 0x7a);
    void c.write(Buffer.concat([cmd('SET', 'early', value), cmd('STRLEN', 'early')])).catch(() => {});
    await waitUntil(async () => (await amb.metric('redis_ambassador_upstream_connect_failures_total')) >= 1, { what: 'a failed attempt' });
    cleanup.track(await startRedis([], later));
    expect((await c.waitForReplies(2, 20_000)).map(plain)).toEqual(['OK', value.length]);
  });
});

describe('upstream dies with commands in flight', () => {
  it('SIGKILL while BLPOP is pending: earlier replies arrive, the pending command gets "upstream connection lost"', async () => {
    const stack = await startStack(cleanup);
    const c = await openClient(cleanup, stack.port);
    await c.write(Buffer.concat([cmd('SET', 'k', 'v'), cmd('BLPOP', 'never', 0)]));
    await c.waitForReplies(1);
    await waitBlockedClients(stack.redis.port, 1);
    await stack.redis.stop('SIGKILL');
    await c.waitForBytes((b) => b.toString('latin1').includes('\r\n-'), 'the error line', 15_000);
    expect(c.text()).toBe(`+OK\r\n${LOST}`);
    // The ambassador is still alive.
    expect(await healthz(stack.amb)).toBe(200);
    expect(stack.amb.process.exitCode).toBeNull();
  });

  it('several commands in flight each get the error, in order', async () => {
    const stack = await startStack(cleanup);
    const c = await openClient(cleanup, stack.port);
    // BLPOP blocks the connection; the two PINGs behind it wait their turn inside redis-server.
    await c.write(Buffer.concat([cmd('BLPOP', 'never', 0), cmd('PING'), cmd('PING')]));
    await waitBlockedClients(stack.redis.port, 1);
    await stack.redis.stop('SIGKILL');
    await c.waitForReplies(3, 15_000);
    expect(c.text()).toBe(LOST.repeat(3));
  });
});
