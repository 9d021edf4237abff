/**
 * AMBASSADOR_DENY_COMMANDS / AMBASSADOR_ALLOW_COMMANDS through a running ambassador and a real
 * redis-server: refused commands get -NOPERM naming them and never reach the upstream (checked
 * with the upstream's own INFO commandstats and its data), are counted in
 * commands_rejected_total{cmd,reason="policy"} and not in commands_total, are answered in their
 * place inside pipelines, poison a MULTI like a Redis ACL refusal does (EXEC → -EXECABORT; the
 * same bytes as a redis-server whose ACL forbids the command, apart from the refusal's own text),
 * and are judged by subcommand (CONFIG|GET) even when the frame arrives in pieces or is large.
 * Configuration mistakes stop the start with exit code 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthz, runCli } from '../support/ambassadorProcess.js';
import { ambassadorFor, type Proxy } from '../support/ambassadorPresets.js';
import { baseline } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { call, exchange as exchangeWith, openClient } from '../support/rawClient.js';
import { commandStats, waitBlockedClients } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let redis: RedisServer;
/** redis-server whose default user may run everything but FLUSHALL: what Redis itself does with a refusal. */
let aclRedis: RedisServer;
let deny: Proxy;
let allow: Proxy;

const DENY_FLUSHALL = "-NOPERM this ambassador does not allow the 'flushall' command (AMBASSADOR_DENY_COMMANDS)\r\n";
const EXECABORT = '-EXECABORT Transaction discarded because of previous errors.\r\n';

beforeAll(async () => {
  [redis, aclRedis] = await Promise.all([startRedis(), startRedis(['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-flushall'])]);
  cleanup.track(redis);
  cleanup.track(aclRedis);
  [deny, allow] = await Promise.all([
    ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_LOG_LEVEL: 'info', AMBASSADOR_DENY_COMMANDS: 'FLUSHALL,CONFIG' } }),
    ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_LOG_LEVEL: 'info', AMBASSADOR_ALLOW_COMMANDS: 'GET,SET,CONFIG|GET' } }),
  ]);
});
afterAll(() => cleanup.run());

/** Writes `data` in one write and returns exactly the bytes of the first `n` replies. */
async function exchange(port: number, data: Buffer | string, n: number, timeoutMs = 10_000): Promise<string> {
  return (await exchangeWith(port, data, n, { timeoutMs, quietMs: 30 })).text(); // nothing extra may follow
}

/** How often redis-server executed (or refused, in `rejected_calls`) a command, from INFO commandstats. */
async function upstreamCalls(label: string): Promise<number> {
  const s = (await commandStats(redis.port))[label];
  return s ? s.calls! + s.rejected_calls! : 0;
}

describe('AMBASSADOR_DENY_COMMANDS=FLUSHALL,CONFIG', () => {
  it('FLUSHALL: -NOPERM naming it, the data untouched, never seen by redis-server, counted as rejected and not as a command', async () => {
    const since = await baseline(() => deny.amb.metrics());
    expect(await call(redis.port, 'SET', 'pol:keep', 'kept')).toBe('OK');
    const dbsize = await call(redis.port, 'DBSIZE');
    expect(await exchange(deny.port, cmd('FLUSHALL'), 1)).toBe(DENY_FLUSHALL);
    expect(await exchange(deny.port, cmd('flushall', 'ASYNC'), 1)).toBe(DENY_FLUSHALL);
    expect(await call(redis.port, 'GET', 'pol:keep')).toBe('kept');
    expect(await call(redis.port, 'DBSIZE')).toBe(dbsize);
    expect(await upstreamCalls('flushall')).toBe(0);
    expect(await since('redis_ambassador_commands_rejected_total', { cmd: 'flushall', reason: 'policy' })).toBe(2);
    expect(await since('redis_ambassador_commands_total', { cmd: 'flushall' })).toBe(0);
    expect(await since('redis_ambassador_command_errors_total', { cmd: 'flushall' })).toBe(0);
  });

  it('CONFIG covers its subcommands: CONFIG GET and CONFIG SET refused, labelled by subcommand', async () => {
    const since = await baseline(() => deny.amb.metrics());
    const before = await upstreamCalls('config|get');
    const got = await exchange(deny.port, Buffer.concat([cmd('CONFIG', 'GET', 'maxclients'), cmd('CONFIG', 'SET', 'maxmemory', '1mb')]), 2);
    expect(got).toBe(
      "-NOPERM this ambassador does not allow the 'config|get' command (AMBASSADOR_DENY_COMMANDS)\r\n" +
        "-NOPERM this ambassador does not allow the 'config|set' command (AMBASSADOR_DENY_COMMANDS)\r\n",
    );
    expect(await call(redis.port, 'CONFIG', 'GET', 'maxmemory')).toEqual(['maxmemory', '0']);
    expect(await upstreamCalls('config|get')).toBe(before + 1); // only our own check just now
    expect(await since('redis_ambassador_commands_rejected_total', { cmd: 'config|get', reason: 'policy' })).toBe(1);
    expect(await since('redis_ambassador_commands_rejected_total', { cmd: 'config|set', reason: 'policy' })).toBe(1);
  });

  it('in a pipeline (one write): SET a 1; FLUSHALL; GET a → +OK, -NOPERM, $1 1, in order', async () => {
    const got = await exchange(deny.port, Buffer.concat([cmd('SET', 'pol:a', '1'), cmd('FLUSHALL'), cmd('GET', 'pol:a')]), 3);
    expect(got).toBe(`+OK\r\n${DENY_FLUSHALL}$1\r\n1\r\n`);
  });

  it('a long pipeline with refusals mixed in: every reply in its place', async () => {
    const parts: Buffer[] = [];
    let expected = '';
    for (let i = 0; i < 300; i++) {
      if (i % 7 === 3) {
        parts.push(cmd('FLUSHALL'));
        expected += DENY_FLUSHALL;
      } else {
        parts.push(cmd('ECHO', `m${i}`));
        expected += `$${`m${i}`.length}\r\nm${i}\r\n`;
      }
    }
    expect(await exchange(deny.port, Buffer.concat(parts), 300)).toBe(expected);
  });

  it('inside MULTI: MULTI; SET a 2; FLUSHALL; EXEC → +OK +QUEUED -NOPERM -EXECABORT, like a Redis ACL refusal; a is still 1', async () => {
    const since = await baseline(() => deny.amb.metrics());
    expect(await call(redis.port, 'SET', 'pol:a', '1')).toBe('OK');
    expect(await call(aclRedis.port, 'SET', 'pol:a', '1')).toBe('OK');
    const tx = Buffer.concat([cmd('MULTI'), cmd('SET', 'pol:a', '2'), cmd('FLUSHALL'), cmd('EXEC')]);
    const [direct, via] = await Promise.all([exchange(aclRedis.port, tx, 4), exchange(deny.port, tx, 4)]);
    // What Redis does with its own refusal inside MULTI (the oracle behaves as assumed).
    expect(direct).toBe(`+OK\r\n+QUEUED\r\n-NOPERM this user has no permissions to run the 'flushall' command\r\n${EXECABORT}`);
    expect(via).toBe(`+OK\r\n+QUEUED\r\n${DENY_FLUSHALL}${EXECABORT}`);
    expect(await call(redis.port, 'GET', 'pol:a')).toBe('1');
    expect(await call(aclRedis.port, 'GET', 'pol:a')).toBe('1');
    expect(await upstreamCalls('flushall')).toBe(0);
    // Counted: the client's MULTI, SET and EXEC; the refusal as rejected; nothing else (no internal command).
    expect(await since('redis_ambassador_commands_total')).toBe(3);
    expect(await since('redis_ambassador_commands_total', { cmd: 'unknown' })).toBe(0);
    expect(await since('redis_ambassador_commands_rejected_total', { cmd: 'flushall', reason: 'policy' })).toBe(1);
  });

  it('inside MULTI then DISCARD: the connection is usable afterwards, nothing was executed', async () => {
    const got = await exchange(
      deny.port,
      Buffer.concat([cmd('MULTI'), cmd('SET', 'pol:d', 'x'), cmd('FLUSHALL'), cmd('DISCARD'), cmd('GET', 'pol:d'), cmd('SET', 'pol:d', 'y'), cmd('GET', 'pol:d')]),
      7,
    );
    expect(got).toBe(`+OK\r\n+QUEUED\r\n${DENY_FLUSHALL}+OK\r\n$-1\r\n+OK\r\n$1\r\ny\r\n`);
  });

  it('a refusal behind a blocked BLPOP waits for the BLPOP reply: answers stay in order', async () => {
    const c = await openClient(cleanup, deny.port);
    await c.write(Buffer.concat([cmd('BLPOP', 'pol:list', '0'), cmd('FLUSHALL'), cmd('PING')]));
    await waitBlockedClients(redis.port, 1);
    await sleep(100);
    expect(c.text()).toBe(''); // the refusal must not overtake the BLPOP
    expect(await call(redis.port, 'LPUSH', 'pol:list', 'v')).toBe(1);
    await c.waitForReplies(3);
    expect(c.text()).toBe(`*2\r\n$8\r\npol:list\r\n$1\r\nv\r\n${DENY_FLUSHALL}+PONG\r\n`);
    c.close();
  });

  it('inline commands (telnet) are judged too, also when split over writes', async () => {
    const c = await openClient(cleanup, deny.port);
    await c.write('FLUSHALL\r\n');
    await c.waitForReplies(1);
    await c.write('FLUSH');
    await sleep(50);
    await c.write('ALL\r\nPING\r\n');
    await c.waitForReplies(3);
    expect(c.text()).toBe(`${DENY_FLUSHALL}${DENY_FLUSHALL}+PONG\r\n`);
    expect(await upstreamCalls('flushall')).toBe(0);
    c.close();
  });


  it('an allowed command with subcommands and a large argument (SCRIPT LOAD of a 1.5 MB script) reaches redis-server intact', async () => {
    const script = `return 'ok' -- ${'x'.repeat(1536 * 1024)}`;
    const direct = plain((await exchangeReplies(redis.port, cmd('SCRIPT', 'LOAD', script), 1))[0]!);
    expect(String(direct)).toMatch(/^[0-9a-f]{40}$/);
    const via = plain((await exchangeReplies(deny.port, Buffer.concat([cmd('SCRIPT', 'LOAD', script), cmd('PING')]), 2))[0]!);
    expect(via).toBe(direct);
  });

  it('the process is up and, with every client of this block gone, no session is left', async () => {
    expect(deny.amb.process.exitCode).toBeNull();
    expect(await healthz(deny.amb)).toBe(200);
    await waitUntil(async () => (await deny.amb.metric('redis_ambassador_client_connections')) === 0, { what: 'no sessions left' });
  });
});

async function exchangeReplies(port: number, data: Buffer, n: number) {
  return (await exchangeWith(port, data, n, { timeoutMs: 20_000 })).replies();
}

describe('AMBASSADOR_ALLOW_COMMANDS=GET,SET,CONFIG|GET', () => {
  it('GET and SET work; CONFIG GET is allowed; CONFIG SET and DEL are refused, and redis-server is unchanged', async () => {
    const since = await baseline(() => allow.amb.metrics());
    const got = await exchange(
      allow.port,
      Buffer.concat([
        cmd('SET', 'al:k', 'v'),
        cmd('GET', 'al:k'),
        cmd('CONFIG', 'GET', 'maxmemory-policy'),
        cmd('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'),
        cmd('DEL', 'al:k'),
        cmd('GET', 'al:k'),
      ]),
      6,
    );
    expect(got).toBe(
      '+OK\r\n$1\r\nv\r\n*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n' +
        "-NOPERM this ambassador does not allow the 'config|set' command (AMBASSADOR_ALLOW_COMMANDS)\r\n" +
        "-NOPERM this ambassador does not allow the 'del' command (AMBASSADOR_ALLOW_COMMANDS)\r\n" +
        '$1\r\nv\r\n',
    );
    expect(await call(redis.port, 'CONFIG', 'GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    expect(await call(redis.port, 'GET', 'al:k')).toBe('v');
    expect(await since('redis_ambassador_commands_rejected_total', { reason: 'policy' })).toBe(2);
    expect(await since('redis_ambassador_commands_total', { cmd: 'config|get' })).toBe(1);
    expect(await since('redis_ambassador_commands_total', { cmd: 'del' })).toBe(0);
  });

  it('CONFIG GET / CONFIG SET split between the name and the subcommand: judged by the subcommand all the same', async () => {
    const c = await openClient(cleanup, allow.port);
    await c.write('*3\r\n$6\r\nCONFIG\r\n');
    await sleep(50);
    await c.write('$3\r\nGET\r\n$10\r\nmaxclients\r\n');
    await c.waitForReplies(1);
    await c.write('*4\r\n$6\r\nconfig\r\n$3\r\nS');
    await sleep(50);
    await c.write('ET\r\n$10\r\nmaxclients\r\n');
    await sleep(50);
    await c.write('$2\r\n50\r\n');
    await c.waitForReplies(2);
    await c.write(cmd('GET', 'al:k'));
    await c.waitForReplies(3);
    expect(c.replies().map(plain)).toEqual([
      ['maxclients', '10000'],
      { error: "NOPERM this ambassador does not allow the 'config|set' command (AMBASSADOR_ALLOW_COMMANDS)" },
      'v',
    ]);
    expect(await call(redis.port, 'CONFIG', 'GET', 'maxclients')).toEqual(['maxclients', '10000']);
  });

  it('CONFIG GET with a 2 MB pattern (allowed, bigger than what the ambassador holds back while it waits for the subcommand) reaches redis-server intact', async () => {
    const pattern = 'z'.repeat(2 * 1024 * 1024);
    const direct = (await exchangeReplies(redis.port, cmd('CONFIG', 'GET', pattern), 1)).map(plain);
    expect(direct).toEqual([[]]);
    const via = (await exchangeReplies(allow.port, Buffer.concat([cmd('CONFIG', 'GET', pattern), cmd('GET', 'al:k')]), 2)).map(plain);
    expect(via).toEqual([[], 'v']);
  });

  it('commands outside the table are refused by an allow-list', async () => {
    const got = await exchange(allow.port, cmd('NOTACOMMAND', 'x'), 1);
    expect(got).toMatch(/^-NOPERM .*\(AMBASSADOR_ALLOW_COMMANDS\)\r\n$/);
    expect(await allow.amb.metric('redis_ambassador_commands_rejected_total', { cmd: 'unknown', reason: 'policy' })).toBe(1);
  });
});

describe('a refused command with subcommands and a large argument (over the 1 MB the ambassador holds back while waiting for the subcommand)', () => {
  // CONFIG SET maxmemory <3 MB of digits>: harmless if it reached Redis (it fails validation
  // there), but a real bypass would be e.g. CONFIG SET requirepass <1.5 MB> locking everyone out.
  for (const which of ['deny', 'allow'] as const) {
    it(`${which}-list: -NOPERM, and none of its bytes reach redis-server`, async () => {
      const { port } = which === 'deny' ? deny : allow;
      const before = await upstreamCalls('config|set');
      const c = await openClient(cleanup, port);
      const frame = cmd('CONFIG', 'SET', 'maxmemory', Buffer.alloc(3 * 1024 * 1024, 0x31));
      for (let i = 0; i < frame.length; i += 256 * 1024) await c.write(frame.subarray(i, i + 256 * 1024));
      // GET is allowed by both lists: its reply shows the connection goes on, in order.
      await c.write(cmd('GET', 'policy:absent'));
      await c.waitForReplies(2, 20_000);
      const source = which === 'deny' ? 'AMBASSADOR_DENY_COMMANDS' : 'AMBASSADOR_ALLOW_COMMANDS';
      expect(c.text().slice(0, 200)).toBe(`-NOPERM this ambassador does not allow the 'config|set' command (${source})\r\n$-1\r\n`);
      expect(await upstreamCalls('config|set')).toBe(before);
      expect(await call(redis.port, 'CONFIG', 'GET', 'maxmemory')).toEqual(['maxmemory', '0']);
    });
  }
});

describe('configuration mistakes stop the start with exit code 2', () => {
  const env = { REDIS_PORT_6390_TCP: 'tcp://127.0.0.1:1', AMBASSADOR_ADMIN_ADDR: 'off' };

  it('deny-list and allow-list both set', async () => {
    const r = await runCli([], { ...env, AMBASSADOR_DENY_COMMANDS: 'FLUSHALL', AMBASSADOR_ALLOW_COMMANDS: 'GET' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('AMBASSADOR_DENY_COMMANDS');
    expect(r.stderr).toContain('AMBASSADOR_ALLOW_COMMANDS');
  });

  for (const [variable, list, name] of [
    ['AMBASSADOR_DENY_COMMANDS', 'FLUSHALL,FLUSHEVERYTHING', 'flusheverything'],
    ['AMBASSADOR_ALLOW_COMMANDS', 'GET,CONFIG|NOPE', 'config|nope'],
  ] as const) {
    it(`an unknown name in ${variable}: exit 2 naming it, no stack trace`, async () => {
      const r = await runCli([], { ...env, [variable]: list });
      expect(r.stderr).toContain(name);
      expect(r.stderr).toContain(variable);
      expect(r.stderr).not.toMatch(/\n\s+at /); // a configuration error, not a crash
      expect(r.code).toBe(2);
    });
  }
});
