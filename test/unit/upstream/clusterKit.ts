/**
 * Cluster views for the topology, entry and group tests: CLUSTER SHARDS replies written from a
 * short description, and seeds that answer them (the test kit's scripted fake Redis, which
 * answers nothing but PING and what it is given: no cluster is simulated).
 */
import type { ClusterTopology, ClusterNode } from '../../../src/upstream/clusterTopology.js';
import { startFakeRedis, type FakeRedis } from '../../support/fakeRedis.js';
import type { Cleanup } from '../../support/processes.js';
import { waitUntil } from '../../support/wait.js';

export interface ShardNode {
  readonly id: string;
  readonly ip?: string;
  readonly port: number;
  readonly endpoint?: string;
  readonly role?: 'master' | 'replica';
  readonly health?: 'online' | 'failed' | 'loading';
}

export interface Shard {
  /** Slot ranges, flat: from, to, from, to… */
  readonly slots: readonly number[];
  readonly nodes: readonly ShardNode[];
}

const bulk = (s: string): string => `$${Buffer.byteLength(s, 'latin1')}\r\n${s}\r\n`;

/** CLUSTER SHARDS as Redis 7 sends it in RESP2 (flat key/value arrays); RESP3 maps with `resp3`. */
export function shardsReply(shards: readonly Shard[], resp3 = false): string {
  const pairs = (kv: [string, string][]): string => (resp3 ? `%${kv.length}\r\n` : `*${kv.length * 2}\r\n`) + kv.map(([k, v]) => bulk(k) + v).join('');
  const node = (n: ShardNode): string =>
    pairs([
      ['id', bulk(n.id)],
      ['port', `:${n.port}\r\n`],
      ['ip', bulk(n.ip ?? '127.0.0.1')],
      ['endpoint', bulk(n.endpoint ?? n.ip ?? '127.0.0.1')],
      ['role', bulk(n.role ?? 'master')],
      ['replication-offset', ':0\r\n'],
      ['health', bulk(n.health ?? 'online')],
    ]);
  const shard = (s: Shard): string =>
    pairs([
      ['slots', `*${s.slots.length}\r\n${s.slots.map((x) => `:${x}\r\n`).join('')}`],
      ['nodes', `*${s.nodes.length}\r\n${s.nodes.map(node).join('')}`],
    ]);
  return `*${shards.length}\r\n${shards.map(shard).join('')}`;
}

/** A node that answers CLUSTER SHARDS with whatever `reply` is at the time; `asks` counts them. */
export interface FakeNode {
  readonly server: FakeRedis;
  readonly port: number;
  reply: string;
  asks: number;
}

export async function fakeNode(cleanup: Cleanup, reply: string): Promise<FakeNode> {
  const node: FakeNode = { server: undefined as unknown as FakeRedis, port: 0, reply, asks: 0 };
  const server = await startFakeRedis((args) => {
    if (args.join(' ').toUpperCase() !== 'CLUSTER SHARDS') return '-ERR unexpected\r\n';
    node.asks++;
    return node.reply;
  });
  cleanup.add(server, (s) => s.close());
  return Object.assign(node, { server, port: server.port });
}

/** Collects what a ClusterTopology reports, for TopologyEvents. */
export class TopologyEvents {
  readonly views: (readonly ClusterNode[])[] = [];
  readonly notACluster: [string, string][] = [];
  onNodes(nodes: readonly ClusterNode[]): void {
    this.views.push(nodes);
  }
  onNotACluster(seed: string, error: string): void {
    this.notACluster.push([seed, error]);
  }

  /** Reads again now and waits for the view it reports. */
  async reread(topology: ClusterTopology): Promise<readonly ClusterNode[]> {
    const before = this.views.length;
    topology.refreshSoon('test');
    await waitUntil(() => this.views.length > before, { what: 'a new topology view' });
    return this.views[this.views.length - 1]!;
  }
}
