/**
 * AMBASSADOR_UPSTREAM_MODE=shared, losing a shared connection (issue 13): redis-server SIGKILLed
 * and restarted on the same port, or an operator's CLIENT KILL of the shared connection, while
 * clients have commands in flight on it: each of those commands gets
 * `-ERR upstream connection lost; command may or may not have run`, the clients stay connected
 * and carry on over a new shared connection, and redis_ambassador_shared_connections follows
 * (1 → 0 → 1). Commands are held in flight by a busy script (redis-server answers -BUSY) or by
 * CLIENT PAUSE WRITE (the shared connection shows flags=b), never by waiting. Each test has its
 * own redis-server and ambassador.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSharedStack, type Stack } from '../support/ambassadorPresets.js';
import { Cleanup } from '../support/processes.js';
import { call, direct, openClient, type RawClient } from '../support/rawClient.js';
import { carrierOf, clientList } from '../support/redisInfo.js';
import { startRedis } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { CONNECTION_LOST } from '../support/upstreamErrors.js';
import { waitUntil } from '../support/wait.js';

const LOST = { error: CONNECTION_LOST };
const perTest = new Cleanup();
afterEach(() => perTest.run());

const gauge = (s: Stack): Promise<number> => s.amb.metric('redis_ambassador_shared_connections', { listener: s.listener });
const reply = async (c: RawClient, ...args: (string | number)[]): Promise<unknown> => plain(await c.call(args));

describe('a shared connection lost under its clients', () => {
  it('redis-server SIGKILLed (a script running, commands pipelined behind it) and restarted on the same port: the loss error for each, the clients stay and carry on', async () => {
    const args = ['--busy-reply-threshold', '10'];
    const stack = await startSharedStack(perTest, { redisArgs: args, env: { AMBASSADOR_HEALTH_INTERVAL_MS: '200' }, ready: true });
    const c = await openClient(perTest, stack.port);
    const idle = await openClient(perTest, stack.port);
    expect(await reply(idle, 'PING')).toBe('PONG');
    await c.write(Buffer.concat([cmd('SET', 'k', '1'), cmd('EVAL', 'while true do end', 0), cmd('GET', 'k'), cmd('INCR', 'k'), cmd('PING')]));
    // The script runs (redis-server answers -BUSY): everything is in flight, the SET's reply too
    // (redis-server writes nothing to the connection whose script is running: it is protected).
    await waitUntil(async () => String((plain((await direct(stack.redis.port, ['PING']))[0]!) as { error?: string }).error).startsWith('BUSY'), {
      what: 'redis-server busy with the script',
    });
    await stack.redis.stop('SIGKILL');
    await c.waitForFrames(5);
    expect(c.replies().map(plain)).toEqual([LOST, LOST, LOST, LOST, LOST]);
    perTest.track(await startRedis(args, stack.redis.port));
    expect(await reply(c, 'SET', 'k', 'after')).toBe('OK');
    expect(await reply(c, 'GET', 'k')).toBe('after');
    expect(await reply(idle, 'PING')).toBe('PONG');
    expect({ c: c.closed, idle: idle.closed }).toEqual({ c: false, idle: false });
    expect(await call(stack.redis.port, 'GET', 'k')).toBe('after');
    expect((await carrierOf(stack.redis.port, idle)).id).toBe((await carrierOf(stack.redis.port, c)).id);
    expect(await stack.amb.metric('redis_ambassador_pinned_clients_total')).toBe(0);
  }, 40_000);

  it('redis_ambassador_shared_connections goes 1 → 0 while redis-server is down (SIGKILL) → 1 once it is back', async () => {
    const stack = await startSharedStack(perTest, { env: { AMBASSADOR_HEALTH_INTERVAL_MS: '200' }, ready: true });
    expect(await gauge(stack)).toBe(1);
    await stack.redis.stop('SIGKILL');
    // Nothing can connect now: the listener has no shared connection up.
    await waitUntil(async () => (await gauge(stack)) === 0, { timeoutMs: 5000, what: 'shared_connections 0' });
    perTest.track(await startRedis([], stack.redis.port));
    await waitUntil(async () => (await gauge(stack)) === 1, { timeoutMs: 15_000, what: 'shared_connections 1 again' });
    expect(await call(stack.port, 'PING')).toBe('PONG');
  }, 40_000);

  it("an operator's CLIENT KILL of the shared connection, commands in flight (held by CLIENT PAUSE WRITE): the loss error for each, the clients carry on over a new shared connection", async () => {
    const stack = await startSharedStack(perTest, { ready: true });
    const c = await openClient(perTest, stack.port);
    const idle = await openClient(perTest, stack.port);
    const old = await carrierOf(stack.redis.port, c);
    expect((await carrierOf(stack.redis.port, idle)).id).toBe(old.id);
    const op = await openClient(perTest, stack.redis.port);
    expect(await reply(op, 'CLIENT', 'PAUSE', 20_000, 'WRITE')).toBe('OK');
    try {
      const k = c.frameEnds().length;
      await c.write(Buffer.concat([cmd('SET', 'k', 'v'), cmd('GET', 'k'), cmd('PING')]));
      await waitUntil(async () => (await clientList(op, 'ID', old.id))[0]?.flags === 'b', { what: 'the SET held by the pause' });
      expect(await reply(op, 'CLIENT', 'KILL', 'ID', old.id)).toBe(1);
      await c.waitForFrames(k + 3);
      expect(c.replies().slice(k).map(plain)).toEqual([LOST, LOST, LOST]);
    } finally {
      await reply(op, 'CLIENT', 'UNPAUSE');
    }
    await waitUntil(async () => (await gauge(stack)) === 1, { what: 'shared_connections 1 again' });
    expect(await reply(c, 'SET', 'k', 'again')).toBe('OK');
    expect(await reply(idle, 'GET', 'k')).toBe('again');
    const now = await carrierOf(stack.redis.port, c);
    expect(now.id).not.toBe(old.id);
    expect((await carrierOf(stack.redis.port, idle)).id).toBe(now.id);
    expect({ c: c.closed, idle: idle.closed }).toEqual({ c: false, idle: false });
    expect(await stack.amb.metric('redis_ambassador_pinned_clients_total')).toBe(0);
  });

  it('a client leaving the shared connection for its own (SELECT 1 behind commands held in redis) when the shared connection is killed: the loss error for every command it is owed, then it carries on, pinned', async () => {
    const stack = await startSharedStack(perTest, { ready: true });
    const c = await openClient(perTest, stack.port);
    const old = await carrierOf(stack.redis.port, c);
    const op = await openClient(perTest, stack.redis.port);
    expect(await reply(op, 'CLIENT', 'PAUSE', 20_000, 'WRITE')).toBe('OK');
    try {
      const k = c.frameEnds().length;
      await c.write(Buffer.concat([cmd('SET', 'o', 'db0'), cmd('GET', 'o')]));
      await waitUntil(async () => (await clientList(op, 'ID', old.id))[0]?.flags === 'b', { what: 'the SET held by the pause' });
      await c.write(Buffer.concat([cmd('SELECT', 1), cmd('SET', 'o', 'db1')]));
      await waitUntil(async () => (await stack.amb.metric('redis_ambassador_pinned_clients_total', { reason: 'select' })) === 1, { what: 'the pin' });
      expect(await reply(op, 'CLIENT', 'KILL', 'ID', old.id)).toBe(1);
      await c.waitForFrames(k + 4);
      expect(c.replies().slice(k).map(plain)).toEqual([LOST, LOST, LOST, LOST]);
    } finally {
      await reply(op, 'CLIENT', 'UNPAUSE');
    }
    expect(await reply(c, 'SELECT', 1)).toBe('OK');
    expect(await reply(c, 'SET', 'o', 'db1')).toBe('OK');
    expect((await direct(stack.redis.port, ['SELECT', '1'], ['GET', 'o'])).map(plain)).toEqual(['OK', 'db1']);
    expect((await carrierOf(stack.redis.port, c)).db).toBe('1');
    expect(c.closed).toBe(false);
  });
});
