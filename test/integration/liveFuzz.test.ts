/**
 * Live fuzz: 20 clients throw random and mutated frames at running ambassadors (one plain, one
 * with a command policy so the gate's code runs too) in front of a real redis-server, for a
 * bounded number of frames and time, while one well-behaved client per ambassador keeps doing
 * SET/GET and checking its own results. Prints
 *   FUZZ frames=<n> clients=<n> crashes=<n> seed=<s>
 * (crashes = ambassador process exits). Then: the processes are alive, /healthz answers, the good
 * clients saw no wrong result, and once everyone has left no session or file descriptor is left
 * behind. The redis-server has the commands that could hurt the good clients renamed away
 * (FLUSHALL, CONFIG, CLIENT, REPLICAOF, …), so whatever a mutation produces only touches fz: keys.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthz, isReady, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { Cleanup, fdCount, run } from '../support/processes.js';
import { SeededRandom as Rng } from '../support/pseudoRandom.js';
import { call, openClient, RawClient } from '../support/rawClient.js';
import { waitBlockedClients } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';

const FUZZ_CLIENTS = 20;
const FRAME_BUDGET = 12_000;
const TIME_BUDGET_MS = 12_000;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

const DANGEROUS = [
  'FLUSHALL', 'FLUSHDB', 'SWAPDB', 'SHUTDOWN', 'DEBUG', 'CONFIG', 'CLIENT', 'REPLICAOF', 'SLAVEOF', 'FAILOVER', 'ACL',
  'MODULE', 'SAVE', 'BGSAVE', 'BGREWRITEAOF', 'MIGRATE', 'MOVE', 'SYNC', 'PSYNC', 'CLUSTER', 'RESTORE', 'SCRIPT', 'FUNCTION',
];

const cleanup = new Cleanup();
let redis: RedisServer;
interface Target {
  name: string;
  amb: AmbassadorProcess;
  port: number;
  crashes: number;
  fdBaseline: number;
}
const targets: Target[] = [];

beforeAll(async () => {
  redis = cleanup.track(await startRedis(DANGEROUS.flatMap((c) => ['--rename-command', c, ''])));
  const make = async (name: string, env: Record<string, string>): Promise<Target> => {
    const { amb, port } = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_LOG_LEVEL: 'warn', ...env } });
    const t: Target = { name, amb, port, crashes: 0, fdBaseline: 0 };
    amb.process.once('exit', () => t.crashes++);
    return t;
  };
  targets.push(...(await Promise.all([make('plain', {}), make('policy', { AMBASSADOR_DENY_COMMANDS: DANGEROUS.join(',') })])));
  // Baseline once the health check connection is up.
  for (const t of targets) {
    await waitUntil(() => isReady(t.amb), { what: 'ready' });
    t.fdBaseline = fdCount(t.amb.process.pid!);
  }
});
afterAll(() => cleanup.run());

// The seeded PRNG (SeededRandom) lets a failing run be repeated with FUZZ_SEED.

function validCommand(r: Rng): Buffer {
  const k = `fz:${r.int(50)}`;
  const v = r.int(10) === 0 ? r.bytes(r.int(70_000)) : r.bytes(r.int(40));
  const choices: (string | Buffer)[][] = [
    ['SET', k, v], ['GET', k], ['PING'], ['ECHO', v], ['INCR', `fz:n${r.int(5)}`], ['LPUSH', `fz:l${r.int(5)}`, v],
    ['LRANGE', `fz:l${r.int(5)}`, '0', '5'], ['HSET', `fz:h${r.int(5)}`, 'f', v], ['HGETALL', `fz:h${r.int(5)}`], ['MGET', k, `fz:${r.int(50)}`],
    ['DEL', k], ['EXISTS', k], ['SUBSCRIBE', `fz:ch${r.int(3)}`], ['PSUBSCRIBE', 'fz:*'], ['UNSUBSCRIBE'], ['PUBLISH', `fz:ch${r.int(3)}`, v],
    ['MULTI'], ['EXEC'], ['DISCARD'], ['WATCH', k], ['HELLO', '3'], ['HELLO', '2'], ['SELECT', String(r.int(4))], ['BLPOP', `fz:l${r.int(5)}`, '0.05'],
    ['QUIT'], ['RESET'], ['XADD', 'fz:s', '*', 'f', v], ['ZADD', 'fz:z', String(r.int(100)), v], ['TYPE', k], ['SCAN', '0'], ['EVAL', 'return 1', '0'],
    ['COMMAND', 'COUNT'], ['FLUSHALL'], ['CONFIG', 'GET', 'maxmemory'], ['CLIENT', 'LIST'], ['AUTH', 'x'], ['MONITOR'], ['OBJECT', 'ENCODING', k],
  ];
  return cmd(...r.pick(choices));
}

function inlineCommand(r: Rng): Buffer {
  return Buffer.from(
    r.pick(['PING\r\n', `SET fz:i "a b" \r\n`, 'GET fz:i\n', 'ECHO "unbalanced\r\n', '\r\n', `ECHO ${'x'.repeat(r.int(2000))}\r\n`, "SET fz:q 'x\\'y'\r\n", 'MULTI\r\nEXEC\r\n']),
    'latin1',
  );
}

function mutate(r: Rng, frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  switch (r.int(7)) {
    case 0: // byte flips
      for (let i = 0, n = 1 + r.int(4); i < n && b.length > 0; i++) b[r.int(b.length)] = r.int(256);
      return b;
    case 1: // truncation
      return b.subarray(0, r.int(b.length + 1));
    case 2: // random bytes inserted
      {
        const at = r.int(b.length + 1);
        return Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(8)), b.subarray(at)]);
      }
    case 3: // a length header rewritten
      return Buffer.from(
        b.toString('latin1').replace(/([*$])(\d+)/, (_m, t: string) => t + r.pick(['-1', '-7', '0', '999999999', '2147483648', '9999999999999', 'x', '', '1', '04'])),
        'latin1',
      );
    case 4: // CR LF damaged
      return Buffer.from(b.toString('latin1').replace('\r\n', r.pick(['\n', '\r', '\r\r\n', '\n\r', ''])), 'latin1');
    case 5: // duplicated piece
      {
        const at = r.int(b.length + 1);
        return Buffer.concat([b.subarray(0, at), b.subarray(0, at), b.subarray(at)]);
      }
    default: // RESP3 types where a request belongs
      return Buffer.from(r.pick(['%1\r\n+a\r\n:1\r\n', '_\r\n', '|1\r\n+a\r\n+b\r\n*1\r\n$4\r\nPING\r\n', '>1\r\n$4\r\nPING\r\n', '#t\r\n', ',1.5\r\n', '*1\r\n%0\r\n', '*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nx\r\n']), 'latin1');
  }
}

function fuzzFrame(r: Rng): Buffer {
  switch (r.int(6)) {
    case 0:
      return r.bytes(1 + r.int(200));
    case 1:
      return inlineCommand(r);
    case 2:
      return validCommand(r);
    default:
      return mutate(r, r.int(4) === 0 ? inlineCommand(r) : validCommand(r));
  }
}

// --- the clients ---------------------------------------------------------------------------------

interface Stats {
  frames: number;
  connections: number;
}

/** Connects, throws a few frames in pieces, then waits a little, hangs up, half-closes or destroys at once. */
async function fuzzClient(port: number, r: Rng, stats: Stats, deadline: number): Promise<void> {
  while (Date.now() < deadline && stats.frames < FRAME_BUDGET) {
    const frames = Array.from({ length: 1 + r.int(6) }, () => fuzzFrame(r));
    stats.frames += frames.length;
    stats.connections++;
    const data = Buffer.concat(frames);
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        s.destroy();
        resolve();
      };
      const timer = setTimeout(finish, 150);
      s.on('error', finish);
      s.on('close', finish);
      s.on('data', () => {
        if (r.int(2) === 0) finish();
      });
      s.once('connect', async () => {
        const cuts = [0, ...Array.from({ length: r.int(3) }, () => r.int(data.length + 1)).sort((a, b) => a - b), data.length];
        for (let i = 0; i + 1 < cuts.length && !done; i++) {
          s.write(data.subarray(cuts[i]!, cuts[i + 1]!));
          if (r.int(2) === 0) await new Promise((x) => setImmediate(x));
        }
        const how = r.int(4);
        if (how === 0) finish(); // gone mid-conversation, maybe mid-frame
        else if (how === 1) s.end(); // half-close, wait for the close
      });
    });
  }
}

interface GoodStats {
  ops: number;
  wrong: string[];
}

/** SET/GET (single and pipelined) on its own keys, every reply checked; reconnects if cut off (which counts as wrong). */
async function goodClient(port: number, tag: string, stop: () => boolean, stats: GoodStats): Promise<void> {
  let n = 0;
  while (!stop()) {
    const c = await RawClient.connect(port);
    while (!stop() && !c.closed) {
      const batch = 1 + (n % 10);
      const expected: unknown[] = [];
      const out: Buffer[] = [];
      for (let i = 0; i < batch; i++, n++) {
        const key = `good:${tag}:${n % 200}`;
        const value = `${tag}-${n}-${Math.random().toString(36).slice(2)}`;
        out.push(cmd('SET', key, value), cmd('GET', key));
        expected.push('OK', value);
      }
      c.frames.length = 0;
      void c.write(Buffer.concat(out));
      try {
        await waitUntil(() => c.closed || c.frames.length >= expected.length, { timeoutMs: 10_000, intervalMs: 2 });
      } catch {
        stats.wrong.push(`no reply within 10 s (${tag})`);
        break;
      }
      if (c.closed) {
        stats.wrong.push(`connection closed by the ambassador (${tag})`);
        break;
      }
      const got = c.frames.map((f) => plain(f.r));
      if (JSON.stringify(got) !== JSON.stringify(expected)) stats.wrong.push(`${tag}: expected ${JSON.stringify(expected).slice(0, 200)} got ${JSON.stringify(got).slice(0, 200)}`);
      stats.ops += expected.length;
    }
    c.close();
  }
}

describe('live fuzz', () => {
  it(`${FUZZ_CLIENTS} clients throw random and mutated frames; well-behaved clients see only right answers; nothing crashes`, async () => {
    const stats: Stats = { frames: 0, connections: 0 };
    const good: GoodStats = { ops: 0, wrong: [] };
    const deadline = Date.now() + TIME_BUDGET_MS;
    let fuzzing = true;
    let healthFailures = 0;
    const goods = targets.map((t) => goodClient(t.port, t.name, () => !fuzzing, good));
    const health = (async () => {
      while (fuzzing) {
        for (const t of targets) {
          const ok = (await healthz(t.amb)) === 200;
          if (!ok) healthFailures++;
        }
        await sleep(200);
      }
    })();
    const master = new Rng(SEED);
    await Promise.all(
      Array.from({ length: FUZZ_CLIENTS }, (_, i) => fuzzClient(targets[i % targets.length]!.port, new Rng(master.int(2 ** 31)), stats, deadline)),
    );
    fuzzing = false;
    await Promise.all([...goods, health]);
    const crashes = targets.reduce((n, t) => n + t.crashes, 0);
    console.log(`FUZZ frames=${stats.frames} clients=${FUZZ_CLIENTS} crashes=${crashes} seed=${SEED} connections=${stats.connections} good_ops=${good.ops} good_wrong=${good.wrong.length}`);
    if (good.wrong.length > 0) console.log(good.wrong.slice(0, 5).join('\n'));

    expect(crashes).toBe(0);
    expect(stats.frames).toBeGreaterThan(1000);
    expect(good.ops).toBeGreaterThan(100);
    expect(good.wrong).toEqual([]);
    expect(healthFailures).toBe(0);
    for (const t of targets) {
      expect(t.amb.process.exitCode, t.name).toBeNull();
      expect(await healthz(t.amb)).toBe(200);
      // The fuzz reached the scanners: bad input was refused somewhere.
      expect(await t.amb.metric('redis_ambassador_protocol_errors_total', { side: 'client' })).toBeGreaterThan(0);
    }
    expect(await call(redis.port, 'PING')).toBe('PONG');
  });

  it('afterwards: no session is left and the file descriptors are back to the baseline', async () => {
    for (const t of targets) {
      let sessions = -1;
      await waitUntil(
        async () => {
          sessions = await t.amb.metric('redis_ambassador_client_connections');
          return sessions === 0;
        },
        { timeoutMs: 10_000, what: () => `no sessions on ${t.name}; ${sessions} left (fds ${fdCount(t.amb.process.pid!)}, baseline ${t.fdBaseline})` },
      ).catch(async (e: Error) => {
        // The ambassador's side of its client connections, by TCP state, for the failure message.
        const ss = await run('ss', ['-tanH']);
        const states: Record<string, number> = {};
        for (const l of ss.stdout.split('\n')) {
          const [state, , , local] = l.trim().split(/\s+/);
          if (local?.endsWith(`:${t.port}`) && state !== 'LISTEN') states[state!] = (states[state!] ?? 0) + 1;
        }
        console.log(`${t.name}: its side of client connections by TCP state: ${JSON.stringify(states)}`);
        throw e;
      });
      const pid = t.amb.process.pid!;
      let fds = fdCount(pid);
      await waitUntil(
        () => {
          fds = fdCount(pid);
          return fds <= t.fdBaseline + 3;
        },
        { timeoutMs: 15_000, what: () => `fds of ${t.name} back to ${t.fdBaseline} (+3), now ${fds}` },
      );
      console.log(`FUZZ ${t.name}: fds baseline=${t.fdBaseline} after=${fds}`);
    }
  });
});

describe('what this fuzz found, pinned down', () => {
  /** Everything a connection receives until it is closed or `ms` passed, and whether it was closed. */
  async function collect(port: number, data: Buffer, ms: number): Promise<{ text: string; closed: boolean }> {
    const c = await openClient(cleanup, port);
    await c.write(data).catch(() => {});
    await waitUntil(() => c.closed, { timeoutMs: ms }).catch(() => {});
    c.close();
    return { text: c.text(), closed: c.closed };
  }

  it('an inline line with a NUL byte: redis-server never sees its end (it looks for the newline with strchr), so 64 KB later it is a too-big inline request; the ambassador must agree', async () => {
    const data = Buffer.from(`abc\0def\r\n${'PING\r\n'.repeat(12_000)}`, 'latin1');
    const [direct, via] = await Promise.all([collect(redis.port, data, 3000), collect(targets[0]!.port, data, 3000)]);
    expect(direct).toEqual({ text: '-ERR Protocol error: too big inline request\r\n', closed: true });
    expect(JSON.stringify(via.text.slice(0, 300))).toBe(JSON.stringify(direct.text));
    expect(via.closed).toBe(true);
  });

  it('a client that hangs up after a protocol error while an earlier command of its own is still blocked: its session ends (no CLOSE-WAIT left behind)', async () => {
    // A fresh ambassador, so that nothing the fuzz left behind counts.
    const t = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_LOG_LEVEL: 'warn' } });
    await waitUntil(async () => (await t.amb.metric('redis_ambassador_client_connections')) === 0, { what: 'the port probe gone' });
    const before = 0;
    const c = await openClient(cleanup, t.port);
    await c.write(Buffer.concat([cmd('BLPOP', 'fz:never', '0'), Buffer.from('*1\r\n$-5\r\n')]));
    await waitBlockedClients(redis.port, 1);
    c.close();
    // redis-server itself notices such a client leaving at once (it keeps reading while a client is blocked).
    await waitUntil(async () => (await t.amb.metric('redis_ambassador_client_connections')) === before, {
      timeoutMs: 5000,
      what: 'the session of the client that left',
    });
    await waitBlockedClients(redis.port, 0);
  });
});
