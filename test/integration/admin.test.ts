/**
 * The admin endpoint: /healthz, /readyz flipping with the upstream (stop, restart on the same
 * port), 404 and 405 for anything else, /metrics in Prometheus text with the process metrics,
 * and no key or value ever in a metric, a log line or a response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../support/ambassadorProcess.js';
import { startStack, type Stack } from '../support/ambassadorPresets.js';
import { Cleanup } from '../support/processes.js';
import { call, openClient } from '../support/rawClient.js';
import { startRedis } from '../support/redisServer.js';
import { cmd } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup, { env: { AMBASSADOR_HEALTH_INTERVAL_MS: '200', AMBASSADOR_HEALTH_FAILURES: '1', AMBASSADOR_HEALTH_TIMEOUT_MS: '1000' } });
});
afterAll(() => cleanup.run());

const get = (path: string, init?: RequestInit) => adminRequest(stack.amb, path, init);

describe('admin endpoint', () => {
  it('/healthz is 200', async () => {
    expect((await get('/healthz')).status).toBe(200);
  });

  it('/readyz is 200 while Redis answers; 503 naming the listener and upstream after it stops; 200 again after it restarts on the same port', async () => {
    let r = { status: 0, body: '', type: null as string | null };
    await waitUntil(async () => (r = await get('/readyz')).status === 200, { what: () => `/readyz 200, got ${r.status} ${r.body}` });
    expect(r.type).toMatch(/application\/json/);
    expect(await stack.amb.metric('redis_ambassador_upstream_up', { listener: stack.listener, upstream: stack.redis.url })).toBe(1);

    const port = stack.redis.port;
    await stack.redis.stop('SIGKILL');
    await waitUntil(async () => (r = await get('/readyz')).status === 503, { timeoutMs: 15_000, what: () => `/readyz 503, got ${r.status} ${r.body}` });
    const body = JSON.parse(r.body) as unknown;
    const text = JSON.stringify(body);
    expect(text).toContain(stack.listener);
    expect(text).toContain(`tcp://127.0.0.1:${port}`);
    expect(await stack.amb.metric('redis_ambassador_upstream_up', { listener: stack.listener })).toBe(0);
    expect((await get('/healthz')).status).toBe(200); // alive, just not ready

    cleanup.track(await startRedis([], port));
    await waitUntil(async () => (r = await get('/readyz')).status === 200, { timeoutMs: 15_000, what: () => `/readyz 200 again, got ${r.status} ${r.body}` });
    expect(await stack.amb.metric('redis_ambassador_upstream_up', { listener: stack.listener })).toBe(1);
    expect(await call(stack.port, 'PING')).toBe('PONG');
  });

  it('unknown paths are 404, other methods 405', async () => {
    expect((await get('/')).status).toBe(404);
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/metrics/extra')).status).toBe(404);
    expect((await get('/metrics', { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await get('/healthz', { method: 'DELETE' })).status).toBe(405);
    expect((await get('/readyz', { method: 'PUT', body: 'x' })).status).toBe(405);
    const head = await get('/metrics', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('/metrics is Prometheus text with the declared metrics and the prefixed process metrics', async () => {
    await call(stack.port, 'PING');
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain/);
    for (const name of [
      'redis_ambassador_commands_total',
      'redis_ambassador_command_duration_seconds',
      'redis_ambassador_blocking_command_duration_seconds',
      'redis_ambassador_command_errors_total',
      'redis_ambassador_client_connections',
      'redis_ambassador_client_connections_total',
      'redis_ambassador_bytes_total',
      'redis_ambassador_upstream_up',
      'redis_ambassador_upstream_reconnects_total',
      'redis_ambassador_failovers_total',
    ]) {
      expect(r.body).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    }
    expect(r.body).toMatch(/^redis_ambassador_process_resident_memory_bytes \d+/m);
    expect(r.body).toMatch(/^redis_ambassador_nodejs_eventloop_lag_seconds /m);
    expect(r.body).toMatch(new RegExp(`^redis_ambassador_commands_total\\{listener="${stack.listener}",cmd="ping"\\} \\d+`, 'm'));
  });

  it('no key or value sent through the proxy appears in /metrics, /readyz or a log line', async () => {
    const key = 'secretkey-7f3a9e1b';
    const value = 'secretvalue-c0ffee42';
    const c = await openClient(cleanup, stack.port);
    await c.write(
      Buffer.concat([
        cmd('SET', key, value),
        cmd('GET', key),
        cmd('HSET', `${key}:h`, value, value),
        cmd('SUBSCRIBE', `${key}:ch`),
      ]),
    );
    await c.waitForReplies(4);
    await call(stack.port, 'PUBLISH', `${key}:ch`, value);
    await c.waitForReplies(5);
    // Unknown commands and broken requests carrying the secret too.
    await call(stack.port, key, value);
    const bad = await openClient(cleanup, stack.port);
    await bad.write(`${cmd('GET', key).toString()}*1\r\n+${value}\r\n`);
    await bad.waitClosed();

    const metrics = (await get('/metrics')).body;
    const ready = (await get('/readyz')).body;
    const logs = JSON.stringify(stack.amb.logs());
    for (const secret of [key, value, 'secretkey', 'secretvalue']) {
      expect(metrics).not.toContain(secret);
      expect(ready).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });
});
