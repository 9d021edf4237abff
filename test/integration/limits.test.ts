/**
 * The limits of issue 6, each crossed through a running ambassador: the client gets exactly the
 * bytes redis-server gives for the same input (compared live with a redis-server started with
 * the matching setting, or with Redis's own limit where Redis has no setting), and a client
 * connected at the same time keeps working.
 *
 * - AMBASSADOR_MAX_BULK_LENGTH ↔ redis-server --proto-max-bulk-len
 * - AMBASSADOR_MAX_MULTIBULK_LENGTH (Redis 7: INT_MAX, not configurable; same error text)
 * - AMBASSADOR_MAX_INLINE_LENGTH (Redis: PROTO_INLINE_MAX_SIZE 64 KB; same error texts)
 * - AMBASSADOR_MAX_CLIENTS ↔ redis-server --maxclients
 * - AMBASSADOR_IDLE_TIMEOUT_MS ↔ redis-server --timeout (subscribers, blocked clients and
 *   MONITOR are never idle in Redis)
 * - AMBASSADOR_MAX_PENDING_COMMANDS: a client's reading pauses; it never buffers without bound
 * - AMBASSADOR_TCP_KEEPALIVE_MS: keepalive timers on both sides (seen with ss)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthz, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorFor, type Proxy } from '../support/ambassadorPresets.js';
import { baseline } from '../support/metricsText.js';
import { Cleanup, run } from '../support/processes.js';
import { call, exchangeUntilClose, openClient } from '../support/rawClient.js';
import { waitBlockedClients } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
const MAX_BULK = 2 * 1024 * 1024; // redis-server's proto-max-bulk-len cannot go below 1 MB
const IDLE_MS = 700;

let upstream: RedisServer;
/** The idle-timeout ambassador's own upstream: nothing else talks to it, so MONITOR sees silence. */
let idleUpstream: RedisServer;
/** Oracle: proto-max-bulk-len and timeout as the ambassador's, maxclients 5. */
let oracle: RedisServer;
let oracleClients: RedisServer;
let limits: Proxy;
let clients: Proxy;
let idle: Proxy;
let pending: Proxy;
let keepalive: Proxy;

beforeAll(async () => {
  [upstream, idleUpstream, oracle, oracleClients] = await Promise.all([
    startRedis(),
    startRedis(),
    startRedis(['--proto-max-bulk-len', String(MAX_BULK), '--timeout', '1']),
    startRedis(['--maxclients', '5']),
  ]);
  for (const r of [upstream, idleUpstream, oracle, oracleClients]) cleanup.track(r);
  const env = (limit: Record<string, string>) => ({ env: { AMBASSADOR_LOG_LEVEL: 'info', ...limit } });
  [limits, clients, idle, pending, keepalive] = await Promise.all([
    ambassadorFor(
      cleanup,
      upstream.url,
      env({ AMBASSADOR_MAX_BULK_LENGTH: String(MAX_BULK), AMBASSADOR_MAX_MULTIBULK_LENGTH: '100', AMBASSADOR_MAX_INLINE_LENGTH: '1024' }),
    ),
    ambassadorFor(cleanup, upstream.url, env({ AMBASSADOR_MAX_CLIENTS: '5' })),
    // Health checks far apart: their PINGs would be activity for a MONITOR client.
    ambassadorFor(cleanup, idleUpstream.url, env({ AMBASSADOR_IDLE_TIMEOUT_MS: String(IDLE_MS), AMBASSADOR_HEALTH_INTERVAL_MS: '600000' })),
    ambassadorFor(cleanup, upstream.url, env({ AMBASSADOR_MAX_PENDING_COMMANDS: '10' })),
    ambassadorFor(cleanup, upstream.url, env({ AMBASSADOR_TCP_KEEPALIVE_MS: '7000' })),
  ]);
});
afterAll(() => cleanup.run());

/** Protocol-error crossings made on the `limits` ambassador so far, for the counter check. */
let crossings = 0;

const show = (b: Buffer | string) => JSON.stringify(typeof b === 'string' ? b : b.toString('latin1'));

/** A client that stays connected while the limit is crossed elsewhere, and must keep working. */
async function bystander(port: number): Promise<{ check(tag: string): Promise<void> }> {
  const c = await openClient(cleanup, port);
  let n = 0;
  return {
    async check(tag: string) {
      const before = c.replies().length;
      const value = `${tag}-${n++}-${Math.random()}`;
      await c.write(Buffer.concat([cmd('SET', `by:${tag}`, value), cmd('GET', `by:${tag}`)]));
      const replies = await c.waitForReplies(before + 2);
      expect(replies.slice(before).map(plain)).toEqual(['OK', value]);
      expect(c.closed).toBe(false);
    },
  };
}

async function alive(amb: AmbassadorProcess): Promise<void> {
  expect(amb.process.exitCode).toBeNull();
  expect(await healthz(amb)).toBe(200);
}

describe('bulk, multibulk and inline limits: the exact error redis-server gives, other clients unaffected', () => {
  it(`AMBASSADOR_MAX_BULK_LENGTH=${MAX_BULK}: one byte over gives what redis-server --proto-max-bulk-len ${MAX_BULK} gives`, async () => {
    const by = await bystander(limits.port);
    await by.check('bulk');
    const data = Buffer.concat([cmd('SET', 'lim:a', '1'), Buffer.from(`*3\r\n$3\r\nSET\r\n$5\r\nlim:b\r\n$${MAX_BULK + 1}\r\n`)]);
    const [direct, via] = await Promise.all([exchangeUntilClose(oracle.port, data), exchangeUntilClose(limits.port, data)]);
    expect(direct.toString('latin1')).toBe('+OK\r\n-ERR Protocol error: invalid bulk length\r\n'); // the oracle as assumed
    expect(show(via)).toBe(show(direct));
    crossings++;
    await by.check('bulk');
    await alive(limits.amb);
  });

  it('a bulk of exactly the limit is accepted, as by redis-server; replies larger than the limit still pass (it bounds requests)', async () => {
    const by = await bystander(limits.port);
    const value = Buffer.alloc(MAX_BULK, 0x61);
    for (const port of [oracle.port, limits.port]) {
      const c = await openClient(cleanup, port);
      await c.write(cmd('SET', 'lim:max', value));
      expect((await c.waitForReplies(1)).map(plain)).toEqual(['OK']);
      c.close();
    }
    await by.check('bulk-max');
    // 3 MB written straight into the upstream, read through the ambassador.
    const big = Buffer.alloc(3 * 1024 * 1024, 0x62);
    expect(await call(upstream.port, 'SET', 'lim:big', big)).toBe('OK');
    const c = await openClient(cleanup, limits.port);
    await c.write(cmd('GET', 'lim:big'));
    const [reply] = await c.waitForReplies(1, 20_000);
    expect(reply!.type).toBe('bulk');
    expect((reply!.value as Buffer).equals(big)).toBe(true);
  });

  it('AMBASSADOR_MAX_MULTIBULK_LENGTH=100: *101 gives the text redis-server gives over its own limit; *100 works', async () => {
    const by = await bystander(limits.port);
    const direct = await exchangeUntilClose(oracle.port, '*3000000000\r\n');
    expect(direct.toString('latin1')).toBe('-ERR Protocol error: invalid multibulk length\r\n');
    const via = await exchangeUntilClose(limits.port, '*101\r\n');
    expect(show(via)).toBe(show(direct));
    crossings++;
    await by.check('mbulk');
    const c = await openClient(cleanup, limits.port);
    const values = Array.from({ length: 98 }, (_, i) => `v${i}`);
    await c.write(Buffer.concat([cmd('DEL', 'lim:list'), cmd('RPUSH', 'lim:list', ...values)]));
    expect((await c.waitForReplies(2)).map(plain)).toEqual([expect.any(Number), 98]);
    await alive(limits.amb);
  });

  it('AMBASSADOR_MAX_INLINE_LENGTH=1024: an unfinished inline line over it, and a length line over it, give redis-server’s texts for 64 KB', async () => {
    const by = await bystander(limits.port);
    const cases: [string, string, string][] = [
      // [what redis-server gets (over 64 KB), what the ambassador gets (over 1024), expected]
      ['A'.repeat(70_000), 'A'.repeat(1100), '-ERR Protocol error: too big inline request\r\n'],
      [`*1\r\n$${'1'.repeat(70_000)}`, `*1\r\n$${'1'.repeat(1100)}`, '-ERR Protocol error: too big bulk count string\r\n'],
      [`*${'1'.repeat(70_000)}`, `*${'1'.repeat(1100)}`, '-ERR Protocol error: too big mbulk count string\r\n'],
    ];
    for (const [forRedis, forUs, expected] of cases) {
      const [direct, via] = await Promise.all([exchangeUntilClose(oracle.port, forRedis), exchangeUntilClose(limits.port, forUs)]);
      expect(direct.toString('latin1')).toBe(expected);
      expect(show(via)).toBe(show(direct));
      crossings++;
      await by.check('inline');
    }
    // Under the limit, inline commands work.
    const c = await openClient(cleanup, limits.port);
    await c.write(`ECHO ${'x'.repeat(1000)}\r\n`);
    expect((await c.waitForReplies(1)).map(plain)).toEqual(['x'.repeat(1000)]);
    await alive(limits.amb);
  });

  it('crossings were counted as client protocol errors, one each', async () => {
    expect(crossings).toBeGreaterThan(0);
    expect(await limits.amb.metric('redis_ambassador_protocol_errors_total', { side: 'client' })).toBe(crossings);
  });
});

describe('AMBASSADOR_MAX_CLIENTS=5', () => {
  it('the 6th client gets exactly what redis-server --maxclients 5 sends, then is closed; the refused counter is 1; the 5 keep working', async () => {
    // What redis-server does.
    const redisFive = await Promise.all(Array.from({ length: 5 }, () => openClient(cleanup, oracleClients.port)));
    for (const c of redisFive) await c.write(cmd('PING'));
    for (const c of redisFive) await c.waitForReplies(1);
    const redisSixth = await openClient(cleanup, oracleClients.port);
    await redisSixth.waitClosed();
    expect(redisSixth.text()).toBe('-ERR max number of clients reached\r\n');

    const since = await baseline(() => clients.amb.metrics()); // the fixture's own port probe was a connection too
    const five = await Promise.all(Array.from({ length: 5 }, () => openClient(cleanup, clients.port)));
    for (const c of five) await c.write(cmd('PING'));
    for (const c of five) expect((await c.waitForReplies(1)).map(plain)).toEqual(['PONG']);
    expect(await clients.amb.metric('redis_ambassador_client_connections')).toBe(5);
    const sixth = await openClient(cleanup, clients.port);
    await sixth.write(cmd('PING')).catch(() => {});
    await sixth.waitClosed();
    expect(show(sixth.received())).toBe(show(redisSixth.received()));
    expect(await clients.amb.metric('redis_ambassador_client_connections_refused_total')).toBe(1);
    for (const [i, c] of five.entries()) {
      await c.write(Buffer.concat([cmd('SET', `mc:${i}`, String(i)), cmd('GET', `mc:${i}`)]));
      expect((await c.waitForReplies(3)).map(plain)).toEqual(['PONG', 'OK', String(i)]);
    }
    // A place freed is a place taken again.
    five[0]!.close();
    await waitUntil(async () => (await clients.amb.metric('redis_ambassador_client_connections')) === 4, { what: '4 clients' });
    const again = await openClient(cleanup, clients.port);
    await again.write(cmd('PING'));
    expect((await again.waitForReplies(1)).map(plain)).toEqual(['PONG']);
    expect(await clients.amb.metric('redis_ambassador_client_connections_refused_total')).toBe(1);
    expect(await since('redis_ambassador_client_connections_total')).toBe(6);
  });
});

describe(`AMBASSADOR_IDLE_TIMEOUT_MS=${IDLE_MS}`, () => {
  it('an idle client is closed without a word (as redis-server does); a subscriber and a client in BLPOP are not', async () => {
    const t0 = Date.now();
    const idler = await openClient(cleanup, idle.port);
    await idler.write(cmd('PING'));
    await idler.waitForReplies(1);
    const sub = await openClient(cleanup, idle.port);
    await sub.write(cmd('SUBSCRIBE', 'idle:ch'));
    await sub.waitForReplies(1);
    const blocked = await openClient(cleanup, idle.port);
    await blocked.write(cmd('BLPOP', 'idle:list', '0'));
    await waitBlockedClients(idleUpstream.port, 1);

    await idler.waitClosed(10_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(IDLE_MS * 0.8);
    expect(idler.text()).toBe('+PONG\r\n');
    // Three more idle periods: the others must still be there.
    await sleep(3 * IDLE_MS);
    expect(sub.closed).toBe(false);
    expect(blocked.closed).toBe(false);
    expect(await call(idleUpstream.port, 'PUBLISH', 'idle:ch', 'hello')).toBe(1);
    expect(plain((await sub.waitForReplies(2))[1]!)).toEqual(['message', 'idle:ch', 'hello']);
    expect(await call(idleUpstream.port, 'LPUSH', 'idle:list', 'x')).toBe(1);
    expect((await blocked.waitForReplies(1)).map(plain)).toEqual([['idle:list', 'x']]);
    // Answered, it is an ordinary idle client again.
    await blocked.waitClosed(10_000);
    expect(sub.closed).toBe(false);
  });

  it('a client that unsubscribes becomes idle and is closed', async () => {
    const sub = await openClient(cleanup, idle.port);
    await sub.write(cmd('SUBSCRIBE', 'idle:ch2'));
    await sub.waitForReplies(1);
    await sleep(2 * IDLE_MS);
    expect(sub.closed).toBe(false);
    await sub.write(cmd('UNSUBSCRIBE', 'idle:ch2'));
    await sub.waitForReplies(2);
    await sub.waitClosed(10_000);
  });

  it('a MONITOR client is not idle, as in redis-server (which exempts monitors from timeout)', async () => {
    /** A plain client and a MONITOR client, both silent; returns whether MONITOR is still open after the plain one was closed and a while more. */
    const monitorSurvives = async (port: number, extraMs: number): Promise<boolean> => {
      const mon = await openClient(cleanup, port);
      await mon.write(cmd('MONITOR'));
      await mon.waitForReplies(1);
      const idler = await openClient(cleanup, port);
      await idler.waitClosed(15_000);
      await sleep(extraMs);
      return !mon.closed;
    };
    // redis-server --timeout 1 (the oracle) and the ambassador side by side.
    const [direct, via] = await Promise.all([monitorSurvives(oracle.port, 1500), monitorSurvives(idle.port, 2 * IDLE_MS)]);
    expect(direct).toBe(true);
    expect(via, 'the ambassador closed an idle MONITOR client; redis-server does not').toBe(true);
  });
});

describe('AMBASSADOR_MAX_PENDING_COMMANDS=10', () => {
  it('a client pipelining behind a blocked command is not read further (bounded), others work, and then every reply arrives in order', async () => {
    const N = 50_000;
    const bytesIn = await baseline(() => pending.amb.metrics());
    const by = await bystander(pending.port);
    const c = await openClient(cleanup, pending.port);
    const pipeline = Buffer.concat([cmd('BLPOP', 'pend:list', '0'), Buffer.concat(Array.from({ length: N }, () => cmd('PING')))]);
    void c.write(pipeline).catch(() => {});
    await waitBlockedClients(upstream.port, 1);
    // Wait until the ambassador stops taking bytes from this client.
    let last = -1;
    await waitUntil(
      async () => {
        const now = await bytesIn('redis_ambassador_bytes_total', { direction: 'in' });
        const stable = now === last;
        last = now;
        return stable;
      },
      { intervalMs: 300, timeoutMs: 15_000, what: 'bytes in to settle' },
    );
    const taken = last;
    console.log(`pending bound: took ${taken} of ${pipeline.length} bytes while blocked`);
    expect(taken).toBeLessThan(256 * 1024);
    expect(pipeline.length).toBeGreaterThan(600 * 1024);
    await by.check('pending');
    expect(await call(upstream.port, 'LPUSH', 'pend:list', 'go')).toBe(1);
    const replies = await c.waitForReplies(N + 1, 30_000);
    expect(plain(replies[0]!)).toEqual(['pend:list', 'go']);
    expect(replies.slice(1).every((r) => r.type === 'simple' && r.value === 'PONG')).toBe(true);
    expect(replies.length).toBe(N + 1);
    expect(await pending.amb.metric('redis_ambassador_commands_total', { cmd: 'ping' })).toBe(N);
  });
});

describe('AMBASSADOR_TCP_KEEPALIVE_MS=7000', () => {
  it('client and upstream sockets of a session carry a keepalive timer', async () => {
    const c = await openClient(cleanup, keepalive.port);
    await c.write(cmd('PING'));
    await c.waitForReplies(1);
    const out = (await run('ss', ['-tnoH', 'state', 'established'])).stdout;
    const lines = out.split('\n');
    // The listener is dual-stack, so its side shows as [::ffff:127.0.0.1].
    const ip = '(?:\\[::ffff:)?127\\.0\\.0\\.1\\]?';
    const clientSide = lines.filter((l) => new RegExp(`${ip}:${keepalive.port}\\s+${ip}:${c.socket.localPort}\\b`).test(l));
    expect(clientSide.length, out).toBe(1);
    // 7 s, not the 300 s default (ss shows minutes for that).
    const short = /timer:\(keepalive,(?![^,]*min)[^,]+,/;
    expect(clientSide[0]).toMatch(short);
    // The session's own connection to the upstream: the one opened last from the ambassador's side with a short keepalive.
    const upstreamSide = lines.filter((l) => new RegExp(`${ip}:\\d+\\s+${ip}:${upstream.port}\\b`).test(l) && short.test(l));
    expect(upstreamSide.length, out).toBeGreaterThanOrEqual(1);
  });
});
