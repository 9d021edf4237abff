/**
 * Differential transparency: every scripted session in differentialSessions.ts runs once directly
 * against redis-server and then through the ambassador, and each connection must receive the
 * same bytes in every run, apart from the fields listed in differentialExceptions.ts. Each session
 * runs through the ambassador four times: through one in the default mode (a dedicated upstream
 * connection per client) and through one with AMBASSADOR_UPSTREAM_MODE=shared (clients' commands
 * pipelined on one shared upstream connection until they pin themselves to one of their own),
 * each with every send as one write, and with every send cut into pieces of 1, 2, 3, 7, 13, …
 * bytes (the ambassador must reassemble; redis-server sees the same commands).
 *
 * One redis-server serves both runs, reset between them, rather than two identically started
 * ones: a server seeds its hash function at random when it starts, so two servers answer
 * SMEMBERS, HGETALL, SCAN, PUBSUB CHANNELS or CONFIG GET * on a hash table in different orders,
 * while one server fed the same commands twice answers them in the same order. The reset
 * (reset() below) waits for the last run's connections to be gone, puts back every CONFIG
 * parameter and ACL user that differs from the start, and flushes data, scripts, functions, the
 * slow log, the latency monitor and the stats. The two ambassadors in front stay up for all runs
 * (the shared one's upstream connection with them); their health checks are slowed to once in
 * ten minutes so that their PINGs never show in a MONITOR.
 *
 * The server is started with what makes its answers a function of the commands alone:
 * `activerehashing no` (otherwise the keyspace's rehashing advances on a timer, and a SCAN
 * cursor's batch depends on how far it got), `slowlog-log-slower-than -1` until a session asks
 * for the slow log (otherwise whether a 5 MB SET took 10 ms decides what gets logged), and
 * `enable-debug-command yes` for DEBUG SLEEP and DEBUG PROTOCOL. Before the first session the
 * harness also looks every command and config name up until COMMAND and CONFIG GET * stop
 * changing order (settleTables below).
 *
 * Writing a session: DIFFERENTIAL_DUMP_DIR=/some/dir writes each direct run's streams there (one
 * file per session and connection), to see what Redis really sends before choosing the
 * session's `shows`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ambassadorFor, startStack, type Proxy } from '../support/ambassadorPresets.js';
import { expectSameBytes } from '../support/byteDiff.js';
import { Cleanup } from '../support/processes.js';
import { openClient, type RawClient } from '../support/rawClient.js';
import { info, waitBlockedClients } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { plain } from '../support/resp.js';
import { play, type Recording } from '../support/sessionScript.js';
import { waitUntil } from '../support/wait.js';
import { normalize } from './differentialExceptions.js';
import { SESSIONS, type Session } from './differentialSessions.js';

/** AMBASSADOR_UPSTREAM_MODE of the ambassador a run goes through. */
type Mode = 'dedicated' | 'shared';

const SERVER_ARGS = ['--enable-debug-command', 'yes', '--activerehashing', 'no', '--slowlog-log-slower-than', '-1'];
const PIECES = [1, 2, 3, 7, 13, 64, 1500, 5, 65536, 11];
const STEP_TIMEOUT_MS = 8000;

const cleanup = new Cleanup();
let redis: RedisServer;
/** The ambassador in each upstream mode, both in front of `redis`. */
const through = {} as Record<Mode, Proxy>;
/** The harness's own connection to redis-server: resets and blocked-client polls, never a session's traffic. */
let control: RawClient;
let startConfig: Map<string, string>;
let startAcl: string[];
/** Connections the server has between plays: control, each ambassador's health check, the shared connection. */
let idleClients: number;

async function ask(...args: string[]): Promise<unknown> {
  const reply = plain(await control.call(args, 10_000));
  if (reply !== null && typeof reply === 'object' && 'error' in reply) throw new Error(`${args.join(' ')}: ${String((reply as { error: string }).error)}`);
  return reply;
}

/** A number INFO reports, asked on the control connection. */
async function infoNumber(section: string, field: string): Promise<number> {
  const value = (await info(control, section))[field];
  if (value === undefined) throw new Error(`INFO ${section} has no ${field}`);
  return Number(value);
}

async function configMap(): Promise<Map<string, string>> {
  const flat = (await ask('CONFIG', 'GET', '*')) as string[];
  const m = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!);
  return m;
}

beforeAll(async () => {
  redis = cleanup.track(await startRedis(SERVER_ARGS));
  const slowHealth = { AMBASSADOR_HEALTH_INTERVAL_MS: '600000' };
  through.dedicated = await startStack(cleanup, { redis, env: slowHealth });
  through.shared = await ambassadorFor(cleanup, redis.url, { env: { ...slowHealth, AMBASSADOR_UPSTREAM_MODE: 'shared' } });
  control = await openClient(cleanup, redis.port);
  await settleTables();
  startConfig = await configMap();
  startAcl = (await ask('ACL', 'LIST')) as string[];
  // The health checks and the shared connection connect when the ambassadors start; wait until they have, so the count is stable.
  idleClients = 4;
  await waitUntil(async () => (await infoNumber('clients', 'connected_clients')) === idleClients, {
    what: 'the control connection, two health checks and the shared connection',
  });
});
afterAll(() => cleanup.run());

/**
 * A fresh server's command table (and each command's subcommand table) and its config table may
 * still be mid-rehash, and every lookup moves a rehash one bucket on: COMMAND, COMMAND DOCS,
 * COMMAND LIST and CONFIG GET * would then answer in an order that depends on how many lookups
 * the server has done. Looking every name up (COMMAND INFO, CONFIG GET by name) until those
 * answers stop changing finishes the rehashes before the first session.
 */
async function settleTables(): Promise<void> {
  const snapshot = async () => JSON.stringify([await ask('COMMAND'), await ask('COMMAND', 'LIST'), await ask('CONFIG', 'GET', '*')]);
  const commands = (await ask('COMMAND', 'LIST')) as string[];
  let last = '';
  for (let round = 0; round < 10; round++) {
    await ask('COMMAND', 'INFO', ...commands);
    for (const name of (await configMap()).keys()) await ask('CONFIG', 'GET', name);
    const now = await snapshot();
    if (now === last) return;
    last = now;
  }
  throw new Error('COMMAND and CONFIG GET * kept changing order after 10 rounds of lookups');
}

/** Puts the server back as it was at start, so that the next play meets the same server. */
async function reset(): Promise<void> {
  // MONITOR, subscriptions, tracking and blocked commands end with their connections.
  await waitUntil(async () => (await infoNumber('clients', 'connected_clients')) === idleClients, {
    intervalMs: 2,
    what: 'the last play’s connections to be gone',
  });
  for (const [name, value] of await configMap()) {
    if (startConfig.get(name) !== value) await ask('CONFIG', 'SET', name, startConfig.get(name)!);
  }
  for (const user of (await ask('ACL', 'USERS')) as string[]) if (user !== 'default') await ask('ACL', 'DELUSER', user);
  const defaultRule = startAcl.find((l) => l.startsWith('user default '))!;
  if (!((await ask('ACL', 'LIST')) as string[]).includes(defaultRule)) await ask('ACL', 'SETUSER', 'default', 'reset', ...defaultRule.split(' ').slice(2));
  for (const c of [['FLUSHALL', 'SYNC'], ['SCRIPT', 'FLUSH', 'SYNC'], ['FUNCTION', 'FLUSH', 'SYNC'], ['SLOWLOG', 'RESET'], ['LATENCY', 'RESET'], ['ACL', 'LOG', 'RESET'], ['CONFIG', 'RESETSTAT']]) await ask(...c);
  expect(await ask('ACL', 'LIST')).toEqual(startAcl);
}

const blockedClients = (n: number): Promise<void> => waitBlockedClients(control, n, { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 2 });

async function record(s: Session, port: number, pieces: readonly number[] | null): Promise<Recording> {
  await reset();
  return play(s, { port, pieces, blockedClients, timeoutMs: s.timeoutMs ?? STEP_TIMEOUT_MS });
}

/** The direct run, recorded once per session and compared with each run through the ambassador. */
const directRuns = new Map<string, Promise<Recording>>();
function direct(s: Session): Promise<Recording> {
  let r = directRuns.get(s.name);
  if (!r) directRuns.set(s.name, (r = record(s, redis.port, null)));
  return r;
}

/** The session did what it says: every expected frame, the proofs it lists, enough bytes. */
function expectComplete(s: Session, rec: Recording, run: string): void {
  if (rec.failure) throw new Error(`${run} run of session ${s.name} did not complete: ${rec.failure.message}`);
  for (const conn of s.conns) {
    expect({ run, conn, frames: rec.got.get(conn) }).toEqual({ run, conn, frames: rec.expected.get(conn) });
  }
  expect([...rec.got.values()].reduce((a, b) => a + b, 0), `${run} run of ${s.name} received no reply at all`).toBeGreaterThan(0);
}

async function compare(s: Session, mode: Mode, pieces: readonly number[] | null): Promise<void> {
  const want = await direct(s);
  const dump = process.env.DIFFERENTIAL_DUMP_DIR;
  if (dump) for (const [conn, b] of want.streams) writeFileSync(path.join(dump, `${s.name.replace(/[^a-z0-9]+/gi, '_').slice(0, 60)}.${conn}`), b);
  expectComplete(s, want, 'direct');
  for (const [conn, proofs] of Object.entries(s.shows ?? {})) {
    const text = want.streams.get(conn)!.toString('latin1');
    for (const p of proofs) expect(typeof p === 'string' ? text.includes(p) : p.test(text), `direct stream of ${conn} shows ${typeof p === 'string' ? JSON.stringify(p) : String(p)}`).toBe(true);
  }
  for (const [conn, n] of Object.entries(s.minBytes ?? {})) expect(want.streams.get(conn)!.length, `bytes on ${conn}`).toBeGreaterThanOrEqual(n);

  const got = await record(s, through[mode].port, pieces);
  for (const conn of s.conns) {
    const mine = (r: Recording) => r.marked.filter((m) => m.conn === conn);
    const failed = got.failure ? ` (the ambassador run stopped at ${got.failure.message})` : '';
    expectSameBytes(
      normalize(got.streams.get(conn)!, mine(got), { requireMatch: false }),
      normalize(want.streams.get(conn)!, mine(want), { requireMatch: true }),
      `session ${s.name}, connection ${conn} (${mode} mode): streams${failed}`,
    );
  }
  expectComplete(s, got, `ambassador (${mode} mode)`);
}

for (const s of SESSIONS) {
  describe(s.name, () => {
    for (const mode of ['dedicated', 'shared'] as const) {
      const via = mode === 'dedicated' ? '' : ' in shared upstream mode';
      it(`each send in one write${via}: the same bytes as direct`, () => compare(s, mode, null));
      it(`each send cut into ${PIECES.join(', ')}… byte pieces${via}: the same bytes as direct`, () => compare(s, mode, PIECES));
    }
  });
}
