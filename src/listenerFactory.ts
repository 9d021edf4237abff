/**
 * Builds listeners the same way wherever they come from (the contract's entries at start, a
 * Redis Cluster's nodes as they appear): the listener's counters, its dialer over the selector
 * that decides its upstream, its shared connections in shared mode, the gate and the settings.
 */
import type { AmbassadorConfig, UpstreamLoss } from './config/settings.js';
import type { Logger } from './log/logger.js';
import type { ListenerStats } from './metrics/listenerStats.js';
import type { MetricsRegistry } from './metrics/metricsRegistry.js';
import { HotKeys } from './observe/hotKeys.js';
import { SlowLog } from './observe/slowLog.js';
import { CommandPolicy } from './proxy/commandPolicy.js';
import { Listener } from './proxy/listener.js';
import type { ClusterRuntime, ListenerRuntime } from './proxy/listenerRuntime.js';
import { RequestGate } from './proxy/requestGate.js';
import type { SecretStore } from './secrets/secretStore.js';
import { listenerAuth, type SessionAuth } from './secrets/sessionAuth.js';
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
  /** The process's slow log (AMBASSADOR_SLOWLOG_MS), shared by every listener; null when off. */
  readonly slowLog: SlowLog | null;
  /** Each listener's hot keys by name (AMBASSADOR_HOTKEYS=on; empty when off), node listeners too. */
  readonly hotKeys = new Map<string, HotKeys>();

  /** How sessions authenticate upstream unless a client certificate says otherwise; null: they do not. */
  private readonly auth: SessionAuth | null;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly metrics: MetricsRegistry,
    private readonly log: Logger,
    /** The secrets in force: asked at every handshake, upstream connect and AUTH, so reloads reach new listeners too. */
    readonly store: SecretStore,
  ) {
    const policy = config.policy ? new CommandPolicy(config.policy) : null;
    const gated = policy !== null || config.requirepass !== null;
    const requirepass = config.requirepass === null ? null : () => store.requirepass();
    this.newGate = () => (gated ? new RequestGate(policy, requirepass) : null);
    this.auth = config.upstreamCredentials === null ? null : listenerAuth(store);
    this.slowLog = config.slowLog.thresholdMs !== null ? new SlowLog(config.slowLog, log) : null;
  }

  /** The ambassador's own AUTH for a new upstream connection, as it is now; or null. */
  readonly preamble = (): Buffer | null => this.store.upstreamPreamble();

  /** Health probing as configured (AMBASSADOR_HEALTH_*), for a selector of one's own. */
  get health(): Omit<HealthOptions, 'probe'> {
    const c = this.config;
    return { intervalMs: c.healthIntervalMs, timeoutMs: c.healthTimeoutMs, failuresBeforeDown: c.healthFailures, preamble: this.preamble, tls: this.store.upstreamTls };
  }

  statsOf(name: string): ListenerStats {
    return this.metrics.forListener(name);
  }

  /**
   * `cluster`: the listener fronts a Redis Cluster node; `loss` overrides AMBASSADOR_ON_UPSTREAM_LOSS;
   * `tlsAs`: the configured port whose AMBASSADOR_TLS_LISTEN_PORTS choice it follows (a cluster's
   * node listeners speak what their entry speaks).
   */
  make(name: string, port: number, selector: UpstreamSelector, opts: { cluster?: ClusterRuntime; loss?: UpstreamLoss; tlsAs?: number } = {}): MadeListener {
    const config = this.config;
    const store = this.store;
    const stats = this.statsOf(name);
    const dialSettings = { connectTimeoutMs: config.connectTimeoutMs, tcpKeepaliveMs: config.tcpKeepaliveMs, tls: store.upstreamTls };
    const dialer = new UpstreamDialer(selector, dialSettings, stats, this.log);
    const sharedSettings = { limits: config.limits, preamble: this.preamble, unavailableWaitMs: config.unavailableWaitMs };
    const pool = config.upstreamMode === 'shared' ? new SharedPool(config.shared.connections, dialer, sharedSettings, stats, this.log) : null;
    if (pool !== null) {
      this.pools.push(pool);
      if (this.poolsStarted) pool.start();
    }
    const hotKeys = config.hotKeys ? (this.hotKeys.get(name) ?? new HotKeys()) : null;
    if (hotKeys !== null) this.hotKeys.set(name, hotKeys);
    const runtime: ListenerRuntime = {
      name,
      log: this.log,
      stats,
      perCommand: config.metrics,
      upstreamAuth: this.auth,
      sharedPool: pool,
      cluster: opts.cluster ?? null,
      slowLog: this.slowLog,
      hotKeys,
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
    const listen = config.tlsListen;
    const tls = listen?.ports.has(opts.tlsAs ?? port) ? { clientAuth: listen.clientAuth, handshakeTimeoutMs: listen.handshakeTimeoutMs, store } : null;
    return { listener: new Listener(runtime, port, dialer, this.newGate, config.maxClients, tls), pool };
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
