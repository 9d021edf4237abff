/**
 * One process carrying traffic: per contract entry a Listener whose sessions reach the upstream
 * through a dialer over the listener's selector (fixed, candidate list or Sentinel), the metrics
 * registry and the admin endpoint, and the orderly stop that SIGTERM asks for (stop accepting,
 * let replies in flight arrive, then close).
 */
import type { AmbassadorConfig } from './config/settings.js';
import type { Logger } from './log/logger.js';
import { AdminServer } from './admin/adminServer.js';
import { MetricsRegistry } from './metrics/metricsRegistry.js';
import { reportToPrimary } from './metrics/workerMetrics.js';
import { CommandPolicy } from './proxy/commandPolicy.js';
import { Listener } from './proxy/listener.js';
import type { ListenerRuntime } from './proxy/listenerRuntime.js';
import { RequestGate } from './proxy/requestGate.js';
import { TRAITS } from './resp/commandTraits.js';
import { describeTarget } from './config/listenerSpec.js';
import type { Runtime } from './runtime.js';
import { UpstreamDialer } from './upstream/dialer.js';
import { upstreamAuth } from './upstream/upstreamAuth.js';
import { UpstreamProbes } from './upstream/upstreamProbes.js';
import { SharedPool } from './upstream/sharedPool.js';

export class Ambassador implements Runtime {
  private readonly listeners: Listener[] = [];
  private readonly metrics = new MetricsRegistry(TRAITS.names);
  private readonly probes: UpstreamProbes;
  /** AMBASSADOR_UPSTREAM_MODE=shared: each listener's shared connections. */
  private readonly pools: SharedPool[] = [];
  private admin: AdminServer | null = null;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly log: Logger,
    /** A worker of AMBASSADOR_WORKERS: the primary serves the admin endpoint with these metrics added. */
    worker = false,
  ) {
    if (worker) reportToPrimary(this.metrics.registry);
    const auth = upstreamAuth(config);
    const byName = new Map<string, { listener: Listener; pool: SharedPool | null }>();
    this.probes = new UpstreamProbes(config, auth, (name) => this.metrics.forListener(name), log, (name, reason) => {
      const entry = byName.get(name);
      entry?.listener.upstreamChanged(reason);
      entry?.pool?.retarget(reason);
    });
    const policy = config.policy ? new CommandPolicy(config.policy) : null;
    const gated = policy !== null || config.requirepass !== null;
    const newGate = (): RequestGate | null => (gated ? new RequestGate(policy, config.requirepass) : null);
    for (const spec of config.listeners) {
      const stats = this.metrics.forListener(spec.name);
      const dialSettings = { connectTimeoutMs: config.connectTimeoutMs, tcpKeepaliveMs: config.tcpKeepaliveMs, tls: config.tls, preamble: auth };
      const dialer = new UpstreamDialer(this.probes.selector(spec.name), dialSettings, stats, log);
      const pool =
        config.upstreamMode === 'shared'
          ? new SharedPool(config.shared.connections, dialer, { limits: config.limits, preamble: auth, unavailableWaitMs: config.unavailableWaitMs }, stats, log)
          : null;
      if (pool !== null) this.pools.push(pool);
      const runtime: ListenerRuntime = {
        name: spec.name,
        log,
        stats,
        perCommand: config.metrics,
        upstreamAuth: auth,
        sharedPool: pool,
        cluster: null,
        settings: {
          limits: config.limits,
          maxPendingCommands: config.maxPendingCommands,
          idleTimeoutMs: config.idleTimeoutMs,
          tcpKeepaliveMs: config.tcpKeepaliveMs,
          onUpstreamLoss: config.onUpstreamLoss,
          connectWindowMs: config.connectWindowMs,
          unavailableWaitMs: config.unavailableWaitMs,
          sharedMaxFrameBytes: config.shared.maxFrameBytes,
          clientOutputLimitBytes: config.shared.clientOutputLimitBytes,
        },
      };
      const listener = new Listener(runtime, spec.port, dialer, newGate, config.maxClients);
      byName.set(spec.name, { listener, pool });
      this.listeners.push(listener);
    }
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  async start(): Promise<void> {
    for (const note of this.config.notes) this.log.info('config note', { note });
    for (const [i, l] of this.listeners.entries()) {
      try {
        await l.listen(this.config.bindHost);
      } catch (err) {
        throw new Error(`cannot listen on port ${l.port} for ${l.name}: ${(err as Error).message}`);
      }
      const spec = this.config.listeners[i]!;
      this.log.info('listening', { listener: l.name, port: l.port, upstream: describeTarget(spec.target), source: spec.source });
    }
    this.probes.start();
    for (const p of this.pools) p.start();
    if (this.config.admin) {
      this.admin = new AdminServer(this.metrics, this.probes, this.log);
      try {
        await this.admin.listen(this.config.admin);
      } catch (err) {
        throw new Error(`cannot listen on admin address ${this.config.admin.host}:${this.config.admin.port}: ${(err as Error).message}`);
      }
      this.log.info('admin listening', { address: `${this.config.admin.host}:${this.admin.port}` });
    }
  }

  /** Stops accepting, waits up to the shutdown timeout for replies in flight, then closes all. */
  async stop(): Promise<void> {
    this.probes.stop();
    for (const l of this.listeners) l.stopAccepting();
    const sessions = this.listeners.flatMap((l) => [...l.sessions]);
    const inFlight = sessions.reduce((n, s) => n + s.pendingCommands, 0);
    this.log.info('stopping', { sessions: sessions.length, commands_in_flight: inFlight, timeout_ms: this.config.shutdownTimeoutMs });
    for (const s of sessions) s.drain();
    const deadline = Date.now() + this.config.shutdownTimeoutMs;
    while (this.listeners.some((l) => l.sessions.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const left = this.listeners.flatMap((l) => [...l.sessions]);
    if (left.length > 0) {
      this.log.warn('shutdown timeout: closing sessions still waiting for replies', { sessions: left.length });
      for (const s of left) s.destroy();
    }
    for (const p of this.pools) p.close();
    await this.admin?.close();
  }
}
