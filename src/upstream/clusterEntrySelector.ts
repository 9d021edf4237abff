/**
 * A Redis Cluster listener's own port, the cluster's entry (`redis-cli -c -p <p>`, a cluster
 * client's seed) stands for one primary that is online: the one it stood for while it still is,
 * else the first by node id. Clients take their seed for a node — redis-benchmark and
 * redis-cli --cluster give the `myself` line of CLUSTER NODES the seed's address — so every
 * connection to the entry must reach the same node, or its slots would answer -MOVED. When that
 * primary fails the entry follows to another, so it stays usable when a node dies.
 */
import type { UpstreamAddress } from '../config/address.js';
import { formatUpstream } from '../config/address.js';
import type { HealthCheck } from './healthCheck.js';
import { SLOTS, type ClusterTopology } from './clusterTopology.js';
import type { UpstreamSelector, UpstreamStatus } from './upstreamSelector.js';

export class ClusterEntrySelector implements UpstreamSelector {
  /** The node id the entry stands for, while it stays an online primary. */
  private chosen: string | null = null;

  constructor(
    private readonly topology: ClusterTopology,
    /** The health check of a node's address, where one of the node listeners probes it. */
    private readonly healthOfNode: (url: string) => HealthCheck | null,
  ) {}

  current(): UpstreamAddress | null {
    const nodes = this.topology.current.filter((n) => n.primary && n.online);
    const pool = nodes.length > 0 ? nodes : this.topology.current.filter((n) => n.online);
    if (pool.length === 0) return null;
    const n = pool.find((x) => x.id === this.chosen) ?? pool.reduce((a, b) => (b.id < a.id ? b : a));
    this.chosen = n.id;
    return { host: n.host, port: n.port, tls: false, url: formatUpstream(n.host, n.port) };
  }

  start(): void {}
  stop(): void {}
  suspect(reason: string): void {
    this.topology.refreshSoon(reason);
  }
  /** Ready when every slot is served by a primary that is online. */
  ready(): boolean {
    return this.topology.covered === SLOTS;
  }
  status(): UpstreamStatus[] {
    const covered = this.topology.covered;
    return covered === SLOTS
      ? [{ upstream: 'cluster', up: true }]
      : [{ upstream: 'cluster', up: false, error: `${covered} of ${SLOTS} slots are served by a primary that is online` }];
  }
  healthOf(url: string): HealthCheck | null {
    return this.healthOfNode(url);
  }
}
