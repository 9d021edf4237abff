import type { UpstreamAddress } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { HealthCheck, type HealthOptions } from './healthCheck.js';
import { statusOf, type UpstreamSelector, type UpstreamStatus } from './upstreamSelector.js';

/** How a single-upstream selector tells of its health check's verdicts. */
export interface SingleEvents {
  /** Log events for up and down. */
  readonly up: string;
  readonly down: string;
  /** The upstream stopped answering its health check. */
  readonly onDown?: (reason: string) => void;
}

const STATIC_EVENTS: SingleEvents = { up: 'upstream up', down: 'upstream down' };

/** The socat case: one fixed upstream. Its PING health check only informs /readyz and the gauge. */
export class StaticSelector implements UpstreamSelector {
  private check: HealthCheck;
  private started = false;

  constructor(
    private addr: UpstreamAddress,
    private readonly health: Omit<HealthOptions, 'probe'>,
    private readonly stats: ListenerStats,
    private readonly log: Logger,
    private readonly events: SingleEvents = STATIC_EVENTS,
  ) {
    this.check = this.newCheck();
  }

  current(): UpstreamAddress {
    return this.addr;
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

  /** The one upstream is now at `addr` (a cluster node announced elsewhere): new connections go there. */
  protected retarget(addr: UpstreamAddress): void {
    if (addr.url === this.addr.url) return;
    this.check.stop();
    this.stats.upstreamUp.delete(this.addr.url);
    this.addr = addr;
    this.check = this.newCheck();
    if (this.started) this.check.start();
  }

  private newCheck(): HealthCheck {
    const url = this.addr.url;
    this.stats.upstreamUp.set(url, 0);
    if (!this.stats.connectFailures.has(url)) this.stats.connectFailures.set(url, 0);
    return new HealthCheck(this.addr, { ...this.health, probe: 'ping' }, (up, reason) => {
      this.stats.upstreamUp.set(url, up ? 1 : 0);
      const fields = { listener: this.stats.listener, upstream: url, reason };
      if (up) this.log.info(this.events.up, fields);
      else {
        this.log.warn(this.events.down, fields);
        this.events.onDown?.(reason);
      }
    });
  }
}
