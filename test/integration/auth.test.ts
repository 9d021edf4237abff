/**
 * Credentials, with real redis-server processes and redis-cli:
 * - the ambassador authenticates upstream itself (AMBASSADOR_UPSTREAM_PASSWORD, …_USERNAME for an
 *   ACL user, …_PASSWORD_FILE), so redis-cli with no password works through it; wrong upstream
 *   credentials make /readyz 503 naming WRONGPASS, never the password;
 * - AMBASSADOR_REQUIREPASS: the ambassador asks clients for its own password and answers exactly
 *   as a redis-server started with --requirepass does (compared byte for byte, pipelines too);
 *   HELLO 3 AUTH default <pass> authenticates and switches to RESP3;
 * - no secret ever appears in a log line, /metrics, /readyz, --help, a configuration error or
 *   any reply a client got.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyz, runCli, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { baseline } from '../support/metricsText.js';
import { freePort } from '../support/freePort.js';
import { Cleanup, run } from '../support/processes.js';
import { call, exchange as exchangeWith, openClient } from '../support/rawClient.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';

const UPSTREAM_PASS = 'UpStream-s3cret-7f3a';
const ACL_PASS = 'AclUser-s3cret-9b1c';
const WRONG_PASS = 'WrongPw-s3cret-2d4e';
const CLIENT_PASS = 'Client-s3cret-5e6f';
const URL_PASS = 'InUrl-s3cret-8a0b';
const SECRETS = [UPSTREAM_PASS, ACL_PASS, WRONG_PASS, CLIENT_PASS, URL_PASS];

const cleanup = new Cleanup();
const dir = cleanup.tempDir('amb-auth-');

let plainRedis: RedisServer; // no password: behind AMBASSADOR_REQUIREPASS
let passRedis: RedisServer; // --requirepass
let aclRedis: RedisServer; // ACL user "app", default user off
let oracle: RedisServer; // --requirepass CLIENT_PASS: what the ambassador must answer like

interface Amb {
  amb: AmbassadorProcess;
  port: number;
  /** stdout and stderr from the moment the fixture returned (the fixture keeps the JSON lines before). */
  raw: () => string;
}
const ambassadors: Amb[] = [];
/** Every byte any client got from an ambassador in this file, to search for secrets. */
const seen: string[] = [];

/** An ambassador of this file, remembered so that the last test can search its output, /metrics and /readyz for secrets. */
async function ambassador(upstreamUrl: string, env: Record<string, string>): Promise<Amb> {
  const { amb, port } = await ambassadorFor(cleanup, upstreamUrl, { env: { AMBASSADOR_HEALTH_INTERVAL_MS: '200', ...env } });
  const from = amb.output().length;
  const a = { amb, port, raw: () => amb.output().slice(from) };
  ambassadors.push(a);
  return a;
}

let withPass: Amb;
let withAcl: Amb;
let wrongPass: Amb;
let guarded: Amb;

beforeAll(async () => {
  [plainRedis, passRedis, aclRedis, oracle] = await Promise.all([
    startRedis(),
    startRedis(['--requirepass', UPSTREAM_PASS]),
    startRedis(['--user', 'app', 'on', `>${ACL_PASS}`, '~*', '&*', '+@all', '--user', 'default', 'off']),
    startRedis(['--requirepass', CLIENT_PASS]),
  ]);
  for (const r of [plainRedis, passRedis, aclRedis, oracle]) cleanup.track(r);
  const passFile = path.join(dir, 'acl-password');
  writeFileSync(passFile, `${ACL_PASS}\n`); // as `echo` and Docker secrets write it
  [withPass, withAcl, wrongPass, guarded] = await Promise.all([
    ambassador(passRedis.url, { AMBASSADOR_UPSTREAM_PASSWORD: UPSTREAM_PASS }),
    ambassador(aclRedis.url, { AMBASSADOR_UPSTREAM_USERNAME: 'app', AMBASSADOR_UPSTREAM_PASSWORD_FILE: passFile }),
    ambassador(passRedis.url, { AMBASSADOR_UPSTREAM_PASSWORD: WRONG_PASS }),
    ambassador(plainRedis.url, { AMBASSADOR_REQUIREPASS: CLIENT_PASS }),
  ]);
});
afterAll(() => cleanup.run());

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeoutMs: 15_000 });
  seen.push(r.stdout, r.stderr);
  return (r.stdout + r.stderr).trim();
}

/** One write on a new connection; the first `n` replies' bytes (or everything until close). */
async function exchange(port: number, data: Buffer | string, n: number | 'close'): Promise<string> {
  const text = (await exchangeWith(port, data, n, { quietMs: 30 })).text();
  if (port !== oracle.port) seen.push(text);
  return text;
}

describe('the ambassador authenticates upstream itself', () => {
  it('--requirepass upstream, AMBASSADOR_UPSTREAM_PASSWORD: redis-cli with no password works through it', async () => {
    expect(await redisCli(passRedis.port, 'GET', 'x')).toMatch(/NOAUTH/); // the upstream does need a password
    expect(await redisCli(withPass.port, 'SET', 'cred:k', 'v1')).toBe('OK');
    expect(await redisCli(withPass.port, 'GET', 'cred:k')).toBe('v1');
    expect(await redisCli(withPass.port, 'PING')).toBe('PONG');
    await waitUntil(async () => (await readyz(withPass.amb)).status === 200, { what: '/readyz 200' });
  });

  it('ACL user (default user off), AMBASSADOR_UPSTREAM_USERNAME + _PASSWORD_FILE: redis-cli works and runs as that user', async () => {
    expect(await redisCli(aclRedis.port, 'PING')).toMatch(/NOAUTH|WRONGPASS|disabled/);
    expect(await redisCli(withAcl.port, 'ACL', 'WHOAMI')).toBe('app');
    expect(await redisCli(withAcl.port, 'SET', 'cred:acl', 'v2')).toBe('OK');
    expect(await redisCli(withAcl.port, 'GET', 'cred:acl')).toBe('v2');
    await waitUntil(async () => (await readyz(withAcl.amb)).status === 200, { what: '/readyz 200' });
  });

  it('the client’s own AUTH is not needed, but a client that sends one still gets Redis’s answer', async () => {
    // Redis answers AUTH itself; the connection stays authenticated as the ambassador's user.
    const got = await exchange(withAcl.port, Buffer.concat([cmd('AUTH', 'app', ACL_PASS), cmd('ACL', 'WHOAMI')]), 2);
    expect(got).toBe('+OK\r\n$3\r\napp\r\n');
  });

  it('wrong upstream credentials: /readyz 503 with an error naming WRONGPASS, not the password; clients get an error', async () => {
    await waitUntil(async () => (await readyz(wrongPass.amb)).status === 503, { timeoutMs: 15_000, what: '/readyz 503' });
    const { text } = await readyz(wrongPass.amb);
    expect(text).toContain('WRONGPASS');
    expect(text).not.toContain(WRONG_PASS);
    const got = await exchange(wrongPass.port, cmd('GET', 'cred:k'), 1);
    expect(got).toMatch(/^-/);
  });
});

describe('AMBASSADOR_REQUIREPASS: answered as redis-server --requirepass answers', () => {
  beforeAll(async () => {
    expect(await call(plainRedis.port, 'SET', 'rp:k', 'value')).toBe('OK');
    const c = await openClient(cleanup, oracle.port);
    await c.write(Buffer.concat([cmd('AUTH', CLIENT_PASS), cmd('SET', 'rp:k', 'value')]));
    await c.waitForReplies(2);
    c.close();
  });

  const cases: [string, Buffer | string, number | 'close'][] = [
    ['GET before AUTH', cmd('GET', 'rp:k'), 1],
    ['PING before AUTH', cmd('PING'), 1],
    ['inline GET before AUTH', 'GET rp:k\r\n', 1],
    ['AUTH with a wrong password', cmd('AUTH', 'nope'), 1],
    ['AUTH default with a wrong password', cmd('AUTH', 'default', 'nope'), 1],
    ['AUTH with the right password for another user', cmd('AUTH', 'someone', CLIENT_PASS), 1],
    ['AUTH without a password', cmd('AUTH'), 1],
    ['HELLO 3 before AUTH', cmd('HELLO', '3'), 1],
    ['HELLO 3 AUTH default <wrong>', cmd('HELLO', '3', 'AUTH', 'default', 'nope'), 1],
    ['AUTH right, then GET', Buffer.concat([cmd('AUTH', CLIENT_PASS), cmd('GET', 'rp:k')]), 2],
    ['pipelined GET k; AUTH pass; GET k in one write', Buffer.concat([cmd('GET', 'rp:k'), cmd('AUTH', CLIENT_PASS), cmd('GET', 'rp:k')]), 3],
    ['wrong AUTH, then right AUTH, pipelined with GETs', Buffer.concat([cmd('AUTH', 'x'), cmd('GET', 'rp:k'), cmd('AUTH', 'default', CLIENT_PASS), cmd('GET', 'rp:k')]), 4],
    ['inline AUTH then GET', `AUTH ${CLIENT_PASS}\r\nGET rp:k\r\n`, 2],
    ['MULTI before AUTH', Buffer.concat([cmd('MULTI'), cmd('SET', 'rp:k', 'bad'), cmd('EXEC')]), 3],
    ['QUIT before AUTH', cmd('QUIT'), 'close'],
    ['AUTH, RESET, GET (RESET forgets the authentication)', Buffer.concat([cmd('AUTH', CLIENT_PASS), cmd('RESET'), cmd('GET', 'rp:k')]), 3],
  ];
  for (const [what, data, n] of cases) {
    it(what, async () => {
      const [direct, via] = await Promise.all([exchange(oracle.port, data, n), exchange(guarded.port, data, n)]);
      const norm = (t: string) => JSON.stringify(t);
      expect(norm(via)).toBe(norm(direct));
    });
  }

  it('nothing an unauthenticated client sent changed the data', async () => {
    expect(await call(plainRedis.port, 'GET', 'rp:k')).toBe('value');
  });

  it('HELLO 3 AUTH default <pass>: authenticated, and the connection speaks RESP3', async () => {
    expect(await call(plainRedis.port, 'HSET', 'rp:h', 'f', 'v')).toBe(1);
    const c = await openClient(cleanup, guarded.port);
    await c.write(Buffer.concat([cmd('HELLO', '3', 'AUTH', 'default', CLIENT_PASS), cmd('HGETALL', 'rp:h')]));
    const [hello] = await c.waitForReplies(2);
    seen.push(c.text());
    expect(hello!.type).toBe('map');
    expect((plain(hello!) as Record<string, unknown>).proto).toBe(3);
    expect(c.text()).toMatch(/%1\r\n\$1\r\nf\r\n\$1\r\nv\r\n$/);
  });

  it('refusals are counted as commands_rejected_total{reason="noauth"}, by command', async () => {
    const since = await baseline(() => guarded.amb.metrics());
    await exchange(guarded.port, Buffer.concat([cmd('GET', 'rp:k'), cmd('SET', 'rp:k', 'x'), cmd('AUTH', 'wrong'), cmd('AUTH', CLIENT_PASS), cmd('GET', 'rp:k')]), 5);
    expect(await since('redis_ambassador_commands_rejected_total', { reason: 'noauth', cmd: 'get' })).toBe(1);
    expect(await since('redis_ambassador_commands_rejected_total', { reason: 'noauth', cmd: 'set' })).toBe(1);
    expect(await since('redis_ambassador_commands_rejected_total', { reason: 'noauth', cmd: 'auth' })).toBe(1);
    expect(await since('redis_ambassador_commands_rejected_total', { reason: 'noauth' })).toBe(3);
    expect(await since('redis_ambassador_commands_total', { cmd: 'set' })).toBe(0);
    expect(await since('redis_ambassador_commands_total', { cmd: 'get' })).toBe(1);
  });

  it('redis-cli -a <pass> works through it; without -a it gets NOAUTH', async () => {
    expect(await redisCli(guarded.port, '--no-auth-warning', '-a', CLIENT_PASS, 'GET', 'rp:k')).toBe('value');
    expect(await redisCli(guarded.port, 'GET', 'rp:k')).toMatch(/NOAUTH/);
  });
});

describe('secrets never appear', () => {
  it('upstream URL with credentials in it (rediss://user:pass@host:port, as managed Redis hands them out): never echoed', async () => {
    // Either refused at start (exit 2, the value not echoed) or accepted; never shown anywhere.
    const port = await freePort();
    const url = `tcp://default:${URL_PASS}@127.0.0.1:${plainRedis.port}`;
    const r = await runCli([], { [`REDIS_PORT_${port}_TCP`]: url, AMBASSADOR_ADMIN_ADDR: 'off' }, 3000);
    const output = r.stdout + r.stderr;
    expect(output, 'the password written in the upstream URL was printed').not.toContain(URL_PASS);
    if (r.code !== 2) {
      // Started (killed after 3 s by runCli): its /readyz and /metrics must not carry it either.
      const a = await ambassador(url, {});
      await sleep(500);
      const texts = [await a.amb.metrics(), (await readyz(a.amb)).text, a.raw(), JSON.stringify(a.amb.logs())];
      for (const t of texts) expect(t).not.toContain(URL_PASS);
    }
  });

  it('--help, with every secret set in the environment', async () => {
    const r = await runCli(['--help'], {
      AMBASSADOR_UPSTREAM_PASSWORD: UPSTREAM_PASS,
      AMBASSADOR_REQUIREPASS: CLIENT_PASS,
      AMBASSADOR_UPSTREAM_USERNAME: 'app',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/REQUIREPASS/); // the option is documented …
    for (const s of SECRETS) expect(r.stdout + r.stderr).not.toContain(s); // … its value is not shown
  });

  it('configuration errors around secrets name the variables, never the values', async () => {
    const env = { REDIS_PORT_6390_TCP: 'tcp://127.0.0.1:1', AMBASSADOR_ADMIN_ADDR: 'off' };
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '\n');
    const runs = await Promise.all([
      runCli([], { ...env, AMBASSADOR_UPSTREAM_PASSWORD: UPSTREAM_PASS, AMBASSADOR_UPSTREAM_PASSWORD_FILE: path.join(dir, 'acl-password') }),
      runCli([], { ...env, AMBASSADOR_REQUIREPASS: CLIENT_PASS, AMBASSADOR_REQUIREPASS_FILE: empty }),
      runCli([], { ...env, AMBASSADOR_REQUIREPASS_FILE: empty }),
      runCli([], { ...env, AMBASSADOR_UPSTREAM_PASSWORD_FILE: path.join(dir, 'missing') }),
      runCli([], { ...env, AMBASSADOR_UPSTREAM_USERNAME: 'app' }),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/AMBASSADOR_(UPSTREAM_PASSWORD|REQUIREPASS|UPSTREAM_USERNAME)/);
      for (const s of SECRETS) expect(r.stderr + r.stdout).not.toContain(s);
    }
  });

  it('in no log line, /metrics, /readyz or reply of any ambassador of this file', async () => {
    expect(ambassadors.length).toBeGreaterThanOrEqual(4);
    expect(seen.length).toBeGreaterThan(10);
    for (const a of ambassadors) {
      const texts = { logs: JSON.stringify(a.amb.logs()) + a.raw(), metrics: await a.amb.metrics(), readyz: (await readyz(a.amb)).text };
      expect(texts.logs.length).toBeGreaterThan(0);
      for (const [where, text] of Object.entries(texts)) {
        for (const s of SECRETS) expect(text.includes(s), `${s} in ${where} of the ambassador on ${a.port}`).toBe(false);
      }
    }
    for (const s of SECRETS) expect(seen.some((t) => t.includes(s)), `${s} in a reply`).toBe(false);
  });
});
