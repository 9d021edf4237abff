/**
 * Issue 3's "counts are exact": redis-benchmark pipelined and multi-client traffic counted to the
 * command, checked against redis-server's own INFO commandstats; pub/sub traffic; error
 * classification; the bounded `cmd` label; histogram placement; bytes and connection counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ambassadorFor, startStack, type Stack } from '../support/ambassadorPresets.js';
import { baseline, perCommand, samples } from '../support/metricsText.js';
import { Cleanup, run } from '../support/processes.js';
import { call, openClient } from '../support/rawClient.js';
import { commandStats } from '../support/redisInfo.js';
import { cmd, plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup, { redisArgs: ['--enable-debug-command', 'yes'] });
});
afterAll(() => cleanup.run());

/** calls per command from redis-server's INFO commandstats ("config|get" style names). */
async function commandstats(): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await commandStats(stack.redis.port)).map(([c, s]) => [c, s.calls!]));
}

describe('exact counts', () => {
  it('redis-benchmark -t set -n 20000 -P 16: cmd="set" is exactly 20000, every one matched; CONFIG GETs counted too', async () => {
    // A fresh ambassador: nothing has been counted yet.
    expect(perCommand(await stack.amb.metrics()).size).toBe(0);
    await call(stack.redis.port, 'CONFIG', 'RESETSTAT');
    const r = await run('redis-benchmark', ['-p', String(stack.port), '-t', 'set', '-n', '20000', '-P', '16', '-q'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const stats = await commandstats();
    expect(stats.set).toBe(20_000);
    const counts = perCommand(await stack.amb.metrics());
    expect(counts.get('set')).toEqual({ sent: 20_000, matched: 20_000, blocking: 0 });
    // Whatever else redis-benchmark sent (CONFIG GET save / appendonly) is counted exactly as Redis saw it.
    expect(counts.get('config|get')?.sent).toBe(stats['config|get']);
    expect(counts.get('config|get')?.matched).toBe(stats['config|get']);
    const total = [...counts.values()].reduce((n, e) => n + e.sent, 0);
    expect(total).toBe(20_000 + (stats['config|get'] ?? 0));
  });

  it('redis-benchmark -c 20 -P 4 -t set,get -n 10000: exact per command across 20 connections', async () => {
    const delta = await baseline(stack.amb.metrics);
    await call(stack.redis.port, 'CONFIG', 'RESETSTAT');
    const r = await run('redis-benchmark', ['-p', String(stack.port), '-c', '20', '-P', '4', '-t', 'set,get', '-n', '10000', '-q'], {
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const stats = await commandstats();
    expect(stats.set).toBe(10_000);
    expect(stats.get).toBe(10_000);
    for (const c of ['set', 'get']) {
      expect(await delta('redis_ambassador_commands_total', { cmd: c })).toBe(10_000);
      expect(await delta('redis_ambassador_command_duration_seconds_count', { cmd: c })).toBe(10_000);
    }
    expect(await delta('redis_ambassador_client_connections_total')).toBeGreaterThanOrEqual(20);
  });

  it('pub/sub traffic: 1000 pipelined PUBLISHes to 3 subscribers are 1000 commands and 3000 messages', async () => {
    const delta = await baseline(stack.amb.metrics);
    const subs = [await openClient(cleanup, stack.port), await openClient(cleanup, stack.port), await openClient(cleanup, stack.port)];
    for (const s of subs) {
      await s.write(cmd('SUBSCRIBE', 'exact-ch'));
      await s.waitForReplies(1);
    }
    const pub = await openClient(cleanup, stack.port);
    await pub.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => cmd('PUBLISH', 'exact-ch', `m${i}`))));
    const replies = await pub.waitForReplies(1000);
    expect(replies.every((v) => plain(v) === 3)).toBe(true);
    for (const s of subs) await s.waitForReplies(1001);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'publish' })).toBe(1000);
    expect(await delta('redis_ambassador_command_duration_seconds_count', { cmd: 'publish' })).toBe(1000);
    expect(await delta('redis_ambassador_push_messages_total', { kind: 'message' })).toBe(3000);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'subscribe' })).toBe(3);
    expect(await delta('redis_ambassador_command_duration_seconds_count', { cmd: 'subscribe' })).toBe(3);
  });
});

describe('errors and the cmd label', () => {
  it('WRONGTYPE, unknown command (cmd="unknown", error="ERR"), arity ERR and NOSCRIPT are classified by command and code', async () => {
    const delta = await baseline(stack.amb.metrics);
    const c = await openClient(cleanup, stack.port);
    await c.write(
      Buffer.concat([
        cmd('RPUSH', 'err:l', 'a'),
        cmd('GET', 'err:l'),
        cmd('GET', 'err:l'),
        cmd('NOSUCHCOMMAND', 'x'),
        cmd('GET'),
        cmd('EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', 0),
        cmd('GET', 'err:missing'),
      ]),
    );
    const r = (await c.waitForReplies(7)).map(plain);
    expect(r[1]).toEqual({ error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
    expect(r[3]).toMatchObject({ error: expect.stringMatching(/^ERR unknown command/) });
    const err = (labels: Record<string, string>) => delta('redis_ambassador_command_errors_total', labels);
    expect(await err({ cmd: 'get', error: 'WRONGTYPE' })).toBe(2);
    expect(await err({ cmd: 'unknown', error: 'ERR' })).toBe(1);
    expect(await err({ cmd: 'get', error: 'ERR' })).toBe(1);
    expect(await err({ cmd: 'evalsha', error: 'NOSCRIPT' })).toBe(1);
    expect(await err({ cmd: 'get' })).toBe(3); // the nil GET is no error
    expect(await err({ cmd: 'rpush' })).toBe(0);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'get' })).toBe(4);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'unknown' })).toBe(1);
  });

  it('random command names all count as cmd="unknown"; no new label values appear', async () => {
    const delta = await baseline(stack.amb.metrics);
    const c = await openClient(cleanup, stack.port);
    const names = Array.from({ length: 200 }, (_, i) => `rnd${i}x${Math.random().toString(36).slice(2, 8)}`);
    await c.write(Buffer.concat(names.map((n) => cmd(n, 'arg'))));
    await c.waitForReplies(200);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'unknown' })).toBe(200);
    expect(await delta('redis_ambassador_command_errors_total', { cmd: 'unknown', error: 'ERR' })).toBe(200);
    const text = await stack.amb.metrics();
    expect(text).not.toMatch(/rnd\d+x/);
    const cmds = new Set(samples(text).flatMap((s) => (s.labels.cmd !== undefined ? [s.labels.cmd] : [])));
    for (const name of cmds) expect(name).toMatch(/^[a-z][a-z0-9_-]*(\|[a-z0-9_-]+)?$/);
  });

  it('subcommands are labelled "command|subcommand" (config|get, client|setname)', async () => {
    const delta = await baseline(stack.amb.metrics);
    const c = await openClient(cleanup, stack.port);
    await c.write(Buffer.concat([cmd('CONFIG', 'GET', 'maxmemory'), cmd('CLIENT', 'SETNAME', 'x'), cmd('client', 'getname')]));
    await c.waitForReplies(3);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'config|get' })).toBe(1);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'client|setname' })).toBe(1);
    expect(await delta('redis_ambassador_commands_total', { cmd: 'client|getname' })).toBe(1);
  });
});

describe('histograms', () => {
  it('buckets run from 50 µs to 10 s', async () => {
    await call(stack.port, 'PING');
    const les = samples(await stack.amb.metrics())
      .filter((s) => s.name === 'redis_ambassador_command_duration_seconds_bucket' && s.labels.cmd === 'ping')
      .map((s) => s.labels.le!);
    expect(les[0]).toBe('0.00005');
    expect(les).toContain('10');
    expect(les[les.length - 1]).toBe('+Inf');
    expect(les.length).toBeGreaterThanOrEqual(13);
    expect(les.length).toBeLessThanOrEqual(20);
  });

  it('a 300 ms command lands above the 0.25 s bucket; a blocking one only in the blocking histogram', async () => {
    const delta = await baseline(stack.amb.metrics);
    const c = await openClient(cleanup, stack.port);
    await c.write(cmd('DEBUG', 'SLEEP', '0.3'));
    expect(plain((await c.waitForReplies(1))[0]!)).toBe('OK');
    await c.write(cmd('BLPOP', 'hist:none', '0.3'));
    expect(plain((await c.waitForReplies(2))[1]!)).toBeNull();
    const h = (name: string, labels: Record<string, string>) => delta(name, labels);
    const D = 'redis_ambassador_command_duration_seconds';
    const B = 'redis_ambassador_blocking_command_duration_seconds';
    expect(await h(`${D}_bucket`, { cmd: 'debug', le: '0.25' })).toBe(0);
    expect(await h(`${D}_bucket`, { cmd: 'debug', le: '+Inf' })).toBe(1);
    expect(await h(`${D}_count`, { cmd: 'debug' })).toBe(1);
    expect(await h(`${D}_sum`, { cmd: 'debug' })).toBeGreaterThanOrEqual(0.29);
    expect(await h(`${B}_bucket`, { cmd: 'blpop', le: '0.25' })).toBe(0);
    expect(await h(`${B}_bucket`, { cmd: 'blpop', le: '+Inf' })).toBe(1);
    expect(await h(`${D}_count`, { cmd: 'blpop' })).toBe(0);
  });
});

describe('connection and byte counters', () => {
  it('bytes_total in/out equal the bytes the client sent and received', async () => {
    const delta = await baseline(stack.amb.metrics);
    const c = await openClient(cleanup, stack.port);
    const sent = Buffer.concat([cmd('SET', 'bytes:k', 'x'.repeat(10_000)), cmd('GET', 'bytes:k'), Buffer.from('PING\r\n')]);
    await c.write(sent);
    await c.waitForReplies(3);
    c.close();
    await waitUntil(async () => (await delta('redis_ambassador_bytes_total', { direction: 'out' })) >= c.length, { what: 'bytes out' });
    expect(await delta('redis_ambassador_bytes_total', { direction: 'in' })).toBe(sent.length);
    expect(await delta('redis_ambassador_bytes_total', { direction: 'out' })).toBe(c.length);
  });

  it('client_connections follows open connections; client_connections_total counts them', async () => {
    const delta = await baseline(stack.amb.metrics);
    const clients = [await openClient(cleanup, stack.port), await openClient(cleanup, stack.port), await openClient(cleanup, stack.port)];
    for (const c of clients) {
      await c.write(cmd('PING'));
      await c.waitForReplies(1);
    }
    expect(await delta('redis_ambassador_client_connections')).toBe(3);
    expect(await delta('redis_ambassador_client_connections_total')).toBe(3);
    for (const c of clients) c.close();
    await waitUntil(async () => (await delta('redis_ambassador_client_connections')) === 0, { what: 'connections gauge back to 0' });
    expect(await delta('redis_ambassador_client_connections_total')).toBe(3);
  });
});

describe('AMBASSADOR_METRICS=off', () => {
  it('proxies as before but counts no commands; connections are still counted', async () => {
    const { amb, port } = await ambassadorFor(cleanup, stack.redis.url, { env: { AMBASSADOR_METRICS: 'off' } });
    const c = await openClient(cleanup, port);
    await c.write(Buffer.concat([cmd('SET', 'off:k', 'v'), cmd('GET', 'off:k'), cmd('NOSUCHCOMMAND')]));
    expect((await c.waitForReplies(3)).map(plain).slice(0, 2)).toEqual(['OK', 'v']);
    expect(await amb.metric('redis_ambassador_commands_total')).toBe(0);
    expect(await amb.metric('redis_ambassador_command_duration_seconds_count')).toBe(0);
    expect(await amb.metric('redis_ambassador_command_errors_total')).toBe(0);
    expect(await amb.metric('redis_ambassador_client_connections')).toBe(1);
  });
});
