/**
 * One process carrying traffic: per contract entry a Listener whose sessions reach the upstream
 * through a dialer over the listener's selector (fixed, candidate list or Sentinel), the metrics
 * registry and the admin endpoint, and the orderly stop that SIGTERM asks for (stop accepting,
 * let replies in flight arrive, then close).
 */
import type { AmbassadorConfig } from './config/settings.js';
import type { Logger } from './log/logger.js';
import { AdminServer } from './admin/adminServer.js';
import { ClusterGroup } from './cluster/clusterGroup.js';
import { ConfigError } from './config/configError.js';
import { describeTarget } from './config/listenerSpec.js';
import { ListenerFactory, type MadeListener } from './listenerFactory.js';
import { MetricsRegistry } from './metrics/metricsRegistry.js';
import { answerPrimary, ObserveViews } from './admin/observeViews.js';
import { reportToPrimary } from './metrics/workerMetrics.js';
import type { Listener } from './proxy/listener.js';
import { TRAITS } from './resp/commandTraits.js';
import type { Runtime } from './runtime.js';
import { Secrets } from './secrets/secrets.js';
import { UpstreamProbes, type Readiness } from './upstream/upstreamProbes.js';

export class Ambassador implements Runtime {
  private readonly listeners: Listener[] = [];
  private readonly metrics = new MetricsRegistry(TRAITS.names);
  private readonly probes: UpstreamProbes;
  private readonly factory: ListenerFactory;
  /** Redis Cluster entries, each with its node listeners. */
  private readonly clusters: ClusterGroup[] = [];
  private readonly secrets: Secrets;
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
    this.factory = new ListenerFactory(config, this.metrics, log, store);
    const made = new Map<string, MadeListener>();
    const onUpstreamChanged = (name: string, reason: string): void => {
      const m = made.get(name);
      m?.listener.upstreamChanged(reason);
      m?.pool?.retarget(reason);
    };
    this.probes = new UpstreamProbes(config, this.factory.preamble, statsOf, log, onUpstreamChanged, store.upstreamTls);
    this.metrics.watchMasters(this.probes);
    this.views = new ObserveViews(this.factory.slowLog, config.hotKeys ? this.factory.hotKeys : null);
    if (worker) answerPrimary(this.views);
    for (const spec of config.listeners) {
      if (spec.target.kind === 'cluster') {
        const settings = { ...config.cluster, tls: store.upstreamTls, timeoutMs: config.connectTimeoutMs };
        this.clusters.push(new ClusterGroup({ ...spec, target: spec.target }, this.factory, settings, log));
        continue;
      }
      const m = this.factory.make(spec.name, spec.port, this.probes.selector(spec.name));
      made.set(spec.name, m);
      this.listeners.push(m.listener);
    }
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  async start(): Promise<void> {
    for (const note of this.config.notes) this.log.info('config note', { note });
    for (const l of this.listeners) {
      try {
        await l.listen(this.config.bindHost);
      } catch (err) {
        throw new Error(`cannot listen on port ${l.port} for ${l.name}: ${(err as Error).message}`);
      }
      const spec = this.config.listeners.find((x) => x.name === l.name)!;
      this.log.info('listening', { listener: l.name, port: l.port, upstream: describeTarget(spec.target), source: spec.source, tls: l.secure });
    }
    for (const c of this.clusters) {
      const spec = this.config.listeners.find((x) => x.name === c.entry.name)!;
      try {
        await c.start(this.config.bindHost, this.config.connectWindowMs);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        throw new Error(`cannot listen on port ${c.entry.port} for ${c.entry.name}: ${(err as Error).message}`);
      }
      this.log.info('listening', { listener: c.entry.name, port: c.entry.port, upstream: describeTarget(spec.target), source: spec.source, tls: c.entry.secure });
    }
    this.secrets.start();
    this.probes.start();
    this.factory.startPools();
    if (this.config.admin) {
      const readiness = { status: () => this.status() };
      this.admin = new AdminServer(this.metrics, readiness, this.log, this.views);
      try {
        await this.admin.listen(this.config.admin);
      } catch (err) {
        throw new Error(`cannot listen on admin address ${this.config.admin.host}:${this.config.admin.port}: ${(err as Error).message}`);
      }
      this.log.info('admin listening', { address: `${this.config.admin.host}:${this.admin.port}` });
    }
  }

  /** /readyz: the probes' listeners and each cluster's entry and nodes. */
  private status(): ReturnType<Readiness['status']> {
    const base = this.probes.status();
    const listeners = { ...base.listeners };
    let ready = base.ready;
    for (const c of this.clusters) {
      for (const [name, r] of Object.entries(c.status())) {
        listeners[name] = r;
        ready &&= r.ready;
      }
    }
    return { ready, listeners };
  }

  /** Every listener, the clusters' node listeners included. */
  private allListeners(): Listener[] {
    return [...this.listeners, ...this.clusters.flatMap((c) => c.listeners)];
  }

  /** SIGHUP: re-read every secret file; new handshakes and new upstream connections use what it holds. */
  reload(trigger: string): void {
    this.secrets.reload(trigger);
  }

  /** Stops accepting, waits up to the shutdown timeout for replies in flight, then closes all. */
  async stop(): Promise<void> {
    this.secrets.stop();
    this.probes.stop();
    for (const c of this.clusters) c.stop();
    const all = this.allListeners();
    for (const l of all) l.stopAccepting();
    const sessions = all.flatMap((l) => [...l.sessions]);
    const inFlight = sessions.reduce((n, s) => n + s.pendingCommands, 0);
    this.log.info('stopping', { sessions: sessions.length, commands_in_flight: inFlight, timeout_ms: this.config.shutdownTimeoutMs });
    for (const s of sessions) s.drain();
    const deadline = Date.now() + this.config.shutdownTimeoutMs;
    while (all.some((l) => l.sessions.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const left = all.flatMap((l) => [...l.sessions]);
    if (left.length > 0) {
      this.log.warn('shutdown timeout: closing sessions still waiting for replies', { sessions: left.length });
      for (const s of left) s.destroy();
    }
    this.factory.closePools();
    await this.admin?.close();
  }
}
