/**
 * A real Redis Cluster on loopback ports for integration tests: redis-server nodes (each with its
 * own --dir, a short cluster-node-timeout so that a failover takes about two seconds), joined by
 * `redis-cli --cluster create`, and returned only once every node says cluster_state:ok, every
 * node sees every other the same way and every replica is in sync. Nodes can be added, removed and
 * killed; CLUSTER NODES is parsed for the tests' expectations.
 *
 * Node ports come from portBlocks.ts: ≤ 22699, so that the cluster bus (port + 10000) stays
 * below the kernel's ephemeral range.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { clusterNodePorts } from './portBlocks.js';
import { alive, run, type Cleanup, type RunResult } from './processes.js';
import { call } from './rawClient.js';
import { info } from './redisInfo.js';
import { startRedis, type RedisServer } from './redisServer.js';
import { waitUntil } from './wait.js';

export const SLOTS = 16384;

export interface ClusterNodeServer extends RedisServer {
  readonly id: string;
  readonly dir: string;
}

/** One line of CLUSTER NODES. */
export interface NodeLine {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** The cluster bus port (after @). */
  readonly bus: number;
  readonly flags: readonly string[];
  /** The primary's id for a replica, '-' for a primary. */
  readonly master: string;
  readonly link: string;
  /** Slot ranges ("0-5460", "5461", "[93->-id]"…). */
  readonly slots: readonly string[];
  readonly line: string;
}

export function parseClusterNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const f = line.split(' ');
      const m = /^(.*):(\d+)@(\d+)(?:,.*)?$/.exec(f[1]!);
      if (m === null) throw new Error(`not a CLUSTER NODES address: ${f[1]} in ${line}`);
      return {
        id: f[0]!,
        host: m[1]!,
        port: Number(m[2]),
        bus: Number(m[3]),
        flags: f[2]!.split(','),
        master: f[3]!,
        link: f[7]!,
        slots: f.slice(8),
        line,
      };
    });
}

/** How many slots a CLUSTER NODES line's slot ranges hold (importing/migrating markers not counted). */
export function slotCount(slots: readonly string[]): number {
  let n = 0;
  for (const s of slots) {
    if (s.startsWith('[')) continue;
    const [a, b] = s.split('-').map(Number);
    n += (b ?? a!) - a! + 1;
  }
  return n;
}

export interface ClusterOptions {
  primaries?: number;
  replicasEach?: number;
  /** cluster-node-timeout (default 1000 ms). */
  nodeTimeoutMs?: number;
  /** More redis-server arguments for the node on `port` (after the cluster ones). */
  nodeArgs?: (port: number) => string[] | Promise<string[]>;
}

export interface RedisCluster {
  /** Every node started (the killed ones too), in the order started. */
  readonly nodes: ClusterNodeServer[];
  /** The nodes that are members of the cluster (not removed with del-node). */
  members(): ClusterNodeServer[];
  /** Members whose process runs. */
  live(): ClusterNodeServer[];
  byId(id: string): ClusterNodeServer;
  byPort(port: number): ClusterNodeServer;
  /** CLUSTER NODES as a live member (the first, unless told) sees it. */
  view(at?: ClusterNodeServer): Promise<NodeLine[]>;
  /** Live primaries that hold slots, and live replicas, as the first live member sees them. */
  primaries(): Promise<ClusterNodeServer[]>;
  replicas(): Promise<ClusterNodeServer[]>;
  /** The primary a replica follows (by the view). */
  primaryOf(replica: ClusterNodeServer): Promise<ClusterNodeServer>;
  /** The live node that serves `slot` now. */
  ownerOf(slot: number): Promise<ClusterNodeServer>;
  /** Runs `redis-cli --cluster <args>` (exit code checked). */
  cli(...args: string[]): Promise<RunResult>;
  /** A new empty cluster node, not yet joined (for add-node). */
  startNode(): Promise<ClusterNodeServer>;
  /** `redis-cli --cluster add-node` a node started with startNode(), as an empty primary; waits until every member knows it. */
  addNode(node: ClusterNodeServer): Promise<void>;
  /** `redis-cli --cluster del-node` (the node must hold no slots); waits until no member lists it. */
  delNode(node: ClusterNodeServer): Promise<void>;
  /** A node the test removed by hand (CLUSTER FORGET on every other member): no member from now on. */
  forgotten(node: ClusterNodeServer): void;
  /** Starts a killed node again on its port with its dir (its nodes.conf: the same id, the same cluster). */
  restart(node: ClusterNodeServer): Promise<ClusterNodeServer>;
  /** Kills a node (SIGKILL unless told); it stays a member (others will flag it fail). */
  kill(node: ClusterNodeServer, signal?: NodeJS.Signals): Promise<void>;
  /** Until every live member says cluster_state:ok, they all see the same members the same way, and every live replica is in sync. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The end of every node's log, for failure messages. */
  output(): string;
}

const outputs = new WeakMap<RedisServer, () => string>();

/**
 * `primaries` primaries (3 unless told) with `replicasEach` replicas each (1 unless told), on
 * ports from portBlocks, joined with `redis-cli --cluster create … --cluster-replicas N
 * --cluster-yes`; killed, and their dirs removed, at teardown.
 */
export async function startRedisCluster(cleanup: Cleanup, opts: ClusterOptions = {}): Promise<RedisCluster> {
  const primaries = opts.primaries ?? 3;
  const replicasEach = opts.replicasEach ?? 1;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 1000;
  const root = cleanup.tempDir('ambassador-cluster-');
  const nodes: ClusterNodeServer[] = [];
  const removed = new Set<ClusterNodeServer>();

  const startNode = async (port?: number, again?: ClusterNodeServer): Promise<ClusterNodeServer> => {
    const p = port ?? (await clusterNodePorts(1))[0]!;
    const dir = path.join(root, String(p));
    mkdirSync(dir, { recursive: true });
    const server = cleanup.track(
      await startRedis([
        '--cluster-enabled', 'yes',
        '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(nodeTimeoutMs),
        // A replica fails over however long ago it last heard from its primary.
        '--cluster-replica-validity-factor', '0',
        '--dir', dir,
        // Diskless sync without its default 5 s delay: replicas are in sync at once.
        '--repl-diskless-sync-delay', '0',
        '--logfile', path.join(dir, 'redis.log'),
        ...((await opts.nodeArgs?.(p)) ?? []),
      ], p),
    );
    const id = String(await call(p, 'CLUSTER', 'MYID'));
    const node: ClusterNodeServer = { ...server, id, dir };
    outputs.set(node, () => readTail(path.join(dir, 'redis.log')));
    if (again !== undefined) {
      if (again.id !== id) throw new Error(`node ${p} came back as ${id}, not ${again.id}`);
      nodes[nodes.indexOf(again)] = node;
    } else nodes.push(node);
    return node;
  };

  const members = (): ClusterNodeServer[] => nodes.filter((n) => !removed.has(n));
  const live = (): ClusterNodeServer[] => members().filter((n) => alive(n.process));
  const byId = (id: string): ClusterNodeServer => {
    const n = nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node started with id ${id}`);
    return n;
  };
  const byPort = (port: number): ClusterNodeServer => {
    const n = nodes.find((x) => x.port === port);
    if (n === undefined) throw new Error(`no node started on port ${port}`);
    return n;
  };
  const view = async (at?: ClusterNodeServer): Promise<NodeLine[]> => parseClusterNodes(String(await call((at ?? live()[0]!).port, 'CLUSTER', 'NODES')));
  const output = (): string => nodes.map((n) => `[node ${n.port} ${n.id.slice(0, 8)}] ${outputs.get(n)?.() ?? ''}`).join('\n');
  const cli = async (...args: string[]): Promise<RunResult> => {
    const r = await run('redis-cli', ['--cluster', ...args], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`redis-cli --cluster ${args.join(' ')} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    return r;
  };

  const healthy = async (): Promise<string | null> => {
    const want = members();
    const views: string[] = [];
    for (const n of live()) {
      const cinfo = await clusterInfo(n.port);
      if (cinfo.cluster_state !== 'ok') return `node ${n.port}: cluster_state ${cinfo.cluster_state}`;
      if (cinfo.cluster_slots_ok !== String(SLOTS)) return `node ${n.port}: cluster_slots_ok ${cinfo.cluster_slots_ok}`;
      if (cinfo.cluster_known_nodes !== String(want.length)) return `node ${n.port}: knows ${cinfo.cluster_known_nodes} nodes, not ${want.length}`;
      const lines = await view(n);
      for (const l of lines) {
        const member = want.find((m) => m.id === l.id);
        if (member === undefined) return `node ${n.port} lists ${l.id} (${l.port}), no member`;
        const dead = !alive(member.process);
        const bad = l.flags.filter((f) => f === 'handshake' || f === 'noaddr' || (!dead && (f === 'fail' || f === 'fail?')));
        if (bad.length > 0) return `node ${n.port} flags ${l.port} ${bad.join(',')}`;
        if (!dead && !l.flags.includes('myself') && l.link !== 'connected') return `node ${n.port}: link to ${l.port} ${l.link}`;
        if (dead && !l.flags.includes('fail')) return `node ${n.port} does not flag the dead ${l.port} fail yet`;
      }
      // The same members with the same roles, the same primaries and the same slots, everywhere.
      views.push(
        lines
          .map((l) => `${l.id} ${l.port} ${l.flags.filter((f) => f === 'master' || f === 'slave').join()} ${l.master} ${l.slots.join(' ')}`)
          .sort()
          .join('\n'),
      );
      // A replica at replication offset 0 is "loading" to CLUSTER SHARDS and left out of CLUSTER
      // SLOTS (Redis 7.0): every live one must have an offset, as every node sees it.
      for (const [id, health] of await shardHealth(n.port)) {
        const member = want.find((m) => m.id === id);
        if (member !== undefined && alive(member.process) && health !== 'online') return `node ${n.port}: CLUSTER SHARDS says ${member.port} is ${health}`;
      }
      const r = await info(n.port, 'replication');
      if (r.role === 'slave' && (r.master_link_status !== 'up' || r.master_sync_in_progress !== '0')) return `replica ${n.port}: link ${r.master_link_status}, sync ${r.master_sync_in_progress}`;
    }
    if (new Set(views).size > 1) return `the nodes see the cluster differently:\n${views.join('\n--\n')}`;
    return null;
  };

  const waitHealthy = async (timeoutMs = 30_000): Promise<void> => {
    let why: string | null = 'not asked yet';
    await waitUntil(
      async () => {
        why = await healthy().catch((e: Error) => `asking failed: ${e.message}`);
        return why === null;
      },
      { timeoutMs, intervalMs: 50, what: () => `a healthy cluster (${why})\n${output().slice(-4000)}` },
    );
  };

  const ports = await clusterNodePorts(primaries * (1 + replicasEach));
  for (const p of ports) await startNode(p);
  await cli('create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicasEach), '--cluster-yes');
  // A write on every primary, so that every replica has a replication offset (see healthy()).
  await waitUntil(async () => (await clusterInfo(ports[0]!)).cluster_state === 'ok', { timeoutMs: 30_000, intervalMs: 50, what: 'cluster_state ok' });
  const created = await view(nodes[0]);
  for (const l of created.filter((x) => x.flags.includes('master'))) await call(l.port, 'SET', keyServedBy(created, l, 'cluster-start'), '1');
  await waitHealthy();

  const cluster: RedisCluster = {
    nodes,
    members,
    live,
    byId,
    byPort,
    view,
    primaries: async () => {
      const v = await view();
      return live().filter((n) => v.some((l) => l.id === n.id && l.flags.includes('master') && slotCount(l.slots) > 0));
    },
    replicas: async () => {
      const v = await view();
      return live().filter((n) => v.some((l) => l.id === n.id && l.flags.includes('slave')));
    },
    primaryOf: async (replica) => {
      const line = (await view()).find((l) => l.id === replica.id);
      if (line === undefined || line.master === '-') throw new Error(`${replica.port} is no replica`);
      return byId(line.master);
    },
    ownerOf: async (slot) => {
      for (const l of await view()) {
        if (!l.flags.includes('master') || l.flags.includes('fail')) continue;
        for (const s of l.slots) {
          if (s.startsWith('[')) continue;
          const [a, b] = s.split('-').map(Number);
          if (slot >= a! && slot <= (b ?? a!)) return byId(l.id);
        }
      }
      throw new Error(`no live primary serves slot ${slot}`);
    },
    cli,
    startNode: () => startNode(),
    addNode: async (node) => {
      await cli('add-node', `127.0.0.1:${node.port}`, `127.0.0.1:${live()[0]!.port}`);
      await waitHealthy();
    },
    delNode: async (node) => {
      await cli('del-node', `127.0.0.1:${live().find((n) => n !== node)!.port}`, node.id);
      removed.add(node);
      await waitHealthy();
    },
    forgotten: (node) => {
      removed.add(node);
    },
    restart: async (node) => {
      if (alive(node.process)) throw new Error(`node ${node.port} still runs`);
      return startNode(node.port, node);
    },
    kill: async (node, signal = 'SIGKILL') => {
      await node.stop(signal);
    },
    waitHealthy,
    output,
  };
  return cluster;
}

/** CLUSTER SHARDS of the node on `port`: each node id with its health (online, loading, fail). */
async function shardHealth(port: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const field = (flat: unknown[], key: string): unknown => flat[flat.indexOf(key) + 1];
  for (const shard of (await call(port, 'CLUSTER', 'SHARDS')) as unknown[][]) {
    for (const node of field(shard, 'nodes') as unknown[][]) out.set(String(field(node, 'id')), String(field(node, 'health')));
  }
  return out;
}

/** CLUSTER INFO as field → value. */
export async function clusterInfo(port: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of String(await call(port, 'CLUSTER', 'INFO')).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

/** Whether a CLUSTER NODES line's slot ranges hold `slot`. */
export function servesSlot(line: NodeLine, slot: number): boolean {
  return line.slots.some((s) => {
    if (s.startsWith('[')) return false;
    const [a, b] = s.split('-').map(Number);
    return slot >= a! && slot <= (b ?? a!);
  });
}

/** The hash slot of `key` (CRC16/XMODEM of the key, or of its {hash tag}, mod 16384), as Redis computes it. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const b of Buffer.from(key)) {
    crc ^= b << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}

/** A key (`<prefix>:<n>`) whose slot the primary `owner` serves, by the view `lines`. */
export function keyServedBy(lines: readonly NodeLine[], owner: { id: string }, prefix: string): string {
  const line = lines.find((l) => l.id === owner.id);
  if (line === undefined) throw new Error(`${owner.id} is not in the view`);
  for (let n = 0; n < 100_000; n++) {
    const key = `${prefix}:${n}`;
    if (servesSlot(line, keySlot(key))) return key;
  }
  throw new Error(`no key for ${owner.id}`);
}
