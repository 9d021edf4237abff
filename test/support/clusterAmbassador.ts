/**
 * The ambassador in front of a Redis Cluster (REDIS_PORT_<p>_CLUSTER), listening on a loopback
 * address of its own (127.0.0.2, 127.0.0.3…) so that every address it hands out is told apart at
 * a glance from the nodes' (127.0.0.1) and from another ambassador's; and what the tests ask
 * about it: the node listener of each node id, and which process owns a connection a node sees.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Cluster, type ClusterOptions } from 'ioredis';
import { startAmbassador, waitReady, type AmbassadorProcess } from './ambassadorProcess.js';
import { ambassadorPorts } from './portBlocks.js';
import type { Cleanup } from './processes.js';
import { RawClient } from './rawClient.js';
import { parseClusterNodes, startRedisCluster, type RedisCluster } from './redisCluster.js';
import { plain } from './resp.js';
import { waitForPort } from './redisServer.js';
import { waitUntil } from './wait.js';

export interface ClusterAmbassador {
  readonly amb: AmbassadorProcess;
  /** The loopback address it listens on, which its rewritten replies name. */
  readonly host: string;
  /** The entry port (REDIS_PORT_<entry>_CLUSTER). */
  readonly entry: number;
  /** Its node ports (<NAME>_PORT_<entry>_CLUSTER_PORTS). */
  readonly range: { readonly from: number; readonly to: number };
  /** The entry's listener name (`redis:<entry>`). */
  readonly listener: string;
}

export interface ClusterAmbassadorOptions {
  /** Where it finds the cluster: nodes, or another ambassador's entry. */
  seeds: { host: string; port: number }[];
  /** The loopback address it binds (127.0.0.2 unless told). */
  host?: string;
  /** How many node ports its range has (12 unless told). */
  nodePorts?: number;
  env?: Record<string, string>;
  /** Returned once /readyz is 200 and every node listener accepts (default true). */
  ready?: boolean;
}

/** Starts it (killed at teardown) with the cluster refresh at 1000 ms and health probes every 200 ms unless `env` says otherwise. */
export async function startClusterAmbassador(cleanup: Cleanup, opts: ClusterAmbassadorOptions): Promise<ClusterAmbassador> {
  const host = opts.host ?? '127.0.0.2';
  const { entry, from, to } = await ambassadorPorts(opts.nodePorts ?? 12);
  const amb = cleanup.track(
    await startAmbassador({
      env: {
        [`REDIS_PORT_${entry}_CLUSTER`]: opts.seeds.map((s) => `${s.host}:${s.port}`).join(','),
        [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`,
        AMBASSADOR_BIND: host,
        AMBASSADOR_CLUSTER_REFRESH_MS: '1000',
        AMBASSADOR_HEALTH_INTERVAL_MS: '200',
        ...opts.env,
      },
      waitPorts: [entry],
      waitHost: host,
    }),
  );
  const ca: ClusterAmbassador = { amb, host, entry, range: { from, to }, listener: `redis:${entry}` };
  if (opts.ready ?? true) {
    await waitReady(amb, 20_000);
    for (const port of (await nodePortsOf(ca)).values()) await waitForPort(port, 10_000, host);
  }
  return ca;
}

/** node id → the port CLUSTER NODES through the entry gives it (the ambassador's node listener); checks every address is the ambassador's. */
/**
 * The seed topology in front of a Redis Cluster: a cluster of six nodes, the server-side
 * ambassador before its nodes (clients reach it at 127.0.0.2) and the consumer-side one seeded
 * with the server side's entry (at 127.0.0.3). `env` goes to both ambassadors.
 */
export async function startChainedCluster(
  cleanup: Cleanup,
  env: Record<string, string> = {},
): Promise<{ cluster: RedisCluster; server: ClusterAmbassador; consumer: ClusterAmbassador }> {
  const cluster = await startRedisCluster(cleanup);
  const server = await startClusterAmbassador(cleanup, { seeds: [{ host: '127.0.0.1', port: cluster.nodes[0]!.port }], host: '127.0.0.2', env });
  const consumer = await startClusterAmbassador(cleanup, { seeds: [{ host: server.host, port: server.entry }], host: '127.0.0.3', env });
  return { cluster, server, consumer };
}

/** An ioredis Cluster seeded with the ambassador's entry (no NAT map: the ambassador rewrites), closed by `cleanup`. */
export function ioredisCluster(cleanup: Cleanup, ca: ClusterAmbassador, options: ClusterOptions): Cluster {
  const c = new Cluster([{ host: ca.host, port: ca.entry }], options);
  c.on('error', () => {});
  cleanup.add(c, (x) => x.disconnect());
  return c;
}

export async function nodePortsOf(ca: ClusterAmbassador): Promise<Map<string, number>> {
  const c = await RawClient.connect(ca.entry, ca.host);
  try {
    const lines = parseClusterNodes(String(plain(await c.call(['CLUSTER', 'NODES']))));
    const out = new Map<string, number>();
    for (const l of lines) {
      if (l.host !== ca.host) throw new Error(`CLUSTER NODES through ${ca.host}:${ca.entry} names ${l.host}:${l.port} for ${l.id}`);
      out.set(l.id, l.port);
    }
    return out;
  } finally {
    c.close();
  }
}

/** Waits until the node listener `port` of `ca` accepts. */
export async function waitNodeListener(ca: ClusterAmbassador, port: number): Promise<void> {
  await waitForPort(port, 10_000, ca.host);
}

// --- which process owns a connection ---------------------------------------------------------

/** One TCP socket of a process: its local and remote ports (loopback: the ports tell them apart). */
export interface OwnedSocket {
  readonly pid: number;
  readonly local: string;
  readonly remote: string;
  /** /proc/net/tcp's state: 01 ESTABLISHED, 0A LISTEN, 06 TIME_WAIT, 08 CLOSE_WAIT… */
  readonly state: string;
}

/** "a.b.c.d:port" of /proc/net/tcp's hex "0100007F:1F90" (IPv4, or an IPv4-mapped IPv6 address). */
function hexAddress(hex: string): string {
  const [ip, port] = hex.split(':') as [string, string];
  const p = parseInt(port, 16);
  const v4 = ip.length === 8 ? ip : ip.slice(24);
  const bytes = [0, 2, 4, 6].map((k) => parseInt(v4.slice(k, k + 2), 16)).reverse();
  return `${bytes.join('.')}:${p}`;
}

/** Every TCP socket of the processes `pids` (Linux: their fds' socket inodes in /proc/net/tcp{,6}). */
export function tcpSocketsOf(pids: readonly number[]): OwnedSocket[] {
  const owner = new Map<string, number>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) owner.set(m[1]!, pid);
    }
  }
  const out: OwnedSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'latin1').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const pid = owner.get(f[9]!);
      if (pid !== undefined) out.push({ pid, local: hexAddress(f[1]!), remote: hexAddress(f[2]!), state: f[3]! });
    }
  }
  return out;
}

/** One connection of CLIENT LIST. */
export interface ClientEntry {
  readonly id: string;
  readonly addr: string;
  readonly laddr: string;
  readonly flags: string;
  readonly cmd: string;
  readonly line: string;
}

export function parseClientList(text: string): ClientEntry[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const f = Object.fromEntries(line.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      return { id: f.id ?? '', addr: f.addr ?? '', laddr: f.laddr ?? '', flags: f.flags ?? '', cmd: f.cmd ?? '', line };
    });
}

/**
 * Every client connection a node has (its CLIENT LIST, less the connection asking), with the pid
 * of the process at the other end of it among `pids` (null: none of them, or the connection
 * came and went between the two readings of /proc, before and after CLIENT LIST).
 */
export async function clientsOfNode(port: number, pids: readonly number[]): Promise<(ClientEntry & { owner: number | null })[]> {
  const c = await RawClient.connect(port);
  try {
    const me = String(plain(await c.call(['CLIENT', 'ID'])));
    const before = tcpSocketsOf(pids);
    const list = parseClientList(String(plain(await c.call(['CLIENT', 'LIST'])))).filter((e) => e.id !== me);
    const sockets = [...before, ...tcpSocketsOf(pids)];
    return list.map((e) => ({ ...e, owner: sockets.find((s) => s.local === e.addr && s.remote === e.laddr)?.pid ?? null }));
  } finally {
    c.close();
  }
}

/** Waits until `cond` holds of the ambassador's /metrics text. */
export async function waitMetric(ca: ClusterAmbassador, what: string, cond: (text: string) => boolean, timeoutMs = 10_000): Promise<void> {
  await waitUntil(async () => cond(await ca.amb.metrics()), { timeoutMs, intervalMs: 50, what });
}
