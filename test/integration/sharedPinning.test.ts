/**
 * AMBASSADOR_UPSTREAM_MODE=shared, pinning (issue 13): a client shares the listener's upstream
 * connection until it sends something that makes connection state or holds the connection; from
 * then on it has an upstream connection of its own, for good. For every pin reason: the command
 * does what it does on a connection of its own (checked on redis-server itself, or against what
 * redis-server answers directly), the pin is counted in pinned_clients_total{reason}, and the
 * client's commands are carried by a connection other than the shared one (MONITOR names the
 * connection an ECHO came from: carrierOf). Commands that only read or write keys do not pin.
 * Replies keep their order across the pin, however the commands before it were on their way:
 * queued in the same write, past one write's budget, or written and not yet answered.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSharedStack, type Stack } from '../support/ambassadorPresets.js';
import { baseline, type MetricDelta } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { pseudoRandomBytes } from '../support/pseudoRandom.js';
import { call, direct, openClient, type RawClient } from '../support/rawClient.js';
import { carrierOf, clientList, info, waitBlockedClients } from '../support/redisInfo.js';
import { startRedis } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const MB = 1024 * 1024;
const cleanup = new Cleanup();
const perTest = new Cleanup();
let stack: Stack;
/** The CLIENT LIST entry of the listener's one shared upstream connection. */
let shared: Record<string, string>;
let since: MetricDelta;

beforeAll(async () => {
  // No diskless-sync delay, for the replica; health probes once (their PINGs would show in MONITOR).
  stack = await startSharedStack(cleanup, { redisArgs: ['--repl-diskless-sync-delay', '0'], env: { AMBASSADOR_HEALTH_INTERVAL_MS: '600000' }, ready: true });
  const probe = await openClient(cleanup, stack.port);
  shared = await carrierOf(stack.redis.port, probe);
  probe.close();
});
beforeEach(async () => {
  await call(stack.redis.port, 'FLUSHALL');
  since = await baseline(stack.amb.metrics);
});
afterEach(() => perTest.run());
afterAll(() => cleanup.run());

const client = (port = stack.port): Promise<RawClient> => openClient(perTest, port);
const reply = async (c: RawClient, ...args: (string | number | Buffer)[]): Promise<unknown> => plain(await c.call(args));
/** What redis-server itself answers to `args` on a fresh connection. */
const directly = async (...args: string[]): Promise<unknown> => plain((await direct(stack.redis.port, args))[0]!);

/** Exactly `n` clients were pinned since the test began, all for `reason` (none: no pin at all). */
async function expectPinned(reason: string | null, n = 1, delta: MetricDelta = since): Promise<void> {
  const total = await delta('redis_ambassador_pinned_clients_total');
  if (reason === null) return expect(total, 'clients pinned').toBe(0);
  expect({ reason, pinned: await delta('redis_ambassador_pinned_clients_total', { reason }), total }).toEqual({ reason, pinned: n, total: n });
}

/** The upstream connection carrying `c`: the shared one, or one of its own (returned). */
async function expectOnShared(c: RawClient): Promise<void> {
  expect((await carrierOf(stack.redis.port, c)).id, 'carried by the shared connection').toBe(shared.id);
}
async function expectOnItsOwn(c: RawClient): Promise<Record<string, string>> {
  const carrier = await carrierOf(stack.redis.port, c);
  expect(carrier.id, 'carried by a connection other than the shared one').not.toBe(shared.id);
  return carrier;
}

describe('commands that only use keys stay on the shared connection', () => {
  it('SET, GET, SELECT 0, XREAD and XREADGROUP without BLOCK, PING, ECHO, EVAL, CONFIG GET, PUBLISH: no pin', async () => {
    const c = await client();
    const replies = [
      await reply(c, 'SET', 'k', 'v'),
      await reply(c, 'GET', 'k'),
      await reply(c, 'SELECT', 0),
      await reply(c, 'XADD', 's', '1-1', 'f', 'v'),
      await reply(c, 'XREAD', 'COUNT', 1, 'STREAMS', 's', 0),
      await reply(c, 'XGROUP', 'CREATE', 's', 'g', 0),
      await reply(c, 'XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 1, 'STREAMS', 's', '>'),
      await reply(c, 'PING'),
      await reply(c, 'EVAL', 'return redis.call("GET", KEYS[1])', 1, 'k'),
      await reply(c, 'CONFIG', 'GET', 'maxmemory'),
      await reply(c, 'PUBLISH', 'nobody', 'x'),
    ];
    expect(replies).toEqual(['OK', 'v', 'OK', '1-1', [['s', [['1-1', ['f', 'v']]]]], 'OK', [['s', [['1-1', ['f', 'v']]]]], 'PONG', 'v', ['maxmemory', '0'], 0]);
    await expectOnShared(c);
    await expectPinned(null);
  });

  it('a 512 KB SET (under AMBASSADOR_SHARED_MAX_FRAME) goes whole on the shared connection', async () => {
    const c = await client();
    const value = pseudoRandomBytes(512 * 1024, 5);
    expect(await reply(c, 'SET', 'half-mb', value)).toBe('OK');
    expect(await directly('STRLEN', 'half-mb')).toBe(value.length);
    await expectOnShared(c);
    await expectPinned(null);
  });
});

describe('every pin reason: the command works as on a connection of its own, and the client is pinned', () => {
  it('SELECT 1: the SET lands in db 1 (on redis), the shared connection stays in db 0; SELECT 0 afterwards keeps the client pinned', async () => {
    const c = await client();
    expect(await reply(c, 'SET', 'where', 'db0')).toBe('OK');
    expect(await reply(c, 'SELECT', 1)).toBe('OK');
    expect(await reply(c, 'SET', 'where', 'db1')).toBe('OK');
    expect(await reply(c, 'GET', 'where')).toBe('db1');
    expect((await direct(stack.redis.port, ['SELECT', '1'], ['GET', 'where'])).map(plain)).toEqual(['OK', 'db1']);
    expect(await directly('GET', 'where')).toBe('db0');
    const own = await expectOnItsOwn(c);
    expect(own.db).toBe('1');
    // Another client, on the shared connection, still reads db 0.
    expect(await reply(await client(), 'GET', 'where')).toBe('db0');
    await expectPinned('select');
    // A pinned client stays pinned: back in db 0, still on its own connection, not counted again.
    expect(await reply(c, 'SELECT', 0)).toBe('OK');
    expect(await reply(c, 'GET', 'where')).toBe('db0');
    expect((await carrierOf(stack.redis.port, c)).id).toBe(own.id);
    await expectPinned('select');
  });

  it('SELECT 0 does not pin', async () => {
    const c = await client();
    expect(await reply(c, 'SELECT', 0)).toBe('OK');
    expect(await reply(c, 'SET', 'k', 'v')).toBe('OK');
    await expectOnShared(c);
    await expectPinned(null);
  });

  it('AUTH against a redis-server with requirepass (the ambassador has no credentials): the client is authenticated, the others are not', async () => {
    const locked = await startSharedStack(perTest, { redisArgs: ['--requirepass', 's3cret'] });
    const delta = await baseline(locked.amb.metrics);
    const noauth = plain((await direct(locked.redis.port, ['GET', 'k']))[0]!);
    expect(noauth).toEqual({ error: expect.stringMatching(/^NOAUTH/) });
    const a = await client(locked.port);
    const b = await client(locked.port);
    expect(await reply(a, 'GET', 'k'), 'before AUTH, on the shared connection').toEqual(noauth);
    expect(await reply(a, 'AUTH', 's3cret')).toBe('OK');
    expect(await reply(a, 'SET', 'k', 'v')).toBe('OK');
    expect(await reply(a, 'GET', 'k')).toBe('v');
    expect(await reply(b, 'GET', 'k'), "another client: the AUTH did not authenticate the shared connection").toEqual(noauth);
    expect((await direct(locked.redis.port, ['AUTH', 's3cret'], ['GET', 'k'])).map(plain)).toEqual(['OK', 'v']);
    await expectPinned('auth', 1, delta);
  });

  it('HELLO 3: RESP3 replies for the client, RESP2 still for the others', async () => {
    await call(stack.redis.port, 'HSET', 'h', 'f', 'v');
    const a = await client();
    const b = await client();
    const hello = await a.call(['HELLO', 3]);
    expect(hello.type).toBe('map');
    expect(plain(hello)).toMatchObject({ server: 'redis', proto: 3 });
    const h3 = await a.call(['HGETALL', 'h']);
    expect({ type: h3.type, value: plain(h3) }).toEqual({ type: 'map', value: { f: 'v' } });
    const h2 = await b.call(['HGETALL', 'h']);
    expect({ type: h2.type, value: plain(h2) }).toEqual({ type: 'array', value: ['f', 'v'] });
    expect((await expectOnItsOwn(a)).resp).toBe('3');
    await expectPinned('hello');
  });

  it("MULTI/EXEC: the transaction runs; another client's commands meanwhile are not queued in it", async () => {
    const a = await client();
    const b = await client();
    expect(await reply(a, 'MULTI')).toBe('OK');
    expect(await reply(a, 'SET', 'tx', 'a')).toBe('QUEUED');
    expect(await reply(a, 'INCR', 'n')).toBe('QUEUED');
    expect(await reply(b, 'GET', 'tx'), "b's GET runs at once").toBe(null);
    expect(await reply(a, 'EXEC')).toEqual(['OK', 1]);
    expect(await reply(b, 'GET', 'tx')).toBe('a');
    await expectOnShared(b);
    await expectPinned('transaction');
  });

  it('WATCH: EXEC fails because another client touched the key; a second WATCH on the same client succeeds and is not a second pin', async () => {
    const a = await client();
    const b = await client();
    expect(await reply(a, 'SET', 'w', 1)).toBe('OK');
    expect(await reply(a, 'WATCH', 'w')).toBe('OK');
    expect(await reply(b, 'SET', 'w', 2)).toBe('OK');
    expect(await reply(a, 'MULTI')).toBe('OK');
    expect(await reply(a, 'INCR', 'w')).toBe('QUEUED');
    expect(await reply(a, 'EXEC'), 'the transaction was aborted').toBe(null);
    expect(await directly('GET', 'w')).toBe('2');
    expect(await reply(a, 'WATCH', 'w')).toBe('OK');
    expect(await reply(a, 'MULTI')).toBe('OK');
    expect(await reply(a, 'INCR', 'w')).toBe('QUEUED');
    expect(await reply(a, 'EXEC')).toEqual([3]);
    await expectPinned('transaction');
  });

  it('SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE receive what a client on the shared connection publishes', async () => {
    const [s1, s2, s3, pub] = [await client(), await client(), await client(), await client()];
    expect(await reply(s1, 'SUBSCRIBE', 'ch')).toEqual(['subscribe', 'ch', 1]);
    expect(await reply(s2, 'PSUBSCRIBE', 'pat.*')).toEqual(['psubscribe', 'pat.*', 1]);
    expect(await reply(s3, 'SSUBSCRIBE', 'sch')).toEqual(['ssubscribe', 'sch', 1]);
    expect([await reply(pub, 'PUBLISH', 'ch', 'm1'), await reply(pub, 'PUBLISH', 'pat.x', 'm2'), await reply(pub, 'SPUBLISH', 'sch', 'm3')]).toEqual([1, 1, 1]);
    await Promise.all([s1, s2, s3].map((s) => s.waitForFrames(2)));
    expect([s1, s2, s3].map((s) => plain(s.replyAt(1)))).toEqual([
      ['message', 'ch', 'm1'],
      ['pmessage', 'pat.*', 'pat.x', 'm2'],
      ['smessage', 'sch', 'm3'],
    ]);
    await expectOnShared(pub);
    await expectPinned('pubsub', 3);
  });

  it('BLPOP is woken by another client, whose commands the blocked one did not hold up', async () => {
    const a = await client();
    const b = await client();
    a.send('BLPOP', 'q', 10);
    await waitBlockedClients(stack.redis.port, 1);
    expect(await reply(b, 'PING')).toBe('PONG');
    expect(await reply(b, 'RPUSH', 'q', 'x')).toBe(1);
    await a.waitForFrames(1);
    expect(plain(a.replyAt(0))).toEqual(['q', 'x']);
    await expectPinned('blocking');
  });

  it('XREAD and XREADGROUP pin only with BLOCK, and are woken by an XADD from another client', async () => {
    const a = await client();
    const b = await client();
    const g = await client();
    expect(await reply(a, 'XADD', 's', '1-1', 'f', 'v')).toBe('1-1');
    expect(await reply(a, 'XREAD', 'STREAMS', 's', 0)).toEqual([['s', [['1-1', ['f', 'v']]]]]);
    expect(await reply(g, 'XGROUP', 'CREATE', 's', 'grp', '$')).toBe('OK');
    expect(await reply(g, 'XREADGROUP', 'GROUP', 'grp', 'c1', 'COUNT', 10, 'STREAMS', 's', '>')).toBe(null);
    await expectPinned(null);
    a.send('XREAD', 'BLOCK', 10_000, 'STREAMS', 's', '$');
    g.send('XREADGROUP', 'GROUP', 'grp', 'c1', 'BLOCK', 10_000, 'STREAMS', 's', '>');
    await waitBlockedClients(stack.redis.port, 2);
    expect(await reply(b, 'XADD', 's', '2-1', 'f', 'w')).toBe('2-1');
    await a.waitForFrames(3);
    await g.waitForFrames(3);
    expect(plain(a.replyAt(2))).toEqual([['s', [['2-1', ['f', 'w']]]]]);
    expect(plain(g.replyAt(2))).toEqual([['s', [['2-1', ['f', 'w']]]]]);
    await expectPinned('blocking', 2);
  });

  it('XREAD and XREADGROUP with BLOCK after repeated options (past the tokens the ambassador reads) pin too: another client is not held up behind them', async () => {
    // redis-server takes an option as often as it comes; BLOCK 0 waits for good.
    const a = await client();
    const g = await client();
    const b = await client();
    expect(await reply(g, 'XGROUP', 'CREATE', 's', 'grp', '$', 'MKSTREAM')).toBe('OK');
    try {
      a.send('XREAD', 'COUNT', 1, 'COUNT', 1, 'COUNT', 1, 'COUNT', 1, 'BLOCK', 0, 'STREAMS', 's', '$');
      await waitBlockedClients(stack.redis.port, 1);
      await expectPinned('blocking', 1);
      expect(plain(await b.call(['PING'], 3000))).toBe('PONG');
      g.send('XREADGROUP', 'GROUP', 'grp', 'c1', 'COUNT', 1, 'COUNT', 1, 'BLOCK', 0, 'STREAMS', 's', '>');
      await waitBlockedClients(stack.redis.port, 2);
      await expectPinned('blocking', 2);
      expect(plain(await b.call(['PING'], 3000))).toBe('PONG');
    } finally {
      // Wakes them wherever they wait, the shared connection included.
      await call(stack.redis.port, 'XADD', 's', '9-1', 'f', 'release');
    }
    await a.waitForFrames(1);
    await g.waitForFrames(2);
    expect(plain(a.replyAt(0))).toEqual([['s', [['9-1', ['f', 'release']]]]]);
  });

  it('SCRIPT DEBUG (the next EVAL on its connection starts the Lua debugger) pins: another client’s EVAL is not debugged', async () => {
    const own = await startSharedStack(perTest, { ready: true });
    const delta = await baseline(own.amb.metrics);
    const a = await client(own.port);
    const b = await client(own.port);
    expect(await reply(a, 'SCRIPT', 'DEBUG', 'YES')).toBe('OK');
    expect(plain(await b.call(['EVAL', 'return 1', 0], 3000)), 'the other client’s EVAL').toBe(1);
    expect(String((await reply(a, 'EVAL', 'return 1', 0)) as string[])).toContain('* Stopped at 1');
    expect(await delta('redis_ambassador_pinned_clients_total')).toBe(1);
  });

  it('WAIT 0 0', async () => {
    const a = await client();
    expect(await reply(a, 'SET', 'k', 'v')).toBe('OK');
    expect(await reply(a, 'WAIT', 0, 0)).toBe(0);
    await expectOnItsOwn(a);
    await expectPinned('blocking');
  });

  it("MONITOR sees another client's commands; that client's replies carry no MONITOR line", async () => {
    const m = await client();
    const b = await client();
    expect(await reply(m, 'MONITOR')).toBe('OK');
    expect(await reply(b, 'SET', 'monitored', 'v')).toBe('OK');
    expect(await reply(b, 'GET', 'monitored')).toBe('v');
    await m.until(() => m.text().includes('"SET" "monitored" "v"') && m.text().includes('"GET" "monitored"'), 'MONITOR lines for SET and GET');
    expect(b.text()).toBe('+OK\r\n$1\r\nv\r\n');
    await expectPinned('monitor');
  });

  it('CLIENT SETNAME: the name is on the client’s own connection in CLIENT LIST, not on the shared one', async () => {
    const a = await client();
    expect(await reply(a, 'CLIENT', 'SETNAME', 'app-a')).toBe('OK');
    expect(await reply(a, 'CLIENT', 'GETNAME')).toBe('app-a');
    const list = await clientList(stack.redis.port);
    const named = list.filter((e) => e.name === 'app-a');
    expect(named.map((e) => e.id)).toEqual([(await expectOnItsOwn(a)).id]);
    expect(list.find((e) => e.id === shared.id)?.name).toBe('');
    await expectPinned('client');
  });

  it("CLIENT ID: the client's own connection's id, not the shared connection's", async () => {
    const a = await client();
    const id = String(await reply(a, 'CLIENT', 'ID'));
    expect(id).not.toBe(shared.id);
    expect((await clientList(stack.redis.port)).map((e) => e.id)).toContain(id);
    expect((await expectOnItsOwn(a)).id).toBe(id);
    await expectPinned('client');
  });

  it('every other CLIENT subcommand pins too: INFO, LIST, NO-EVICT, TRACKING, REPLY, KILL, PAUSE, UNPAUSE, GETREDIR', async () => {
    const cases: [string[], (r: unknown) => void][] = [
      [['CLIENT', 'INFO'], (r) => expect(String(r)).toMatch(/^id=\d+ /)],
      [['CLIENT', 'LIST'], (r) => expect(String(r)).toContain(`id=${shared.id} `)],
      [['CLIENT', 'NO-EVICT', 'ON'], (r) => expect(r).toBe('OK')],
      [['CLIENT', 'TRACKING', 'ON'], (r) => expect(r).toBe('OK')],
      [['CLIENT', 'REPLY', 'ON'], (r) => expect(r).toBe('OK')],
      [['CLIENT', 'KILL', 'ID', '999999999'], (r) => expect(r).toBe(0)],
      [['CLIENT', 'PAUSE', '1'], (r) => expect(r).toBe('OK')],
      [['CLIENT', 'UNPAUSE'], (r) => expect(r).toBe('OK')],
      [['CLIENT', 'GETREDIR'], (r) => expect(r).toBe(-1)],
    ];
    for (const [args, check] of cases) {
      const a = await client();
      check(plain(await a.call(args)));
      if (args[1] === 'INFO') expect(String(await reply(a, 'CLIENT', 'INFO'))).not.toMatch(new RegExp(`^id=${shared.id} `));
    }
    await expectPinned('client', cases.length);
  });

  it('READONLY and READWRITE: as redis-server answers them (standalone), pinned', async () => {
    for (const c of ['READONLY', 'READWRITE']) expect(await reply(await client(), c)).toEqual(await directly(c));
    await expectPinned('readonly', 2);
  });

  it('RESET', async () => {
    const a = await client();
    expect(await reply(a, 'RESET')).toBe('RESET');
    expect(await reply(a, 'GET', 'k')).toBe(null);
    await expectOnItsOwn(a);
    await expectPinned('reset');
  });

  it('ASKING: as redis-server answers it (standalone), pinned', async () => {
    const a = await client();
    expect(await reply(a, 'ASKING')).toEqual(await directly('ASKING'));
    await expectOnItsOwn(a);
    await expectPinned('asking');
  });

  it("a command unknown to the command table: redis-server's own error, pinned; the next command works", async () => {
    const a = await client();
    expect(await reply(a, 'NOSUCHCMD', 'x')).toEqual(await directly('NOSUCHCMD', 'x'));
    expect(await reply(a, 'SET', 'k', 'v')).toBe('OK');
    await expectOnItsOwn(a);
    await expectPinned('unknown');
  });

  it('a 100 MB SET streams to redis on a connection of its own: clients on the shared connection are answered before it ends', async () => {
    // A pattern that does not divide a megabyte, so every megabyte of the value differs.
    const value = Buffer.alloc(100 * MB, pseudoRandomBytes(MB + 7, 9));
    const frame = cmd('SET', 'big', value);
    const cut = frame.length - MB;
    const big = await client();
    const other = await client();
    void big.write(frame.subarray(0, cut));
    // The value reaches redis-server before its frame is complete: its query buffer fills.
    await waitUntil(async () => (await clientList(stack.redis.port)).some((e) => Number(e.qbuf) >= 90 * MB), {
      timeoutMs: 20_000,
      what: 'redis-server holding 90 MB of the unfinished SET',
    });
    await expectPinned('large');
    for (let i = 0; i < 50; i++) {
      expect(await reply(other, 'SET', `k${i}`, `v${i}`)).toBe('OK');
      expect(await reply(other, 'GET', `k${i}`)).toBe(`v${i}`);
    }
    await expectOnShared(other);
    expect(big.length, 'no reply for the unfinished SET yet').toBe(0);
    const lastOther = other.frames.at(-1)!.at;
    await big.write(frame.subarray(cut));
    await big.waitForFrames(1, 20_000);
    expect(plain(big.replyAt(0))).toBe('OK');
    expect(lastOther).toBeLessThan(big.frames[0]!.at);
    expect(await directly('STRLEN', 'big')).toBe(100 * MB);
    const middle = (await direct(stack.redis.port, ['GETRANGE', 'big', String(50 * MB), String(50 * MB + 99)]))[0]!;
    expect(middle.type === 'bulk' && middle.value?.equals(value.subarray(50 * MB, 50 * MB + 100))).toBe(true);
  }, 60_000);

  it('SYNC: the RDB payload streams to a client of its own', async () => {
    await call(stack.redis.port, 'SET', 'in-rdb', 'yes');
    const a = await client();
    await a.write(cmd('SYNC'));
    await a.waitForBytes((b) => b.includes('REDIS0') && b.includes('in-rdb'), 'an RDB payload holding in-rdb', 20_000);
    await expectPinned('replication');
  });

  it('PSYNC: a replica of the ambassador reaches master_link_status:up and receives what clients write through it', async () => {
    const replica = perTest.track(await startRedis(['--replicaof', '127.0.0.1', String(stack.port), '--dir', perTest.tempDir('amb-shared-replica-')]));
    await waitUntil(async () => (await info(replica.port, 'replication')).master_link_status === 'up', { timeoutMs: 20_000, what: 'master_link_status:up' });
    const w = await client();
    expect(await reply(w, 'SET', 'replicated', 'yes')).toBe('OK');
    await waitUntil(async () => (await call(replica.port, 'GET', 'replicated')) === 'yes', { what: 'the SET on the replica' });
    expect(Number((await info(stack.redis.port, 'replication')).connected_slaves)).toBe(1);
    expect(await since('redis_ambassador_pinned_clients_total', { reason: 'replication' })).toBeGreaterThanOrEqual(1);
    expect(await since('redis_ambassador_pinned_clients_total')).toBe(await since('redis_ambassador_pinned_clients_total', { reason: 'replication' }));
  }, 40_000);
});

describe('order across the pin: every reply in order and correct', () => {
  /** Replies to `commands` from a client that sends them all in one write. */
  async function pipelined(c: RawClient, commands: (string | number | Buffer)[][]): Promise<unknown[]> {
    const before = c.frameEnds().length;
    await c.write(Buffer.concat(commands.map((args) => cmd(...args))));
    await c.waitForFrames(before + commands.length, 5000);
    return c.replies().slice(before).map(plain);
  }
  const range = (n: number, f: (i: number) => (string | number)[]) => Array.from({ length: n }, (_, i) => f(i));

  it('GETs, SELECT 1, then more commands, all in ONE write (the commands before the pin were queued, not yet written)', async () => {
    const c = await client();
    const got = await pipelined(c, [
      ['SET', 'o', 'db0'],
      ...range(20, () => ['GET', 'o']),
      ['SELECT', 1],
      ['GET', 'o'],
      ['SET', 'o', 'db1'],
      ...range(20, () => ['GET', 'o']),
      ['ECHO', 'done'],
    ]);
    expect(got).toEqual(['OK', ...range(20, () => ['db0']).flat(), 'OK', null, 'OK', ...range(20, () => ['db1']).flat(), 'done']);
    expect((await direct(stack.redis.port, ['SELECT', '1'], ['GET', 'o'])).map(plain)).toEqual(['OK', 'db1']);
    await expectPinned('select');
  });

  // Fails on the shared branch whenever the SETs read in the pin's event-loop turn are still queued then.
  it('400 KB of SETs (more than one write of the shared connection takes), SELECT 1, more, in ONE write', async () => {
    const c = await client();
    const value = 'x'.repeat(1000);
    const got = await pipelined(c, [...range(400, (i) => ['SET', `p${i}`, value]), ['SELECT', 1], ['SET', 'p0', 'db1'], ['GET', 'p0'], ['DBSIZE']]);
    expect(got).toEqual([...range(400, () => ['OK']).flat(), 'OK', 'OK', 'db1', 1]);
    expect(await directly('DBSIZE')).toBe(400);
    await expectPinned('select');
  });

  it('commands written on the shared connection and not yet answered (CLIENT PAUSE WRITE holds them in redis), then SELECT 1 and more', async () => {
    const c = await client();
    const pause = await client(stack.redis.port);
    expect(await reply(pause, 'CLIENT', 'PAUSE', 20_000, 'WRITE')).toBe('OK');
    try {
      await c.write(Buffer.concat([cmd('SET', 'o', 'db0'), cmd('GET', 'o')]));
      // redis-server has the SET and holds it: the shared connection is blocked there.
      await waitUntil(async () => (await clientList(pause, 'ID', shared.id))[0]?.flags === 'b', { what: 'the shared connection paused in redis' });
      await c.write(Buffer.concat([cmd('SELECT', 1), cmd('GET', 'o'), cmd('SET', 'o', 'db1'), cmd('GET', 'o')]));
      await waitUntil(async () => (await since('redis_ambassador_pinned_clients_total', { reason: 'select' })) === 1, { what: 'the pin' });
      expect(c.length, 'nothing answered while the SET is held').toBe(0);
    } finally {
      expect(await reply(pause, 'CLIENT', 'UNPAUSE')).toBe('OK');
    }
    await c.waitForFrames(6);
    expect(c.replies().map(plain)).toEqual(['OK', 'db0', 'OK', null, 'OK', 'db1']);
    await expectOnItsOwn(c);
    await expectPinned('select');
  });
});
