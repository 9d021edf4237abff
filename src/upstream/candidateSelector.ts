import type { UpstreamAddress } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { HealthCheck, type HealthOptions } from './healthCheck.js';
import { statusOf, type MasterChange, type UpstreamSelector, type UpstreamStatus } from './upstreamSelector.js';

/**
 * An ordered candidate list (`tcp://a:6379,tcp://b:6379`): every candidate is probed with ROLE
 * each interval, and traffic goes to the master. The current master is kept while it still says
 * master; otherwise the first candidate (in list order) that says master is chosen. While no
 * candidate says master the last master is kept: the ambassador never promotes anything.
 */
export class CandidateSelector implements UpstreamSelector {
  private readonly checks: HealthCheck[];
  private master: UpstreamAddress | null = null;

  constructor(
    candidates: readonly UpstreamAddress[],
    health: Omit<HealthOptions, 'probe'>,
    private readonly stats: ListenerStats,
    private readonly log: Logger,
    private readonly onChange: MasterChange,
  ) {
    this.checks = candidates.map((c) => {
      stats.upstreamUp.set(c.url, 0);
      stats.connectFailures.set(c.url, 0);
      return new HealthCheck(c, { ...health, probe: 'role' }, (up, reason) => {
        stats.upstreamUp.set(c.url, up ? 1 : 0);
        log.info(up ? 'candidate answered' : 'candidate down', { listener: stats.listener, upstream: c.url, reason });
        this.choose(reason);
      });
    });
  }

  current(): UpstreamAddress | null {
    return this.master;
  }
  start(): void {
    for (const c of this.checks) c.start();
  }
  stop(): void {
    for (const c of this.checks) c.stop();
  }
  suspect(): void {
    for (const c of this.checks) c.probeNow();
  }
  ready(): boolean {
    return this.checks.some((c) => c.up && c.role === 'master' && c.upstream.url === this.master?.url);
  }
  status(): UpstreamStatus[] {
    return this.checks.map(statusOf);
  }
  healthOf(url: string): HealthCheck | null {
    return this.checks.find((c) => c.upstream.url === url) ?? null;
  }

  private choose(reason: string): void {
    const isMaster = (c: HealthCheck): boolean => c.up && c.role === 'master';
    const keep = this.checks.find((c) => c.upstream.url === this.master?.url && isMaster(c));
    if (keep) return;
    const next = this.checks.find(isMaster)?.upstream;
    if (next === undefined || next.url === this.master?.url) return;
    const previous = this.master;
    this.master = next;
    if (previous !== null) this.stats.failovers++;
    this.log.warn(previous === null ? 'master found' : 'failover', {
      listener: this.stats.listener,
      old_master: previous?.url ?? null,
      new_master: next.url,
      reason,
    });
    this.onChange(previous, next, reason);
  }
}
