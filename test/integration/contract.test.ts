/**
 * The socat ambassador's contract, through the real CLI (dist/cli.js): which environment
 * variables make listeners, which are ignored, the named configuration errors (exit code 2),
 * the --listen/--upstream flags, --help, --version, and IPv6 as well as IPv4.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, startAmbassador } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { freePort } from '../support/freePort.js';
import { Cleanup, ipv6LoopbackAvailable, startChild } from '../support/processes.js';
import { call, connectError, exchangeUntilClose, RawClient } from '../support/rawClient.js';
import { startRedis, waitForPort, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
const shared = new Cleanup();
let redisA: RedisServer;
let redisB: RedisServer;

beforeAll(async () => {
  [redisA, redisB] = await Promise.all([startRedis(), startRedis()]);
  shared.track(redisA);
  shared.track(redisB);
});
afterEach(() => cleanup.run());
afterAll(() => shared.run());

/** Sets a key through `port` and reports which of the two redis-servers got it. */
async function whereDoesItGo(port: number, key: string): Promise<'A' | 'B' | 'none'> {
  const value = `${key}-${Math.random()}`;
  expect(await call(port, 'SET', key, value)).toBe('OK');
  const [a, b] = await Promise.all([call(redisA.port, 'GET', key), call(redisB.port, 'GET', key)]);
  if (a === value && b !== value) return 'A';
  if (b === value && a !== value) return 'B';
  return 'none';
}

async function refused(port: number): Promise<boolean> {
  return (await connectError(port)) === 'ECONNREFUSED';
}

function listeningEvents(logs: Record<string, unknown>[]): Record<string, unknown>[] {
  return logs.filter((l) => l.event === 'listening');
}

describe('environment contract', () => {
  it('REDIS_PORT_<p>_TCP=tcp://127.0.0.1:<redis> listens on p and forwards there, named redis:<p>', async () => {
    const p = await freePort();
    const amb = cleanup.track(
      await startAmbassador({ env: { [`REDIS_PORT_${p}_TCP`]: redisA.url }, waitPorts: [p] }),
    );
    expect(await call(p, 'PING')).toBe('PONG');
    expect(await whereDoesItGo(p, 'contract:single')).toBe('A');
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `redis:${p}`, cmd: 'set' })).toBe(1);
    const listening = listeningEvents(amb.logs());
    expect(listening).toHaveLength(1);
    expect(listening[0]).toMatchObject({ port: p, upstream: redisA.url, source: `REDIS_PORT_${p}_TCP` });
  });

  it('two variables make two listeners, each to its own redis-server', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`REDIS_PORT_${p1}_TCP`]: redisA.url, [`CACHE_PORT_${p2}_TCP`]: redisB.url },
        waitPorts: [p1, p2],
      }),
    );
    expect(await whereDoesItGo(p1, 'contract:two:1')).toBe('A');
    expect(await whereDoesItGo(p2, 'contract:two:2')).toBe('B');
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `redis:${p1}`, cmd: 'set' })).toBe(1);
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `cache:${p2}`, cmd: 'set' })).toBe(1);
    expect(listeningEvents(amb.logs())).toHaveLength(2);
  });

  it('ignores _TCP_ADDR, _TCP_PORT, _TCP_PROTO, <NAME>_PORT and <NAME>_NAME', async () => {
    const [p, q] = [await freePort(), await freePort()];
    const amb = cleanup.track(
      await startAmbassador({
        env: {
          [`REDIS_PORT_${p}_TCP`]: redisA.url,
          // Everything Docker sets beside it; pointing at B so that using any of them shows.
          [`REDIS_PORT_${p}_TCP_ADDR`]: '127.0.0.1',
          [`REDIS_PORT_${p}_TCP_PORT`]: String(redisB.port),
          [`REDIS_PORT_${p}_TCP_PROTO`]: 'tcp',
          REDIS_PORT: `tcp://127.0.0.1:${redisB.port}`,
          REDIS_NAME: '/app/redis',
          // A port that only appears in ignored variables must get no listener.
          [`OTHER_PORT_${q}_TCP_ADDR`]: '127.0.0.1',
          [`OTHER_PORT_${q}_TCP_PORT`]: String(redisB.port),
          [`OTHER_PORT_${q}_TCP_PROTO`]: 'tcp',
          OTHER_PORT: `tcp://127.0.0.1:${redisB.port}`,
          OTHER_NAME: '/app/other',
        },
        waitPorts: [p],
      }),
    );
    expect(await whereDoesItGo(p, 'contract:ignored')).toBe('A');
    expect(await refused(q)).toBe(true);
    expect(listeningEvents(amb.logs())).toHaveLength(1);
  });

  it('only ignored variables and nothing else: exit 2, "nothing to listen on"', async () => {
    const p = await freePort();
    const r = await runCli([], {
      [`REDIS_PORT_${p}_TCP_ADDR`]: '127.0.0.1',
      [`REDIS_PORT_${p}_TCP_PORT`]: String(redisA.port),
      [`REDIS_PORT_${p}_TCP_PROTO`]: 'tcp',
      REDIS_PORT: redisA.url,
      REDIS_NAME: '/app/redis',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nothing to listen on/);
    expect(r.stderr).toMatch(/REDIS_PORT_6379_TCP=tcp:\/\//);
  });

  it('X_ENV_REDIS_PORT_<p>_TCP is ignored, and logged as JSON, when a direct variable names the same port', async () => {
    const p = await freePort();
    const copied = `X_ENV_REDIS_PORT_${p}_TCP`;
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`REDIS_PORT_${p}_TCP`]: redisA.url, [copied]: redisB.url },
        waitPorts: [p],
      }),
    );
    expect(await whereDoesItGo(p, 'contract:env-copy')).toBe('A');
    const notes = amb.logs().filter((l) => JSON.stringify(l).includes(copied));
    expect(notes.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(notes[0])).toMatch(/ignored/);
    expect(notes[0]).toHaveProperty('level');
    expect(notes[0]).toHaveProperty('time');
  });

  it('the same port twice with the same target is fine (not an error)', async () => {
    const p = await freePort();
    cleanup.track(
      await startAmbassador({ env: { [`REDIS_PORT_${p}_TCP`]: redisA.url, [`ALIAS_PORT_${p}_TCP`]: redisA.url }, waitPorts: [p] }),
    );
    expect(await whereDoesItGo(p, 'contract:same-twice')).toBe('A');
  });

  it('an _ENV_ variable alone (no direct variable for its port) is still a listener', async () => {
    const p = await freePort();
    cleanup.track(await startAmbassador({ env: { [`WEB_ENV_REDIS_PORT_${p}_TCP`]: redisB.url }, waitPorts: [p] }));
    expect(await whereDoesItGo(p, 'contract:env-alone')).toBe('B');
  });
});

// These only run the CLI to its exit; they run concurrently (a node start is slow on a busy machine).
describe.concurrent('configuration errors: exit code 2, the variable named, an example shown', () => {
  const EXAMPLE = /tcp:\/\/[0-9a-zA-Z.[\]:-]+:[0-9]+/;

  it('the same port with two targets', async () => {
    const p = await freePort();
    const r = await runCli([], {
      [`REDIS_PORT_${p}_TCP`]: `tcp://127.0.0.1:${redisA.port}`,
      [`CACHE_PORT_${p}_TCP`]: `tcp://127.0.0.1:${redisB.port}`,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${p}_TCP`);
    expect(r.stderr).toContain(`CACHE_PORT_${p}_TCP`);
    expect(r.stderr).toMatch(EXAMPLE);
    expect(await refused(p)).toBe(true);
  });

  const cases: [string, (p: number) => Record<string, string>, string][] = [
    ['listen port 0', () => ({ REDIS_PORT_0_TCP: 'tcp://127.0.0.1:6379' }), 'REDIS_PORT_0_TCP'],
    ['listen port 70000', () => ({ REDIS_PORT_70000_TCP: 'tcp://127.0.0.1:6379' }), 'REDIS_PORT_70000_TCP'],
    ['upstream port 0', (p) => ({ [`REDIS_PORT_${p}_TCP`]: 'tcp://127.0.0.1:0' }), 'REDIS_PORT_<p>_TCP'],
    ['upstream port 70000', (p) => ({ [`REDIS_PORT_${p}_TCP`]: 'tcp://127.0.0.1:70000' }), 'REDIS_PORT_<p>_TCP'],
    ['empty host tcp://:6379', (p) => ({ [`REDIS_PORT_${p}_TCP`]: 'tcp://:6379' }), 'REDIS_PORT_<p>_TCP'],
    ['malformed tcp://redis', (p) => ({ [`REDIS_PORT_${p}_TCP`]: 'tcp://redis' }), 'REDIS_PORT_<p>_TCP'],
    ['no scheme redis:6379', (p) => ({ [`REDIS_PORT_${p}_TCP`]: 'redis:6379' }), 'REDIS_PORT_<p>_TCP'],
  ];
  for (const [what, env, name] of cases) {
    it(what, async () => {
      const p = await freePort();
      const r = await runCli([], env(p));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(name.replace('<p>', String(p)));
      expect(r.stderr).toMatch(EXAMPLE);
      expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      expect(await refused(p)).toBe(true);
    });
  }

  it('AMBASSADOR_ADMIN_ADDR on a listener port', async () => {
    const p = await freePort();
    const r = await runCli([], { [`REDIS_PORT_${p}_TCP`]: redisA.url, AMBASSADOR_ADMIN_ADDR: `127.0.0.1:${p}` });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('AMBASSADOR_ADMIN_ADDR');
    expect(r.stderr).toContain(`REDIS_PORT_${p}_TCP`);
  });

  it('a setting that is not a number (AMBASSADOR_CONNECT_WINDOW_MS=soon)', async () => {
    const p = await freePort();
    const r = await runCli([], { [`REDIS_PORT_${p}_TCP`]: redisA.url, AMBASSADOR_CONNECT_WINDOW_MS: 'soon' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('AMBASSADOR_CONNECT_WINDOW_MS');
  });

  it('no listener variable at all', async () => {
    const r = await runCli([], { HOME: '/root', REDIS_NAME: '/x/redis' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/REDIS_PORT_6379_TCP=tcp:\/\//);
    expect(r.stderr).toMatch(/--listen/);
  });

  const flagCases: [string, string[]][] = [
    ['--listen without --upstream', ['--listen', '6390']],
    ['--upstream without --listen', ['--upstream', 'tcp://127.0.0.1:6379']],
    ['--listen 0', ['--listen', '0', '--upstream', 'tcp://127.0.0.1:6379']],
    ['--upstream with an empty host', ['--listen', '6390', '--upstream', 'tcp://:6379']],
    ['an unknown flag', ['--frobnicate']],
  ];
  for (const [what, args] of flagCases) {
    it(`flags: ${what}`, async () => {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.length).toBeGreaterThan(0);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});

describe('--listen and --upstream flags', () => {
  it('--listen P --upstream tcp://... (repeatable, NAME:PORT) forwards, and the environment is not used', async () => {
    const [p1, p2, q] = [await freePort(), await freePort(), await freePort()];
    const amb = cleanup.track(
      await startAmbassador({
        args: ['--listen', String(p1), '--upstream', redisA.url, '--listen', `cache:${p2}`, '--upstream', redisB.url],
        env: { [`REDIS_PORT_${q}_TCP`]: redisA.url },
        waitPorts: [p1, p2],
      }),
    );
    expect(await whereDoesItGo(p1, 'contract:flag:1')).toBe('A');
    expect(await whereDoesItGo(p2, 'contract:flag:2')).toBe('B');
    expect(await refused(q)).toBe(true);
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `redis:${p1}`, cmd: 'set' })).toBe(1);
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `cache:${p2}`, cmd: 'set' })).toBe(1);
  });

});

describe.concurrent('--help and --version', () => {
  it('--help teaches the contract and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/_PORT_<p>_TCP=tcp:\/\/<host>:<port>/);
    expect(r.stdout).toMatch(/_TCP_ADDR/);
    expect(r.stdout).toMatch(/_ENV_/);
    expect(r.stdout).toMatch(/--listen/);
    expect(r.stdout).toMatch(/--upstream/);
    expect(r.stdout).toMatch(/exit code 2/i);
  });

  it('--version prints the package.json version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`redis-ambassador ${pkg.version}`);
  });
});

describe('IPv4 and IPv6', () => {
  it('a listener answers on [::1] as well as 127.0.0.1', async (ctx) => {
    if (!(await ipv6LoopbackAvailable())) ctx.skip();
    const { port: p } = await ambassadorFor(cleanup, redisA.url);
    for (const host of ['127.0.0.1', '::1']) {
      const c = await RawClient.connect(p, host);
      try {
        await c.write(cmd('ECHO', `via ${host}`));
        expect(plain((await c.waitForReplies(1))[0]!)).toBe(`via ${host}`);
      } finally {
        c.close();
      }
    }
  });
});

describe('cannot listen', () => {
  it('a listener port already taken: exit code 1, and the port named', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', () => r()));
    cleanup.add(blocker, (b) => new Promise((r) => b.close(() => r(undefined))));
    const p = (blocker.address() as net.AddressInfo).port;
    const r = await runCli([], { [`REDIS_PORT_${p}_TCP`]: redisA.url, AMBASSADOR_ADMIN_ADDR: 'off' });
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toContain(String(p));
  });
});

describe('upstream addresses', () => {
  it('an upstream written as tcp://[::1]:<port> or tcp://localhost:<port> is reached', async (ctx) => {
    if (!(await ipv6LoopbackAvailable())) ctx.skip();
    const r6 = cleanup.track(await startRedis(['--bind', '127.0.0.1', '::1']));
    for (const host of ['[::1]', 'localhost']) {
      const { amb, port: p } = await ambassadorFor(cleanup, `tcp://${host}:${r6.port}`);
      expect(await call(p, 'SET', `contract:host:${host}`, 'x')).toBe('OK');
      expect(await call(r6.port, 'GET', `contract:host:${host}`)).toBe('x');
      expect(listeningEvents(amb.logs())[0]).toMatchObject({ port: p });
    }
  });
});

describe('logs', () => {
  it('every stdout line is one JSON object with time, level and event; AMBASSADOR_LOG_LEVEL=warn drops info lines', async () => {
    for (const level of ['info', 'warn']) {
      const p = await freePort();
      const admin = await freePort();
      // The CLI itself, not startAmbassador: every stdout line is checked, as it came.
      const child = cleanup.track(
        startChild(process.execPath, [CLI], {
          PATH: process.env.PATH ?? '',
          [`REDIS_PORT_${p}_TCP`]: redisA.url,
          [`X_ENV_REDIS_PORT_${p}_TCP`]: redisB.url,
          AMBASSADOR_ADMIN_ADDR: `127.0.0.1:${admin}`,
          AMBASSADOR_LOG_LEVEL: level,
        }),
      );
      await waitForPort(p, 10_000);
      expect(await call(p, 'PING')).toBe('PONG');
      await exchangeUntilClose(p, '*1\r\n+x\r\n'); // a client protocol error: a warn line
      await waitUntil(() => /protocol error/.test(child.stdout()), { what: () => `the protocol error logged; got ${child.stdout()}` });
      const lines = child.stdout().split('\n').filter((l) => l !== '');
      for (const line of lines) {
        const rec = JSON.parse(line) as Record<string, unknown>;
        expect(typeof rec.time).toBe('string');
        expect(['debug', 'info', 'warn', 'error']).toContain(rec.level);
        expect(typeof rec.event).toBe('string');
      }
      const levels = new Set(lines.map((l) => (JSON.parse(l) as { level: string }).level));
      if (level === 'warn') expect([...levels].filter((l) => l === 'info' || l === 'debug')).toEqual([]);
      else expect(levels.has('info')).toBe(true);
      await child.stop();
    }
  });
});
