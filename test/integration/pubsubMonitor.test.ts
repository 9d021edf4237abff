/**
 * Command/reply matching where Redis does not answer one reply per command: pub/sub (RESP2 and
 * RESP3), MONITOR, CLIENT REPLY OFF|SKIP|ON, MULTI/EXEC, blocking commands, RESP3 pushes, RESET,
 * QUIT and empty commands. Each test uses a fresh ambassador and checks on /metrics that every
 * command was counted once and matched to its own reply: commands_total{cmd} equals
 * command_duration_seconds_count{cmd} (+ the blocking histogram's count for blocking ones).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/ambassadorPresets.js';
import { metricSince, perCommandSince, unmatched, type CommandCounts, type MetricDelta } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { call, openClient } from '../support/rawClient.js';
import { waitBlockedClients } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain, type RespValue } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const shared = new Cleanup();
const cleanup = new Cleanup();
let redis: RedisServer;
let stack: Stack;
/** /metrics as it was when the running test began: every count below is a difference from it. */
let base = '';
let metric: MetricDelta;

beforeAll(async () => {
  redis = shared.track(await startRedis());
  // Health-check PINGs would show up in MONITOR output; one at start is enough here.
  stack = await startStack(shared, { redis, env: { AMBASSADOR_HEALTH_INTERVAL_MS: '600000' } });
});
beforeEach(async () => {
  await call(redis.port, 'FLUSHALL');
  base = await stack.amb.metrics();
  metric = metricSince(base, stack.amb.metrics);
});
afterEach(() => cleanup.run());
afterAll(() => shared.run());

type Counts = Record<string, CommandCounts>;

/** Per command since the test began: sent (commands_total), matched (duration count), blocking. */
async function counts(): Promise<Counts> {
  return perCommandSince(base, await stack.amb.metrics());
}

/** Commands sent since the test began whose count differs from the replies matched to them. */
async function unmatchedSinceStart(): Promise<Counts> {
  return unmatched(await stack.amb.metrics(), base);
}

async function push(kind: string): Promise<number> {
  return metric('redis_ambassador_push_messages_total', { kind });
}

const plainAll = (vs: RespValue[]) => vs.map(plain);

describe('pub/sub', () => {
  it('RESP2: SUBSCRIBE a b c, messages, PSUBSCRIBE, PING while subscribed, UNSUBSCRIBE all, then normal commands', async () => {
    const sub = await openClient(cleanup, stack.port);
    const pub = await openClient(cleanup, stack.port);
    await sub.write(cmd('SUBSCRIBE', 'a', 'b', 'c'));
    await sub.waitForReplies(3);
    await pub.write(Buffer.concat([cmd('PUBLISH', 'a', 'm0'), cmd('PUBLISH', 'b', 'm1'), cmd('PUBLISH', 'c', 'm2'), cmd('PUBLISH', 'a', 'm3')]));
    await pub.waitForReplies(4);
    await sub.waitForReplies(7);
    await sub.write(Buffer.concat([cmd('PSUBSCRIBE', 'p*'), cmd('PING')]));
    await sub.waitForReplies(9);
    await pub.write(cmd('PUBLISH', 'px', 'hello'));
    await sub.waitForReplies(10);
    await sub.write(Buffer.concat([cmd('UNSUBSCRIBE'), cmd('PUNSUBSCRIBE'), cmd('PING'), cmd('SET', 'ps:k', 'v'), cmd('GET', 'ps:k')]));
    const replies = plainAll(await sub.waitForReplies(17));
    // UNSUBSCRIBE without arguments goes through the server's channel dict: any order.
    const unsub = replies.slice(10, 13) as [string, string, number][];
    expect(unsub.map((r) => r[1]).sort()).toEqual(['a', 'b', 'c']);
    for (let i = 0; i < 3; i++) unsub[i]![1] = ['a', 'b', 'c'][i]!;
    expect(replies).toEqual([
      ['subscribe', 'a', 1],
      ['subscribe', 'b', 2],
      ['subscribe', 'c', 3],
      ['message', 'a', 'm0'],
      ['message', 'b', 'm1'],
      ['message', 'c', 'm2'],
      ['message', 'a', 'm3'],
      ['psubscribe', 'p*', 4],
      ['pong', ''],
      ['pmessage', 'p*', 'px', 'hello'],
      ['unsubscribe', 'a', 3],
      ['unsubscribe', 'b', 2],
      ['unsubscribe', 'c', 1],
      ['punsubscribe', 'p*', 0],
      'PONG',
      'OK',
      'v',
    ]);
    const c = await counts();
    expect(c.subscribe).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.psubscribe).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.unsubscribe).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.punsubscribe).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.ping).toEqual({ sent: 2, matched: 2, blocking: 0 });
    expect(c.publish).toEqual({ sent: 5, matched: 5, blocking: 0 });
    expect(c.set).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.get).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await push('message')).toBe(4);
    expect(await push('pmessage')).toBe(1);
    expect(await unmatchedSinceStart()).toEqual({});
  });

  it('RESP2: after UNSUBSCRIBE, an array reply that looks like a message is still the reply to its command', async () => {
    const c1 = await openClient(cleanup, stack.port);
    await call(stack.port, 'RPUSH', 'ps:l', 'message', 'a', 'not-a-push');
    await c1.write(Buffer.concat([cmd('SUBSCRIBE', 'a'), cmd('UNSUBSCRIBE', 'a'), cmd('LRANGE', 'ps:l', 0, -1), cmd('PING')]));
    expect(plainAll(await c1.waitForReplies(4))).toEqual([
      ['subscribe', 'a', 1],
      ['unsubscribe', 'a', 0],
      ['message', 'a', 'not-a-push'],
      'PONG',
    ]);
    const c = await counts();
    expect(c.lrange).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await push('message')).toBe(0);
    expect(await unmatchedSinceStart()).toEqual({});
  });

  it('RESP2: UNSUBSCRIBE with no channel while not subscribed gets one reply; SUBSCRIBE then RESET leaves pub/sub', async () => {
    const c1 = await openClient(cleanup, stack.port);
    await c1.write(
      Buffer.concat([cmd('UNSUBSCRIBE'), cmd('SUBSCRIBE', 'x', 'y'), cmd('RESET'), cmd('SET', 'ps:r', '1'), cmd('GET', 'ps:r')]),
    );
    expect(plainAll(await c1.waitForReplies(6))).toEqual([
      ['unsubscribe', null, 0],
      ['subscribe', 'x', 1],
      ['subscribe', 'y', 2],
      'RESET',
      'OK',
      '1',
    ]);
    expect(await unmatchedSinceStart()).toEqual({});
  });

  it('RESP3: pushes interleaved with pipelined GETs while subscribed; none inflates the command counts', async () => {
    const sub = await openClient(cleanup, stack.port);
    const pub = await openClient(cleanup, stack.port);
    await call(stack.port, 'SET', 'ps:v', 'value');
    await sub.write(Buffer.concat([cmd('HELLO', '3'), cmd('SUBSCRIBE', 'r3')]));
    await sub.waitForReplies(2);
    // Messages and replies race on the subscriber's connection.
    const gets = Buffer.concat(Array.from({ length: 20 }, () => cmd('GET', 'ps:v')));
    const pubs = Buffer.concat(Array.from({ length: 10 }, (_, i) => cmd('PUBLISH', 'r3', `m${i}`)));
    await Promise.all([sub.write(gets), pub.write(pubs)]);
    await pub.waitForReplies(10);
    const all = await sub.waitForReplies(2 + 20 + 10);
    const pushes = all.filter((v) => v.type === 'push').map(plain);
    const others = all.filter((v) => v.type !== 'push').map(plain);
    expect(pushes).toEqual([['subscribe', 'r3', 1], ...Array.from({ length: 10 }, (_, i) => ['message', 'r3', `m${i}`])]);
    expect(others.slice(1)).toEqual(Array.from({ length: 20 }, () => 'value'));
    const c = await counts();
    expect(c.get).toEqual({ sent: 20, matched: 20, blocking: 0 });
    expect(c.publish).toEqual({ sent: 10, matched: 10, blocking: 0 });
    expect(c.subscribe).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.hello).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await push('message')).toBe(10);
    // Unsubscribing everything in RESP3 and going on.
    await sub.write(Buffer.concat([cmd('UNSUBSCRIBE'), cmd('PING')]));
    await sub.waitForReplies(2 + 20 + 10 + 2);
    expect(await unmatchedSinceStart()).toEqual({});
  });

  it('RESP3: CLIENT TRACKING invalidation pushes are counted as kind="invalidate" and matching goes on', async () => {
    const c1 = await openClient(cleanup, stack.port);
    await c1.write(Buffer.concat([cmd('HELLO', '3'), cmd('CLIENT', 'TRACKING', 'ON'), cmd('SET', 'tr:k', '1'), cmd('GET', 'tr:k')]));
    await c1.waitForReplies(4);
    expect(await call(stack.port, 'SET', 'tr:k', '2')).toBe('OK');
    await c1.waitForReplies(5);
    await c1.write(Buffer.concat([cmd('GET', 'tr:k'), cmd('PING')]));
    const all = await c1.waitForReplies(7);
    expect(plain(all[4]!)).toEqual(['invalidate', ['tr:k']]);
    expect(plainAll(all.slice(5))).toEqual(['2', 'PONG']);
    expect(await push('invalidate')).toBe(1);
    const c = await counts();
    expect(c['client|tracking']).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await unmatchedSinceStart()).toEqual({});
  });
});

describe('MONITOR', () => {
  it('monitor lines are kind="monitor" pushes, not replies; the monitoring client\'s own commands still match', async () => {
    const isLine = (v: RespValue) => v.type === 'simple' && /^\d+\.\d+ \[/.test(v.value);
    const mon = await openClient(cleanup, stack.port);
    await mon.write(cmd('MONITOR'));
    await mon.waitForReplies(1);
    const other = await openClient(cleanup, stack.port);
    await other.write(Buffer.concat(Array.from({ length: 5 }, (_, i) => cmd('SET', `mon:${i}`, 'x'))));
    await other.waitForReplies(5);
    await mon.waitForReplies(6);
    // The monitoring client sends commands of its own: Redis answers them (a monitor is a replica
    // to it, so keyspace commands are refused) between monitor lines. Then RESET ends monitoring.
    await mon.write(Buffer.concat([cmd('SET', 'mon:self', '1'), cmd('GET', 'mon:self'), cmd('PING'), cmd('RESET'), cmd('PING')]));
    await waitUntil(() => mon.replies().filter((v) => v.type === 'simple' && v.value === 'PONG').length === 2, {
      what: () => `two PONGs on the monitor; got ${JSON.stringify(mon.replies().map(plain))}`,
    });
    const all = mon.replies();
    const lines = all.filter(isLine);
    const rest = all.filter((v) => !isLine(v)).map(plain);
    expect(rest).toEqual([
      'OK',
      { error: "ERR Replica can't interact with the keyspace" },
      { error: "ERR Replica can't interact with the keyspace" },
      'PONG',
      'RESET',
      'PONG',
    ]);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(await push('monitor')).toBe(lines.length);
    const c = await counts();
    expect(c.monitor).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.set).toEqual({ sent: 6, matched: 6, blocking: 0 });
    expect(c.get).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.ping).toEqual({ sent: 2, matched: 2, blocking: 0 });
    expect(c.reset).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await metric('redis_ambassador_command_errors_total', { cmd: 'set', error: 'ERR' })).toBe(1);
    expect(await metric('redis_ambassador_command_errors_total', { cmd: 'get', error: 'ERR' })).toBe(1);
    expect(await unmatchedSinceStart()).toEqual({});
  });
});

describe('CLIENT REPLY', () => {
  const stream = () =>
    Buffer.concat([
      cmd('CLIENT', 'REPLY', 'OFF'),
      cmd('SET', 'cr:a', '1'),
      cmd('SET', 'cr:b', '2'),
      cmd('CLIENT', 'REPLY', 'SKIP'), // ignored while OFF
      cmd('CLIENT', 'REPLY', 'ON'),
      cmd('GET', 'cr:a'),
      cmd('CLIENT', 'REPLY', 'SKIP'),
      cmd('SET', 'cr:c', '3'), // skipped
      cmd('GET', 'cr:c'),
      cmd('CLIENT', 'REPLY', 'SKIP'),
      cmd('CLIENT', 'REPLY', 'ON'), // clears the skip and is answered
      cmd('CLIENT', 'REPLY', 'OFF'),
      cmd('SET', 'cr:d', '4'),
      cmd('RESET'), // turns replies back on
      cmd('PING'),
    ]);

  it('OFF, SKIP and ON: replies as from redis-server directly, and each reply matched to its own command', async () => {
    const direct = await openClient(cleanup, redis.port);
    await direct.write(stream());
    const expected = await direct.waitForReplies(6);
    await call(redis.port, 'FLUSHALL');

    const c1 = await openClient(cleanup, stack.port);
    await c1.write(stream());
    const got = await c1.waitForReplies(6);
    expect(plainAll(got)).toEqual(plainAll(expected));
    expect(plainAll(got)).toEqual(['OK', '1', '3', 'OK', 'RESET', 'PONG']);

    const c = await counts();
    expect(c['client|reply']).toEqual({ sent: 7, matched: 2, blocking: 0 }); // two ONs answered
    expect(c.set).toEqual({ sent: 4, matched: 0, blocking: 0 }); // none answered
    expect(c.get).toEqual({ sent: 2, matched: 2, blocking: 0 });
    expect(c.reset).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.ping).toEqual({ sent: 1, matched: 1, blocking: 0 });
  });
});

describe('CLIENT REPLY SKIP and empty commands', () => {
  it('an empty command (*0 or a blank inline line) uses up a SKIP, as in redis-server', async () => {
    const data = Buffer.concat([
      cmd('CLIENT', 'REPLY', 'SKIP'),
      Buffer.from('*0\r\n'),
      cmd('PING'), // answered: the *0 took the skip
      cmd('CLIENT', 'REPLY', 'SKIP'),
      Buffer.from('\r\n'),
      cmd('ECHO', 'a'), // answered: the blank line took the skip
      cmd('CLIENT', 'REPLY', 'SKIP'),
      cmd('ECHO', 'skipped'),
      cmd('ECHO', 'b'),
    ]);
    const direct = await openClient(cleanup, redis.port);
    await direct.write(data);
    const expected = plainAll(await direct.waitForReplies(3));
    expect(expected).toEqual(['PONG', 'a', 'b']);
    const c1 = await openClient(cleanup, stack.port);
    await c1.write(data);
    expect(plainAll(await c1.waitForReplies(3))).toEqual(expected);
    const c = await counts();
    expect(c.ping).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(c.echo).toEqual({ sent: 3, matched: 2, blocking: 0 });
    expect(c['client|reply']).toEqual({ sent: 3, matched: 0, blocking: 0 });
  });
});

describe('MULTI / EXEC / WATCH', () => {
  it('queued commands are matched to +QUEUED, EXEC to its array; EXECABORT and a WATCH abort classified', async () => {
    const c1 = await openClient(cleanup, stack.port);
    await c1.write(
      Buffer.concat([
        cmd('MULTI'),
        cmd('SET', 'mx:a', '1'),
        cmd('INCR', 'mx:a'),
        cmd('GET', 'mx:a'),
        cmd('EXEC'),
        cmd('MULTI'),
        cmd('SET', 'mx:b', '1'),
        cmd('NOSUCHCOMMAND'),
        cmd('EXEC'),
        cmd('MULTI'),
        cmd('PING'),
        cmd('DISCARD'),
        cmd('WATCH', 'mx:w'),
      ]),
    );
    const first = plainAll(await c1.waitForReplies(13));
    expect(first).toEqual([
      'OK',
      'QUEUED',
      'QUEUED',
      'QUEUED',
      ['OK', 2, '2'],
      'OK',
      'QUEUED',
      { error: "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: " },
      { error: 'EXECABORT Transaction discarded because of previous errors.' },
      'OK',
      'QUEUED',
      'OK',
      'OK',
    ]);
    expect(await call(stack.port, 'SET', 'mx:w', 'changed')).toBe('OK');
    await c1.write(Buffer.concat([cmd('MULTI'), cmd('INCR', 'mx:w'), cmd('EXEC')]));
    const all = plainAll(await c1.waitForReplies(16));
    expect(all.slice(13)).toEqual(['OK', 'QUEUED', null]);

    const c = await counts();
    expect(c.multi).toEqual({ sent: 4, matched: 4, blocking: 0 });
    expect(c.exec).toEqual({ sent: 3, matched: 3, blocking: 0 });
    expect(c.set).toEqual({ sent: 3, matched: 3, blocking: 0 });
    expect(c.unknown).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await metric('redis_ambassador_command_errors_total', { cmd: 'exec', error: 'EXECABORT' })).toBe(1);
    expect(await metric('redis_ambassador_command_errors_total', { cmd: 'unknown', error: 'ERR' })).toBe(1);
    expect(await unmatchedSinceStart()).toEqual({});
  });
});

describe('blocking commands', () => {
  it('BLPOP (released and timed out), XREAD BLOCK and WAIT go to the blocking histogram; plain XREAD and BLPOP inside MULTI do not', async () => {
    const a = await openClient(cleanup, stack.port);
    const b = await openClient(cleanup, stack.port);
    await a.write(cmd('BLPOP', 'bq', 0));
    await waitBlockedClients(redis.port, 1);
    await b.write(cmd('LPUSH', 'bq', 'v'));
    expect(plain((await a.waitForReplies(1))[0]!)).toEqual(['bq', 'v']);
    await a.write(
      Buffer.concat([
        cmd('BLPOP', 'empty', '0.05'),
        cmd('XADD', 'bs', '*', 'f', 'v'),
        cmd('XREAD', 'COUNT', 1, 'STREAMS', 'bs', 0),
        cmd('XREAD', 'BLOCK', 50, 'STREAMS', 'bs', '$'),
        cmd('WAIT', 0, 0),
        cmd('MULTI'),
        cmd('BLPOP', 'empty', 0),
        cmd('EXEC'),
        cmd('PING'),
      ]),
    );
    const r = plainAll(await a.waitForReplies(10));
    expect(r[1]).toBeNull();
    expect(r[4]).toBeNull();
    expect(r[5]).toBe(0);
    expect(r.slice(6)).toEqual(['OK', 'QUEUED', [null], 'PONG']);

    const c = await counts();
    expect(c.blpop).toEqual({ sent: 3, matched: 1, blocking: 2 });
    expect(c.xread).toEqual({ sent: 2, matched: 1, blocking: 1 });
    expect(c.wait).toEqual({ sent: 1, matched: 0, blocking: 1 });
    expect(c.lpush).toEqual({ sent: 1, matched: 1, blocking: 0 });
    expect(await unmatchedSinceStart()).toEqual({});
  });
});

describe('the rest', () => {
  it('empty commands (*0, blank inline lines) are not commands and get no reply', async () => {
    const c1 = await openClient(cleanup, stack.port);
    await c1.write(Buffer.concat([Buffer.from('*0\r\n\r\n  \r\n'), cmd('PING'), Buffer.from('*0\r\n'), cmd('ECHO', 'x')]));
    expect(plainAll(await c1.waitForReplies(2))).toEqual(['PONG', 'x']);
    const c = await counts();
    expect(Object.keys(c).sort()).toEqual(['echo', 'ping']);
    expect(await unmatchedSinceStart()).toEqual({});
  });

  it('QUIT is answered +OK and the connection is closed, as redis-server does', async () => {
    const c1 = await openClient(cleanup, stack.port);
    await c1.write(Buffer.concat([cmd('PING'), cmd('QUIT')]));
    await c1.waitClosed(5_000);
    expect(plainAll(c1.replies())).toEqual(['PONG', 'OK']);
    expect((await counts()).quit).toEqual({ sent: 1, matched: 1, blocking: 0 });
  });

  it('2000 mixed commands pipelined in one write are each counted and matched once', async () => {
    const c1 = await openClient(cleanup, stack.port);
    const parts: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      parts.push(cmd('SET', `pl:${i}`, String(i)), cmd('INCR', `pl:${i}`), cmd('GET', `pl:${i}`), cmd('HSET', `pl:h`, `f${i}`, i));
    }
    await c1.write(Buffer.concat(parts));
    const r = await c1.waitForReplies(2000);
    expect(plain(r[1998]!)).toBe('500');
    const c = await counts();
    for (const name of ['set', 'incr', 'get', 'hset']) expect(c[name]).toEqual({ sent: 500, matched: 500, blocking: 0 });
    expect(await unmatchedSinceStart()).toEqual({});
  });
});
