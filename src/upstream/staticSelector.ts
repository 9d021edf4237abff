import type { UpstreamAddress } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { HealthCheck, type HealthOptions } from './healthCheck.js';
import { statusOf, type UpstreamSelector, type UpstreamStatus } from './upstreamSelector.js';

/** The socat case: one fixed upstream. Its PING health check only informs /readyz and the gauge. */
export class StaticSelector implements UpstreamSelector {
  private readonly check: HealthCheck;

  constructor(
    private readonly upstream: UpstreamAddress,
    health: Omit<HealthOptions, 'probe'>,
    stats: ListenerStats,
    log: Logger,
  ) {
    stats.upstreamUp.set(upstream.url, 0);
    stats.connectFailures.set(upstream.url, 0);
    this.check = new HealthCheck(upstream, { ...health, probe: 'ping' }, (up, reason) => {
      stats.upstreamUp.set(upstream.url, up ? 1 : 0);
      const fields = { listener: stats.listener, upstream: upstream.url, reason };
      if (up) log.info('upstream up', fields);
      else log.warn('upstream down', fields);
    });
  }

  current(): UpstreamAddress {
    return this.upstream;
  }
  start(): void {
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
    return url === this.upstream.url ? this.check : null;
  }
}
