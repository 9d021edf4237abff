/**
 * Builds listeners the same way wherever they come from (the contract's entries at start, a
 * Redis Cluster's nodes as they appear): the listener's counters, its dialer over the selector
 * that decides its upstream, its shared connections in shared mode, the gate and the settings.
 */
import type { AmbassadorConfig, UpstreamLoss } from './config/settings.js';
import type { Logger } from './log/logger.js';
import type { ListenerStats } from './metrics/listenerStats.js';
import type { MetricsRegistry } from './metrics/metricsRegistry.js';
import { CommandPolicy } from './proxy/commandPolicy.js';
import { Listener } from './proxy/listener.js';
import type { ClusterRuntime, ListenerRuntime } from './proxy/listenerRuntime.js';
import { RequestGate } from './proxy/requestGate.js';
import { UpstreamDialer } from './upstream/dialer.js';
import type { HealthOptions } from './upstream/healthCheck.js';
import { SharedPool } from './upstream/sharedPool.js';
import type { UpstreamSelector } from './upstream/upstreamSelector.js';

export interface MadeListener {
  readonly listener: Listener;
  /** Its shared connections (shared mode), or null. */
  readonly pool: SharedPool | null;
}

export class ListenerFactory {
  readonly pools: SharedPool[] = [];
  private readonly newGate: () => RequestGate | null;
  private poolsStarted = false;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly metrics: MetricsRegistry,
    private readonly log: Logger,
    /** The ambassador's own AUTH for every upstream connection, or null. */
    readonly auth: Buffer | null,
  ) {
    const policy = config.policy ? new CommandPolicy(config.policy) : null;
    const gated = policy !== null || config.requirepass !== null;
    this.newGate = () => (gated ? new RequestGate(policy, config.requirepass) : null);
  }

  /** Health probing as configured (AMBASSADOR_HEALTH_*), for a selector of one's own. */
  get health(): Omit<HealthOptions, 'probe'> {
    const c = this.config;
    return { intervalMs: c.healthIntervalMs, timeoutMs: c.healthTimeoutMs, failuresBeforeDown: c.healthFailures, preamble: this.auth, tls: c.tls };
  }

  statsOf(name: string): ListenerStats {
    return this.metrics.forListener(name);
  }

  /** `cluster`: the listener fronts a Redis Cluster node; `loss` overrides AMBASSADOR_ON_UPSTREAM_LOSS. */
  make(name: string, port: number, selector: UpstreamSelector, opts: { cluster?: ClusterRuntime; loss?: UpstreamLoss } = {}): MadeListener {
    const config = this.config;
    const stats = this.statsOf(name);
    const dialSettings = { connectTimeoutMs: config.connectTimeoutMs, tcpKeepaliveMs: config.tcpKeepaliveMs, tls: config.tls, preamble: this.auth };
    const dialer = new UpstreamDialer(selector, dialSettings, stats, this.log);
    const pool =
      config.upstreamMode === 'shared'
        ? new SharedPool(config.shared.connections, dialer, { limits: config.limits, preamble: this.auth, unavailableWaitMs: config.unavailableWaitMs }, stats, this.log)
        : null;
    if (pool !== null) {
      this.pools.push(pool);
      if (this.poolsStarted) pool.start();
    }
    const runtime: ListenerRuntime = {
      name,
      log: this.log,
      stats,
      perCommand: config.metrics,
      upstreamAuth: this.auth,
      sharedPool: pool,
      cluster: opts.cluster ?? null,
      settings: {
        limits: config.limits,
        maxPendingCommands: config.maxPendingCommands,
        idleTimeoutMs: config.idleTimeoutMs,
        tcpKeepaliveMs: config.tcpKeepaliveMs,
        onUpstreamLoss: opts.loss ?? config.onUpstreamLoss,
        connectWindowMs: config.connectWindowMs,
        unavailableWaitMs: config.unavailableWaitMs,
        sharedMaxFrameBytes: config.shared.maxFrameBytes,
        clientOutputLimitBytes: config.shared.clientOutputLimitBytes,
      },
    };
    return { listener: new Listener(runtime, port, dialer, this.newGate, config.maxClients), pool };
  }

  /** The shared connections of the listeners made so far connect; later ones at once. */
  startPools(): void {
    this.poolsStarted = true;
    for (const p of this.pools) p.start();
  }

  closePools(): void {
    for (const p of this.pools) p.close();
  }
}
