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
import { HotKeys } from './observe/hotKeys.js';
import { SlowLog } from './observe/slowLog.js';
import { answerPrimary, ObserveViews } from './admin/observeViews.js';
import { reportToPrimary } from './metrics/workerMetrics.js';
import { CommandPolicy } from './proxy/commandPolicy.js';
import { Listener } from './proxy/listener.js';
import type { ListenerRuntime } from './proxy/listenerRuntime.js';
import { RequestGate } from './proxy/requestGate.js';
import { TRAITS } from './resp/commandTraits.js';
import { describeTarget } from './config/listenerSpec.js';
import type { Runtime } from './runtime.js';
import { Secrets } from './secrets/secrets.js';
import { listenerAuth } from './secrets/sessionAuth.js';
import { UpstreamDialer } from './upstream/dialer.js';
import { UpstreamProbes } from './upstream/upstreamProbes.js';
import { SharedPool } from './upstream/sharedPool.js';

export class Ambassador implements Runtime {
  private readonly listeners: Listener[] = [];
  private readonly metrics = new MetricsRegistry(TRAITS.names);
  private readonly probes: UpstreamProbes;
  private readonly secrets: Secrets;
  /** AMBASSADOR_UPSTREAM_MODE=shared: each listener's shared connections. */
  private readonly pools: SharedPool[] = [];
  private admin: AdminServer | null = null;
  /** /slowlog and /hotkeys: this process's slow log and each listener's hot keys. */
  readonly views: ObserveViews;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly log: Logger,
    /** A worker of AMBASSADOR_WORKERS: the primary serves the admin endpoint with these metrics added. */
    worker = false,
  ) {
    if (worker) reportToPrimary(this.metrics.registry);
    const statsOf = (name: string) => this.metrics.forListener(name);
    this.secrets = new Secrets(config, log, this.metrics.reloads, statsOf);
    const store = this.secrets.store;
    const byName = new Map<string, { listener: Listener; pool: SharedPool | null }>();
    const onUpstreamChanged = (name: string, reason: string): void => {
      const entry = byName.get(name);
      entry?.listener.upstreamChanged(reason);
      entry?.pool?.retarget(reason);
    };
    this.probes = new UpstreamProbes(config, () => store.upstreamPreamble(), statsOf, log, onUpstreamChanged, store.upstreamTls);
    this.metrics.watchMasters(this.probes);
    const policy = config.policy ? new CommandPolicy(config.policy) : null;
    const gated = policy !== null || config.requirepass !== null;
    const requirepass = config.requirepass === null ? null : () => store.requirepass();
    const newGate = (): RequestGate | null => (gated ? new RequestGate(policy, requirepass) : null);
    const auth = config.upstreamCredentials === null ? null : listenerAuth(store);
    const tlsListen = config.tlsListen;
    const slowLog = config.slowLog.thresholdMs !== null ? new SlowLog(config.slowLog, log) : null;
    const hotKeys = new Map<string, HotKeys>();
    this.views = new ObserveViews(slowLog, config.hotKeys ? hotKeys : null);
    if (worker) answerPrimary(this.views);
    for (const spec of config.listeners) {
      const stats = this.metrics.forListener(spec.name);
      const dialSettings = { connectTimeoutMs: config.connectTimeoutMs, tcpKeepaliveMs: config.tcpKeepaliveMs, tls: store.upstreamTls, preamble: store.upstreamPreamble() };
      const dialer = new UpstreamDialer(this.probes.selector(spec.name), dialSettings, stats, log);
      const sharedSettings = { limits: config.limits, preamble: () => store.upstreamPreamble(), unavailableWaitMs: config.unavailableWaitMs };
      const pool = config.upstreamMode === 'shared' ? new SharedPool(config.shared.connections, dialer, sharedSettings, stats, log) : null;
      if (pool !== null) this.pools.push(pool);
      const runtime: ListenerRuntime = {
        name: spec.name,
        log,
        stats,
        perCommand: config.metrics,
        upstreamAuth: auth,
        sharedPool: pool,
        slowLog,
        hotKeys: config.hotKeys ? new HotKeys() : null,
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
      if (runtime.hotKeys !== null) hotKeys.set(spec.name, runtime.hotKeys);
      const tls = tlsListen?.ports.has(spec.port) ? { clientAuth: tlsListen.clientAuth, handshakeTimeoutMs: tlsListen.handshakeTimeoutMs, store } : null;
      const listener = new Listener(runtime, spec.port, dialer, newGate, config.maxClients, tls);
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
      this.log.info('listening', { listener: l.name, port: l.port, upstream: describeTarget(spec.target), source: spec.source, tls: l.secure });
    }
    this.secrets.start();
    this.probes.start();
    for (const p of this.pools) p.start();
    if (this.config.admin) {
      this.admin = new AdminServer(this.metrics, this.probes, this.log, this.views);
      try {
        await this.admin.listen(this.config.admin);
      } catch (err) {
        throw new Error(`cannot listen on admin address ${this.config.admin.host}:${this.config.admin.port}: ${(err as Error).message}`);
      }
      this.log.info('admin listening', { address: `${this.config.admin.host}:${this.admin.port}` });
    }
  }

  /** SIGHUP: re-read every secret file; new handshakes and new upstream connections use what it holds. */
  reload(trigger: string): void {
    this.secrets.reload(trigger);
  }

  /** Stops accepting, waits up to the shutdown timeout for replies in flight, then closes all. */
  async stop(): Promise<void> {
    this.secrets.stop();
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
