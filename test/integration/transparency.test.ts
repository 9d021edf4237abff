/**
 * The ambassador is byte-transparent: the same request stream gets the same reply bytes as a
 * direct connection to redis-server, and redis-cli (plain, -3, --pipe, subscribe) behaves the
 * same through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/ambassadorPresets.js';
import { expectSameBytes } from '../support/byteDiff.js';
import { Cleanup, run, startChild } from '../support/processes.js';
import { pseudoRandomBytes } from '../support/pseudoRandom.js';
import { call, RawClient } from '../support/rawClient.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let direct: RedisServer; // a redis-server the tests talk to directly
let stack: Stack; // another, fresh redis-server behind the ambassador

beforeAll(async () => {
  direct = cleanup.track(await startRedis());
  stack = await startStack(cleanup);
});
afterAll(() => cleanup.run());

const bytes = pseudoRandomBytes;

function transcript(): Buffer {
  const binary = Buffer.concat([Buffer.from([0, 13, 10, 36, 42, 43, 45, 255, 254, 13, 10, 0]), bytes(300, 7)]);
  const big = bytes(300_000, 42);
  return Buffer.concat([
    cmd('PING'),
    cmd('SET', 't:bin', binary),
    cmd('GET', 't:bin'),
    cmd('SET', 't:big', big),
    cmd('GET', 't:big'),
    cmd('STRLEN', 't:big'),
    Buffer.from('ECHO "inline \\x41 command"\r\n'),
    Buffer.from('PING\n'),
    cmd('INCR', 't:n'),
    cmd('INCRBYFLOAT', 't:f', '1.5'),
    cmd('RPUSH', 't:l', 'a', 'b', 'c'),
    cmd('LRANGE', 't:l', 0, -1),
    cmd('HSET', 't:h', 'f1', 'v1', 'f2', binary.subarray(0, 40)), // small: listpack keeps insertion order
    cmd('SADD', 't:s', 1, 2, 3),
    cmd('ZADD', 't:z', '1.5', 'm', '2.25', 'n'),
    // A transaction that runs, with a WRONGTYPE inside EXEC's reply.
    cmd('MULTI'),
    cmd('SET', 't:m', '1'),
    cmd('INCR', 't:m'),
    cmd('LPUSH', 't:m', 'x'),
    cmd('EXEC'),
    // A transaction aborted by an unknown command.
    cmd('MULTI'),
    cmd('SET', 't:m2', '1'),
    cmd('NOSUCHCOMMAND'),
    cmd('EXEC'),
    cmd('MULTI'),
    cmd('DISCARD'),
    // Errors.
    cmd('GET'),
    cmd('GET', 't:l'),
    cmd('NOSUCHCOMMAND', 'with', 'args'),
    cmd('SELECT', 1),
    cmd('SET', 't:db1', 'x'),
    cmd('SELECT', 0),
    cmd('GET', 't:db1'),
    // RESP3 from here on.
    cmd('HELLO', '3'),
    cmd('HGETALL', 't:h'),
    cmd('SMEMBERS', 't:s'),
    cmd('ZSCORE', 't:z', 'm'),
    cmd('ZRANGE', 't:z', 0, -1, 'WITHSCORES'),
    cmd('GET', 'missing'),
    cmd('EXISTS', 't:h'),
    cmd('CONFIG', 'GET', 'maxmemory-policy'),
    cmd('GET', 't:l'),
    cmd('LPOS', 't:l', 'b'),
    cmd('GET', 't:big'),
    cmd('RESET'),
    cmd('HGETALL', 't:h'),
    cmd('SMEMBERS', 't:s'),
    cmd('QUIT'),
  ]);
}

/** HELLO's reply carries the connection id, which differs between two servers; nothing else may. */
function normalize(b: Buffer): string {
  return b.toString('latin1').replace(/\$2\r\nid\r\n:\d+\r\n/g, '$2\r\nid\r\n:N\r\n');
}

/** Sends `data` in the given pieces (each its own write, spaced), reads until the server closes. */
async function sendAndReadToClose(port: number, data: Buffer, pieces: number[] | null): Promise<Buffer> {
  const c = await RawClient.connect(port);
  try {
    if (pieces === null) await c.write(data);
    else await c.writeInPieces(data, pieces);
    await c.waitClosed(20_000);
    return c.received();
  } finally {
    c.close();
  }
}

describe('byte transparency', () => {
  it('a pipelined transcript (binary values, MULTI/EXEC, errors, HELLO 3 and RESP3) gets identical reply bytes', async () => {
    const data = transcript();
    const expected = await sendAndReadToClose(direct.port, data, null);
    // Through the ambassador the same bytes arrive cut at odd places: 1, 2, 3, 7, 13, ... bytes.
    const got = await sendAndReadToClose(stack.port, data, [1, 2, 3, 7, 13, 64, 1500, 5, 65536, 11]);
    expect(expected.length).toBeGreaterThan(600_000); // the big value came back twice
    expectSameBytes(normalize(got), normalize(expected));
  });

  it('the same transcript in one write also matches', async () => {
    await call(direct.port, 'FLUSHALL');
    await call(stack.redis.port, 'FLUSHALL');
    const data = transcript();
    const expected = await sendAndReadToClose(direct.port, data, null);
    const got = await sendAndReadToClose(stack.port, data, null);
    expectSameBytes(normalize(got), normalize(expected));
  });
});

describe('redis-cli through the ambassador', () => {
  const cli = (port: number, ...args: string[]) => run('redis-cli', ['-p', String(port), ...args], { timeoutMs: 20_000 });

  it('plain and -3 give the same output as against redis-server directly', async () => {
    for (const port of [direct.port, stack.port]) {
      await cli(port, 'DEL', 'cli:h', 'cli:z', 'cli:l');
      await cli(port, 'HSET', 'cli:h', 'a', '1', 'b', '2');
      await cli(port, 'ZADD', 'cli:z', '1.5', 'm');
      await cli(port, 'RPUSH', 'cli:l', 'x', 'y');
    }
    const commands: string[][] = [
      ['PING'],
      ['SET', 'cli:k', 'hello world'],
      ['GET', 'cli:k'],
      ['HGETALL', 'cli:h'],
      ['LRANGE', 'cli:l', '0', '-1'],
      ['ZSCORE', 'cli:z', 'm'],
      ['GET', 'cli:l'],
      ['NOSUCHCOMMAND'],
    ];
    for (const proto of [[], ['-3']]) {
      for (const c of commands) {
        const [a, b] = await Promise.all([cli(direct.port, ...proto, ...c), cli(stack.port, ...proto, ...c)]);
        expect({ cmd: [...proto, ...c], out: b.stdout, code: b.code }).toEqual({ cmd: [...proto, ...c], out: a.stdout, code: a.code });
      }
    }
    // -3 really spoke RESP3 through the ambassador: HELLO 3 was sent and answered without error.
    expect(await stack.amb.metric('redis_ambassador_commands_total', { cmd: 'hello' })).toBeGreaterThanOrEqual(commands.length);
    expect(await stack.amb.metric('redis_ambassador_command_errors_total', { cmd: 'hello' })).toBe(0);
  });

  it('--pipe mass insert of 10000 SETs: "errors: 0, replies: 10000"', async () => {
    const before = await stack.amb.metric('redis_ambassador_commands_total', { cmd: 'set' });
    const input = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => cmd('SET', `pipe:${i}`, `value-${i}`)));
    const r = await run('redis-cli', ['-p', String(stack.port), '--pipe'], { input, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/errors: 0, replies: 10000/);
    expect(await call(stack.redis.port, 'GET', 'pipe:9999')).toBe('value-9999');
    expect((await stack.amb.metric('redis_ambassador_commands_total', { cmd: 'set' })) - before).toBe(10_000);
  });

  it('redis-cli subscribe receives what is published through another connection', async () => {
    const sub = cleanup.track(startChild('redis-cli', ['-p', String(stack.port), 'subscribe', 'cli-ch']));
    await waitUntil(() => /subscribe\s+cli-ch\s+1/.test(sub.output()), { what: () => `subscribe confirmation; got ${JSON.stringify(sub.output())}` });
    for (let i = 0; i < 3; i++) expect(await call(stack.port, 'PUBLISH', 'cli-ch', `hello-${i}`)).toBe(1);
    await waitUntil(() => /message\s+cli-ch\s+hello-2/.test(sub.output()), { what: () => `messages; got ${JSON.stringify(sub.output())}` });
    expect(sub.output()).toMatch(/message\s+cli-ch\s+hello-0\s+message\s+cli-ch\s+hello-1\s+message\s+cli-ch\s+hello-2/);
    await sub.stop();
  });

  it('redis-cli -3 subscribe receives RESP3 pushes', async () => {
    const sub = cleanup.track(startChild('redis-cli', ['-3', '-p', String(stack.port), 'subscribe', 'cli-ch3']));
    await waitUntil(() => /subscribe\s+cli-ch3\s+1/.test(sub.output()), { what: () => `subscribe confirmation; got ${JSON.stringify(sub.output())}` });
    expect(await call(stack.port, 'PUBLISH', 'cli-ch3', 'pushed')).toBe(1);
    await waitUntil(() => /message\s+cli-ch3\s+pushed/.test(sub.output()), { what: () => `message; got ${JSON.stringify(sub.output())}` });
    await sub.stop();
  });
});
