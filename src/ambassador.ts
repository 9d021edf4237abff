/**
 * Wires the parts together for one process: a Listener per contract entry, a HealthCheck per
 * upstream, the metrics registry and the admin endpoint, and the orderly stop that SIGTERM asks
 * for (stop accepting, let replies in flight arrive, then close).
 */
import type { AmbassadorConfig } from './config/loadConfig.js';
import type { Logger } from './log/logger.js';
import { AdminServer, type Readiness } from './admin/adminServer.js';
import { MetricsRegistry } from './metrics/metricsRegistry.js';
import { CommandIndex } from './resp/commandIndex.js';
import { HealthCheck } from './proxy/healthCheck.js';
import { Listener } from './proxy/listener.js';
import { specialIds } from './proxy/replyMatcher.js';

export class Ambassador implements Readiness {
  readonly listeners: Listener[] = [];
  readonly metrics: MetricsRegistry;
  private readonly checks: { listener: string; check: HealthCheck }[] = [];
  private admin: AdminServer | null = null;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly log: Logger,
  ) {
    const index = new CommandIndex();
    const ids = specialIds(index);
    this.metrics = new MetricsRegistry(index.names);
    for (const spec of config.listeners) {
      const stats = this.metrics.forListener(spec.name);
      const upstream = spec.upstreams[0]!;
      stats.upstreamUp.set(upstream.url, 0);
      this.listeners.push(
        new Listener({
          listener: spec,
          log,
          index,
          ids,
          stats,
          perCommand: config.metrics,
          limits: config.limits,
          connectTimeoutMs: config.connectTimeoutMs,
          connectWindowMs: config.connectWindowMs,
          maxPendingCommands: config.maxPendingCommands,
          upstream: () => upstream,
        }),
      );
      const check = new HealthCheck(
        upstream,
        { intervalMs: config.healthIntervalMs, timeoutMs: config.healthTimeoutMs, failuresBeforeDown: config.healthFailures },
        (up, reason) => {
          stats.upstreamUp.set(upstream.url, up ? 1 : 0);
          const fields = { listener: spec.name, upstream: upstream.url, reason };
          if (up) log.info('upstream up', fields);
          else log.warn('upstream down', fields);
        },
      );
      this.checks.push({ listener: spec.name, check });
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
      const spec = this.config.listeners.find((s) => s.name === l.name)!;
      this.log.info('listening', { listener: l.name, port: l.port, upstream: spec.upstreams[0]!.url, source: spec.source });
    }
    for (const { check } of this.checks) check.start();
    if (this.config.admin) {
      this.admin = new AdminServer(this.metrics, this, this.log);
      try {
        await this.admin.listen(this.config.admin);
      } catch (err) {
        throw new Error(`cannot listen on admin address ${this.config.admin.host}:${this.config.admin.port}: ${(err as Error).message}`);
      }
      this.log.info('admin listening', { address: `${this.config.admin.host}:${this.admin.port}` });
    }
  }

  status(): ReturnType<Readiness['status']> {
    const listeners: ReturnType<Readiness['status']>['listeners'] = {};
    let ready = true;
    for (const { listener, check } of this.checks) {
      ready &&= check.up;
      listeners[listener] = check.up
        ? { upstream: check.upstream.url, up: true }
        : { upstream: check.upstream.url, up: false, error: check.lastError };
    }
    return { ready, listeners };
  }

  /** Stops accepting, waits up to the shutdown timeout for replies in flight, then closes all. */
  async stop(): Promise<void> {
    for (const { check } of this.checks) check.stop();
    await Promise.all(this.listeners.map((l) => l.close().catch(() => {})));
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
    await this.admin?.close();
  }
}
