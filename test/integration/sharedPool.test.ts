/**
 * AMBASSADOR_UPSTREAM_MODE=shared, the pool itself (issue 13): how many upstream connections a
 * listener makes for a thousand clients (AMBASSADOR_SHARED_CONNECTIONS, plus the health check's),
 * and how it spreads them; QUIT answered by the ambassador without closing the shared
 * connection; exact per-command counts for pipelined multi-client traffic. Losing a shared
 * connection is sharedLoss.test.ts. Each test has its own redis-server and ambassador.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSharedStack, type Stack } from '../support/ambassadorPresets.js';
import { perCommandSince, unmatched } from '../support/metricsText.js';
import { Cleanup, run } from '../support/processes.js';
import { call, exchangeUntilClose, openClient, type RawClient } from '../support/rawClient.js';
import { carrierOf, clientList, commandStats } from '../support/redisInfo.js';
import { cmd, plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const perTest = new Cleanup();
afterEach(() => perTest.run());

const gauge = (s: Stack): Promise<number> => s.amb.metric('redis_ambassador_shared_connections', { listener: s.listener });
const reply = async (c: RawClient, ...args: (string | number)[]): Promise<unknown> => plain(await c.call(args));

/** The connections redis-server has other than `asker`, which asks. */
async function othersThan(asker: RawClient): Promise<Record<string, string>[]> {
  const myId = String(await reply(asker, 'CLIENT', 'ID'));
  return (await clientList(asker)).filter((e) => e.id !== myId);
}

describe('connection counts', () => {
  for (const connections of [1, 3]) {
    it(`1,000 clients through a listener with AMBASSADOR_SHARED_CONNECTIONS=${connections}: redis-server has ${connections} + 1 (the health check) connections from the ambassador; each shared one carries a third`, async () => {
      const env: Record<string, string> = { AMBASSADOR_HEALTH_INTERVAL_MS: '600000', AMBASSADOR_LOG_LEVEL: 'warn' };
      if (connections !== 1) env.AMBASSADOR_SHARED_CONNECTIONS = String(connections);
      const stack = await startSharedStack(perTest, { env, ready: true });
      await waitUntil(async () => (await gauge(stack)) === connections, { what: `${connections} shared connections up` });
      const control = await openClient(perTest, stack.redis.port);
      const mon = await openClient(perTest, stack.redis.port);
      expect(await reply(mon, 'MONITOR')).toBe('OK');
      const clients: RawClient[] = [];
      for (let batch = 0; batch < 10; batch++) {
        clients.push(...(await Promise.all(Array.from({ length: 100 }, () => openClient(perTest, stack.port)))));
      }
      expect((await Promise.all(clients.map((c) => c.call(['PING'])))).map(plain)).toEqual(clients.map(() => 'PONG'));
      expect(await stack.amb.metric('redis_ambassador_client_connections', { listener: stack.listener })).toBe(1000);
      expect(await gauge(stack)).toBe(connections);
      const upstream = (await othersThan(control)).filter((e) => e.cmd !== 'monitor');
      expect(upstream.length, JSON.stringify(upstream.map((e) => `${e.id} ${e.addr} cmd=${e.cmd}`))).toBe(connections + 1);
      // Which connections carried the PINGs, and how many each (clients are placed in turn).
      await mon.until(() => (mon.text().match(/"PING"/g) ?? []).length >= 1000, 'MONITOR showing 1000 PINGs');
      const perAddr = new Map<string, number>();
      for (const m of mon.text().matchAll(/\[0 ([\d.]+:\d+)\] "PING"/g)) perAddr.set(m[1]!, (perAddr.get(m[1]!) ?? 0) + 1);
      const byAddr = new Map(upstream.map((e) => [e.addr, e]));
      expect([...perAddr.keys()].every((a) => byAddr.has(a)), 'every PING came from one of the ambassador’s connections').toBe(true);
      expect([...perAddr.values()].sort((a, b) => a - b)).toEqual(connections === 1 ? [1000] : [333, 333, 334]);
      // The one left carried none: the health check.
      expect(upstream.filter((e) => !perAddr.has(e.addr)).map((e) => e.cmd)).toEqual([expect.stringMatching(/^(ping|info)$/)]);
    }, 60_000);
  }
});

describe('QUIT', () => {
  it('answered +OK by the ambassador, the client closed; the shared connection stays (CLIENT LIST unchanged) and serves the others', async () => {
    const stack = await startSharedStack(perTest, { env: { AMBASSADOR_HEALTH_INTERVAL_MS: '600000' }, ready: true });
    const control = await openClient(perTest, stack.redis.port);
    const other = await openClient(perTest, stack.port);
    const shared = await carrierOf(stack.redis.port, other);
    const before = (await othersThan(control)).map((e) => e.id).sort();
    const metricsBefore = await stack.amb.metrics();
    const bytes = Buffer.concat([cmd('PING'), cmd('QUIT')]);
    const want = (await exchangeUntilClose(stack.redis.port, bytes)).toString('latin1');
    expect(want).toBe('+PONG\r\n+OK\r\n');
    expect((await exchangeUntilClose(stack.port, bytes)).toString('latin1')).toBe(want);
    expect((await othersThan(control)).map((e) => e.id).sort()).toEqual(before);
    expect(await reply(other, 'PING')).toBe('PONG');
    expect((await carrierOf(stack.redis.port, other)).id).toBe(shared.id);
    expect(await gauge(stack)).toBe(1);
    expect(perCommandSince(metricsBefore, await stack.amb.metrics()).quit?.sent).toBe(1);
  });

  it('the QUIT answered by the ambassador is matched like any command (command_duration_seconds_count{cmd="quit"} 1, as in dedicated mode)', async () => {
    const stack = await startSharedStack(perTest, { ready: true });
    const metricsBefore = await stack.amb.metrics();
    expect((await exchangeUntilClose(stack.port, cmd('QUIT'))).toString('latin1')).toBe('+OK\r\n');
    expect(perCommandSince(metricsBefore, await stack.amb.metrics()).quit).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(unmatched(await stack.amb.metrics(), metricsBefore)).toEqual({});
  });

  it('commands pipelined after QUIT are not run (redis-server stops reading at QUIT)', async () => {
    const stack = await startSharedStack(perTest, { ready: true });
    const bytes = Buffer.concat([cmd('PING'), cmd('QUIT'), cmd('SET', 'after-quit', '1'), cmd('PING')]);
    const want = (await exchangeUntilClose(stack.redis.port, bytes)).toString('latin1');
    expect(want).toBe('+PONG\r\n+OK\r\n');
    expect(await call(stack.redis.port, 'EXISTS', 'after-quit')).toBe(0);
    expect((await exchangeUntilClose(stack.port, bytes)).toString('latin1')).toBe(want);
    expect(await call(stack.redis.port, 'EXISTS', 'after-quit')).toBe(0);
  });
});

describe('exact metrics', () => {
  it('redis-benchmark -n 20000 -c 50 -P 16 -t set,get: commands_total{cmd} is exactly 20000 for each, as redis-server counts, every command matched to its reply', async () => {
    // Health probes once, at start: their PINGs are not the benchmark's.
    const stack = await startSharedStack(perTest, { env: { AMBASSADOR_HEALTH_INTERVAL_MS: '600000' }, ready: true });
    const before = await stack.amb.metrics();
    await call(stack.redis.port, 'CONFIG', 'RESETSTAT');
    const r = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(stack.port), '-n', '20000', '-c', '50', '-P', '16', '-t', 'set,get', '-q'], { timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const text = await stack.amb.metrics();
    const counts = perCommandSince(before, text);
    expect(counts.set).toEqual({ sent: 20_000, matched: 20_000, blocking: 0 });
    expect(counts.get).toEqual({ sent: 20_000, matched: 20_000, blocking: 0 });
    expect(unmatched(text, before)).toEqual({});
    // Everything counted is what redis-server ran (redis-benchmark's CONFIG GETs included).
    const stats = await commandStats(stack.redis.port);
    const ran = Object.fromEntries(Object.entries(stats).filter(([c]) => c !== 'config|resetstat' && c !== 'info').map(([c, s]) => [c, s.calls]));
    expect(Object.fromEntries(Object.entries(counts).map(([c, e]) => [c, e.sent]))).toEqual(ran);
    expect(await stack.amb.metric('redis_ambassador_pinned_clients_total')).toBe(0);
  }, 60_000);
});
