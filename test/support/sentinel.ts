/** A Sentinel-monitored master and replica on loopback ports, for failover tests. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './freePort.js';
import { startChild, type Child, type Cleanup } from './processes.js';
import { direct } from './rawClient.js';
import { info } from './redisInfo.js';
import { startRedis, waitForPort, type RedisServer } from './redisServer.js';
import { plain } from './resp.js';
import { now, waitUntil } from './wait.js';

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

export const MASTER_NAME = 'mymaster';

/**
 * Master + replica + 3 sentinels on free loopback ports, each sentinel with its own config file
 * in a temp dir, all killed at teardown. Returns once every sentinel sees the replica and the 2
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

  const dir = cleanup.tempDir('ambassador-sentinel-');
  const sentinels: { port: number; child: Child }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'daemonize no',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = cleanup.track(startChild('redis-sentinel', [conf]));
    await waitForPort(port, 5000);
    sentinels.push({ port, child });
  }
  const ports = sentinels.map((s) => s.port);
  const output = (): string => sentinels.map((s) => `[sentinel ${s.port}] ${s.child.output().slice(-1500)}`).join('\n');

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

  const masterFields = async (port: number): Promise<Map<string, string>> => {
    const [r] = await direct(port, ['SENTINEL', 'MASTER', MASTER_NAME]);
    const items = (plain(r!) as unknown[]).map(String);
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i]!, items[i + 1]!);
    return m;
  };
  await waitUntil(
    async () => {
      for (const port of ports) {
        const m = await masterFields(port);
        if (m.get('num-other-sentinels') !== '2' || m.get('num-slaves') !== '1' || m.get('flags') !== 'master') return false;
        const [reps] = await direct(port, ['SENTINEL', 'REPLICAS', MASTER_NAME]);
        const rep = (plain(reps!) as unknown[][])[0]?.map(String) ?? [];
        const flags = rep[rep.indexOf('flags') + 1];
        const link = rep[rep.indexOf('master-link-status') + 1];
        if (flags !== 'slave' || link !== 'ok') return false;
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
