/**
 * One redis-sentinel on a free loopback port watching a master, configured to notice a failure
 * fast (a quorum of one, small down-after-milliseconds), for the unit tests of the Sentinel
 * selector. The integration tests' three-sentinel cluster is test/integration/failoverKit.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/freePort.js';
import { RawClient } from '../../support/rawClient.js';
import { waitForPort } from '../../support/redisServer.js';
import { cmd, plain } from '../../support/resp.js';
import { waitUntil } from '../../support/wait.js';

export const MASTER_NAME = 'mymaster';

export interface Sentinel {
  readonly port: number;
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startSentinel(masterPort: number, opts: { downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<Sentinel> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unit-sentinel-'));
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 300}`,
      `sentinel failover-timeout ${MASTER_NAME} ${opts.failoverTimeoutMs ?? 2000}`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-sentinel', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  child.on('error', () => {});
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGKILL');
    });
  try {
    await waitForPort(port, 5000);
  } catch (err) {
    await stop();
    throw new Error(`redis-sentinel did not start: ${(err as Error).message}\n${output}`);
  }
  return { port, process: child, output: () => output, stop };
}

/** One command to a sentinel (or any server) on a fresh connection, decoded. */
export async function query(port: number, ...args: string[]): Promise<unknown> {
  const c = await RawClient.connect(port);
  try {
    await c.write(cmd(...args));
    const [reply] = await c.waitForReplies(1);
    return plain(reply!);
  } finally {
    c.close();
  }
}

/** Field pairs of a flat RESP array ([k1, v1, k2, v2, …]) as a map. */
export function fields(reply: unknown): Map<string, string> {
  const items = (reply as unknown[]).map(String);
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i]!, items[i + 1]!);
  return m;
}

/** Waits until the sentinel knows a replica of the master in sync: only then can it fail over. */
export async function waitForReplicaKnown(sentinel: Sentinel): Promise<void> {
  await waitUntil(
    async () => {
      const replicas = (await query(sentinel.port, 'SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
      const r = replicas[0] === undefined ? new Map<string, string>() : fields(replicas[0]);
      return r.get('flags') === 'slave' && r.get('master-link-status') === 'ok';
    },
    { timeoutMs: 20_000, intervalMs: 50, what: () => `the sentinel to know the replica\n${sentinel.output().slice(-2000)}` },
  );
}
