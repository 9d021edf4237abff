/**
 * One Redis Cluster node's listener goes to that node: its address as the cluster announces it
 * (which may change, when the node comes back elsewhere), health-checked with PING as a fixed
 * upstream is.
 */
import type { UpstreamAddress } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { HealthOptions } from './healthCheck.js';
import { StaticSelector } from './staticSelector.js';

export class NodeSelector extends StaticSelector {
  constructor(
    addr: UpstreamAddress,
    health: Omit<HealthOptions, 'probe'>,
    stats: ListenerStats,
    log: Logger,
    /** The node stopped answering its health check: the topology is worth reading again. */
    onDown: (reason: string) => void,
  ) {
    super(addr, health, stats, log, { up: 'cluster node up', down: 'cluster node down', onDown });
  }

  /** The cluster now announces the node elsewhere: new connections go there. */
  moveTo(addr: UpstreamAddress): void {
    this.retarget(addr);
  }
}
