/**
 * One Redis Cluster node's listener goes to that node: its address as the cluster announces it
 * (which may change, when the node comes back elsewhere), health-checked with PING.
 */
import type { UpstreamAddress } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { HealthCheck, type HealthOptions } from './healthCheck.js';
import { statusOf, type UpstreamSelector, type UpstreamStatus } from './upstreamSelector.js';

export class NodeSelector implements UpstreamSelector {
  private check: HealthCheck;
  private started = false;

  constructor(
    private addr: UpstreamAddress,
    private readonly health: Omit<HealthOptions, 'probe'>,
    private readonly stats: ListenerStats,
    private readonly log: Logger,
    /** The node stopped answering its health check: the topology is worth reading again. */
    private readonly onDown: (reason: string) => void,
  ) {
    this.check = this.newCheck();
  }

  current(): UpstreamAddress {
    return this.addr;
  }

  /** The cluster now announces the node elsewhere: new connections go there. */
  moveTo(addr: UpstreamAddress): void {
    if (addr.url === this.addr.url) return;
    this.check.stop();
    this.stats.upstreamUp.delete(this.addr.url);
    this.addr = addr;
    this.check = this.newCheck();
    if (this.started) this.check.start();
  }

  start(): void {
    this.started = true;
    this.check.start();
  }
  stop(): void {
    this.check.stop();
  }
  suspect(): void {
    this.check.probeNow();
  }
  ready(): boolean {
    return this.check.up;
  }
  status(): UpstreamStatus[] {
    return [statusOf(this.check)];
  }
  healthOf(url: string): HealthCheck | null {
    return url === this.addr.url ? this.check : null;
  }

  private newCheck(): HealthCheck {
    const url = this.addr.url;
    this.stats.upstreamUp.set(url, 0);
    if (!this.stats.connectFailures.has(url)) this.stats.connectFailures.set(url, 0);
    return new HealthCheck(this.addr, { ...this.health, probe: 'ping' }, (up, reason) => {
      this.stats.upstreamUp.set(url, up ? 1 : 0);
      const fields = { listener: this.stats.listener, upstream: url, reason };
      if (up) this.log.info('cluster node up', fields);
      else {
        this.log.warn('cluster node down', fields);
        this.onDown(reason);
      }
    });
  }
}
