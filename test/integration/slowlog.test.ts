/**
 * /slowlog against a real redis-server: what Redis's own SLOWLOG cannot see (a GET that waited
 * while the server was stopped is fast to execute, and slow for the client), the entry's fields
 * (client address and CLIENT SETNAME, command, duration, reply size), no arguments unless
 * AMBASSADOR_SLOWLOG_ARGS=on (then cut as SLOWLOG cuts them), a bounded ring, ?reset, the
 * counter and one warn log line per entry; and 404 when it is off.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { adminRequest, startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { freePort } from '../support/freePort.js';
import { Cleanup } from '../support/processes.js';
import { direct, openClient } from '../support/rawClient.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { plain } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';
import type { SlowLogAnswer } from '../../src/admin/observeViews.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

async function ambassador(redis: RedisServer, env: Record<string, string>): Promise<{ amb: AmbassadorProcess; port: number }> {
  const port = await freePort();
  const amb = cleanup.track(await startAmbassador({ args: ['--bind', '127.0.0.1', '--listen', `redis:${port}`, '--upstream', redis.url], env, waitPorts: [port] }));
  return { amb, port };
}

async function slowlog(amb: AmbassadorProcess, query = ''): Promise<SlowLogAnswer> {
  const r = await adminRequest(amb, `/slowlog${query}`);
  expect([r.status, r.type]).toEqual([200, 'application/json']);
  return JSON.parse(r.body) as SlowLogAnswer;
}

describe('/slowlog', () => {
  it('shows a command that waited in the network or the upstream, which Redis SLOWLOG does not', async () => {
    const redis = cleanup.track(await startRedis(['--slowlog-log-slower-than', '10000']));
    const { amb, port } = await ambassador(redis, { AMBASSADOR_SLOWLOG_MS: '50' });
    const c = await openClient(cleanup, port);
    expect(plain(await c.call(['CLIENT', 'SETNAME', 'app-1']))).toBe('OK');
    expect(plain(await c.call(['SET', 'k', 'hello']))).toBe('OK');
    expect(plain(await c.call(['GET', 'k']))).toBe('hello'); // fast: not entered
    // The server stops for 300 ms while a GET is on its way: Redis runs it in microseconds.
    redis.process.kill('SIGSTOP');
    const reply = c.call(['GET', 'k']);
    await sleep(300);
    redis.process.kill('SIGCONT');
    expect(plain(await reply)).toBe('hello');
    const [redisSlowlog] = await direct(redis.port, ['SLOWLOG', 'GET']);
    expect(plain(redisSlowlog!)).toEqual([]);
    const log = await slowlog(amb);
    expect(log).toMatchObject({ threshold_ms: 50, length: 128, args: false });
    expect(log.entries).toHaveLength(1);
    const [e] = log.entries;
    expect(e).toMatchObject({ id: 1, listener: `redis:${port}`, client_name: 'app-1', cmd: 'get', reply_bytes: 11 });
    expect(e!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(e!.duration_us).toBeGreaterThanOrEqual(50_000);
    expect(e).not.toHaveProperty('args');
    expect(await amb.metric('redis_ambassador_slow_commands_total', { cmd: 'get' })).toBe(1);
    await waitUntil(() => amb.logs().some((l) => l.event === 'slow command'), { what: 'the slow command log line' });
    const line = amb.logs().find((l) => l.event === 'slow command')!;
    expect(line).toMatchObject({ level: 'warn', cmd: 'get', client_name: 'app-1', id: 1 });
    expect(JSON.stringify(line)).not.toContain('hello');
  });

  it('keeps the newest AMBASSADOR_SLOWLOG_LEN, with arguments cut as SLOWLOG cuts them; ?reset empties it', async () => {
    const redis = cleanup.track(await startRedis());
    const { amb, port } = await ambassador(redis, { AMBASSADOR_SLOWLOG_MS: '0', AMBASSADOR_SLOWLOG_LEN: '5', AMBASSADOR_SLOWLOG_ARGS: 'on' });
    const c = await openClient(cleanup, port);
    for (let i = 0; i < 20; i++) await c.call(['INCR', 'n']);
    await c.call(['SET', 'big', 'v'.repeat(200)]);
    await c.call(['RPUSH', 'l', ...Array.from({ length: 40 }, (_, i) => `e${i}`)]);
    const log = await slowlog(amb);
    expect(log.entries.map((e) => e.cmd)).toEqual(['rpush', 'set', 'incr', 'incr', 'incr']);
    expect(log.entries.map((e) => e.id)).toEqual([22, 21, 20, 19, 18]);
    expect(log.entries[1]!.args).toEqual(['SET', 'big', `${'v'.repeat(128)}... (72 more bytes)`]);
    expect(log.entries[0]!.args).toHaveLength(32);
    expect(log.entries[0]!.args!.at(-1)).toBe('... (11 more arguments)');
    expect((await slowlog(amb, '?reset')).entries).toHaveLength(5);
    expect((await slowlog(amb)).entries).toEqual([]);
    await c.call(['PING']);
    expect((await slowlog(amb)).entries.map((e) => e.id)).toEqual([23]);
  });

  it('answers 404 when the slow log is off, and counts nothing', async () => {
    const redis = cleanup.track(await startRedis());
    const { amb, port } = await ambassador(redis, { AMBASSADOR_SLOWLOG_MS: 'off' });
    await direct(port, ['PING']);
    const r = await adminRequest(amb, '/slowlog');
    expect([r.status, r.body]).toEqual([404, 'the slow log is off: set AMBASSADOR_SLOWLOG_MS (milliseconds)\n']);
    expect(await amb.metrics()).not.toMatch(/^redis_ambassador_slow_commands_total\{/m);
  });
});
