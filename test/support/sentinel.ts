/**
 * Redis Sentinel on loopback ports: one redis-sentinel watching a master (the unit tests of the
 * Sentinel selector), and a master + replica + 3 sentinels for the failover tests.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './freePort.js';
import { startChild, type Cleanup } from './processes.js';
import { call } from './rawClient.js';
import { info } from './redisInfo.js';
import { startRedis, waitForPort, type RedisServer } from './redisServer.js';
import { now, waitUntil } from './wait.js';

export const MASTER_NAME = 'mymaster';

export interface SentinelOptions {
  /** How many sentinels must agree the master is down (default 1: a lone sentinel decides). */
  quorum?: number;
  /** down-after-milliseconds (default 300: a failure is noticed fast). */
  downAfterMs?: number;
  /** failover-timeout (default 2000). */
  failoverTimeoutMs?: number;
}

export interface Sentinel {
  readonly port: number;
  readonly process: ChildProcess;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
}

/**
 * One redis-sentinel on a free loopback port monitoring the master on `masterPort` as
 * MASTER_NAME (null: monitoring nothing), its config file in a temp dir; killed, and the dir
 * removed, at teardown.
 */
export async function startSentinel(cleanup: Cleanup, masterPort: number | null, opts: SentinelOptions = {}): Promise<Sentinel> {
  const port = await freePort();
  const dir = cleanup.tempDir('ambassador-sentinel-');
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      ...(masterPort === null
        ? []
        : [
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} ${opts.quorum ?? 1}`,
            `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 300}`,
            `sentinel failover-timeout ${MASTER_NAME} ${opts.failoverTimeoutMs ?? 2000}`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
          ]),
      '',
    ].join('\n'),
  );
  const child = cleanup.track(startChild('redis-sentinel', [conf]));
  await waitForPort(port, 5000).catch((err: Error) => {
    throw new Error(`redis-sentinel on ${port} did not start: ${err.message}\n${child.output()}`);
  });
  return { port, process: child.process, output: () => child.output() };
}

/** Field pairs of a flat RESP array ([k1, v1, k2, v2, …]) as a map. */
function fields(reply: unknown): Map<string, string> {
  const items = (reply as unknown[]).map(String);
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i]!, items[i + 1]!);
  return m;
}

/** Whether the sentinel on `port` knows a replica of the master that is in sync: only then can it fail over. */
async function knowsSyncedReplica(port: number): Promise<boolean> {
  const replicas = (await call(port, 'SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
  const r = replicas[0] === undefined ? new Map<string, string>() : fields(replicas[0]);
  return r.get('flags') === 'slave' && r.get('master-link-status') === 'ok';
}

/** Waits until the sentinel knows a replica of the master in sync. */
export async function waitForReplicaKnown(sentinel: Sentinel): Promise<void> {
  await waitUntil(() => knowsSyncedReplica(sentinel.port), {
    timeoutMs: 20_000,
    intervalMs: 50,
    what: () => `the sentinel to know the replica\n${sentinel.output().slice(-2000)}`,
  });
}

export interface SentinelCluster {
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinelPorts: number[];
  /** The value for REDIS_PORT_<p>_SENTINEL. */
  readonly spec: string;
  /** now() of the first +switch-master any of the 3 sentinels published (0 before). */
  switchAt(): number;
  switchMessage(): string;
  /** The end of each sentinel's output, for failure messages. */
  output(): string;
}

/**
 * Master + replica + 3 sentinels on free loopback ports (a quorum of 2, down-after 1000 ms), each
 * sentinel with its own temp dir, all killed at teardown. Returns once every sentinel sees the replica and the 2
 * other sentinels, and the replica's link is up; our own ioredis subscriber on each sentinel
 * timestamps +switch-master.
 */
export async function startSentinelCluster(cleanup: Cleanup): Promise<SentinelCluster> {
  // Diskless sync without its default 5 s delay, so the replica is in sync at once.
  const master = cleanup.track(await startRedis(['--repl-diskless-sync-delay', '0']));
  const replica = cleanup.track(await startRedis(['--replicaof', '127.0.0.1', String(master.port)]));
  await waitUntil(async () => (await info(replica.port, 'replication')).master_link_status === 'up', {
    timeoutMs: 15_000,
    intervalMs: 50,
    what: 'replica in sync',
  });

  const sentinels: Sentinel[] = [];
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(cleanup, master.port, { quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 5000 }));
  const ports = sentinels.map((s) => s.port);
  const output = (): string => sentinels.map((s) => `[sentinel ${s.port}] ${s.output().slice(-1500)}`).join('\n');

  let switchAt = 0;
  let switchMessage = '';
  for (const port of ports) {
    const sub = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 0 });
    sub.on('error', () => {});
    cleanup.add(sub, (s) => s.disconnect());
    await sub.connect();
    sub.on('message', (_channel: string, message: string) => {
      const t = now();
      if (switchAt === 0 || t < switchAt) {
        switchAt = t;
        switchMessage = message;
      }
    });
    await sub.subscribe('+switch-master');
  }

  await waitUntil(
    async () => {
      for (const port of ports) {
        const m = fields(await call(port, 'SENTINEL', 'MASTER', MASTER_NAME));
        if (m.get('num-other-sentinels') !== '2' || m.get('num-slaves') !== '1' || m.get('flags') !== 'master') return false;
        if (!(await knowsSyncedReplica(port))) return false;
      }
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: () => `3 sentinels that know each other and the replica\n${output().slice(-3000)}` },
  );
  return {
    master,
    replica,
    sentinelPorts: ports,
    spec: `${MASTER_NAME}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    switchAt: () => switchAt,
    switchMessage: () => switchMessage,
    output,
  };
}
