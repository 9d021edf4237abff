/**
 * Wires the parts together for one process: per contract entry a Listener and the selector that
 * decides its upstream (fixed, candidate list or Sentinel), the metrics registry and the admin
 * endpoint, and the orderly stop that SIGTERM asks for (stop accepting, let replies in flight
 * arrive, then close).
 */
import type { AmbassadorConfig } from './config/loadConfig.js';
import type { ListenerSpec } from './config/listenerContract.js';
import type { Logger } from './log/logger.js';
import { AdminServer, type Readiness } from './admin/adminServer.js';
import type { ListenerStats } from './metrics/listenerStats.js';
import { MetricsRegistry } from './metrics/metricsRegistry.js';
import { CommandIndex } from './resp/commandIndex.js';
import { Listener } from './proxy/listener.js';
import { specialIds } from './proxy/replyMatcher.js';
import { stateIds } from './proxy/sessionState.js';
import { CommandPolicy } from './proxy/commandPolicy.js';
import { RequestGate, gateIds } from './proxy/requestGate.js';
import { encodeCommand } from './resp/commandCodec.js';
import { CandidateSelector } from './failover/candidateSelector.js';
import { SentinelSelector } from './failover/sentinelSelector.js';
import { StaticSelector } from './failover/staticSelector.js';
import type { MasterChange, UpstreamSelector } from './failover/upstreamSelector.js';

/** A burst of sessions losing their upstream at once asks the selector once, not once each. */
const SUSPECT_INTERVAL_MS = 200;

export class Ambassador implements Readiness {
  readonly listeners: Listener[] = [];
  readonly metrics: MetricsRegistry;
  private readonly selectors: { name: string; selector: UpstreamSelector }[] = [];
  private admin: AdminServer | null = null;
  /** AUTH for the upstream with the ambassador's own credentials, or null. */
  private readonly preamble: Buffer | null;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly log: Logger,
  ) {
    const index = new CommandIndex();
    const ids = specialIds(index);
    const sids = stateIds(index);
    const gids = gateIds(index);
    this.metrics = new MetricsRegistry(index.names);
    const policy = config.policy ? new CommandPolicy(index, config.policy) : null;
    const gated = policy !== null || config.requirepass !== null;
    const creds = config.upstreamCredentials;
    this.preamble = creds
      ? encodeCommand(creds.username === null ? ['AUTH', creds.password] : ['AUTH', creds.username, creds.password])
      : null;
    const upstreamPreamble = this.preamble ? [{ bytes: this.preamble, cmd: sids.auth }] : [];
    for (const spec of config.listeners) {
      const stats = this.metrics.forListener(spec.name);
      let listener: Listener | null = null;
      const selector = this.selectorFor(spec, stats, (_prev, _next, reason) => listener?.upstreamChanged(reason));
      let lastSuspect = 0;
      listener = new Listener({
        listener: spec,
        log,
        index,
        ids,
        stateIds: sids,
        stats,
        perCommand: config.metrics,
        limits: config.limits,
        connectTimeoutMs: config.connectTimeoutMs,
        connectWindowMs: config.connectWindowMs,
        unavailableWaitMs: config.unavailableWaitMs,
        maxPendingCommands: config.maxPendingCommands,
        onUpstreamLoss: config.onUpstreamLoss,
        tcpKeepaliveMs: config.tcpKeepaliveMs,
        tls: config.tls,
        idleTimeoutMs: config.idleTimeoutMs,
        upstreamPreamble,
        newGate: () => (gated ? new RequestGate(index, gids, policy, config.requirepass) : null),
        rejected: (cmd, reason) => stats.reject(cmd, reason),
        upstream: () => selector.current(),
        identityOf: (addr) => selector.healthOf(addr.url)?.identity() ?? null,
        verifyUpstream: (addr, before, done) => {
          const health = selector.healthOf(addr.url);
          if (health === null) done(false, 'the upstream is no longer probed (the master moved)');
          else health.verify(before, done);
        },
        suspect: (reason) => {
          const now = Date.now();
          if (now - lastSuspect < SUSPECT_INTERVAL_MS) return;
          lastSuspect = now;
          log.debug('upstream suspected', { listener: spec.name, reason });
          selector.suspect(reason);
        },
      }, config.maxClients);
      this.listeners.push(listener);
      this.selectors.push({ name: spec.name, selector });
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
      this.log.info('listening', {
        listener: l.name,
        port: l.port,
        upstream: spec.sentinel
          ? `sentinel ${spec.sentinel.masterName}@${spec.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`
          : spec.upstreams.map((u) => u.url).join(','),
        source: spec.source,
      });
    }
    for (const { selector } of this.selectors) selector.start();
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

  /**
   * Only the upstream selectors, no listeners: the primary of AMBASSADOR_WORKERS runs these to
   * answer /readyz while its workers carry the traffic.
   */
  startProbes(): void {
    for (const { selector } of this.selectors) selector.start();
  }

  stopProbes(): void {
    for (const { selector } of this.selectors) selector.stop();
  }

  status(): ReturnType<Readiness['status']> {
    const listeners: ReturnType<Readiness['status']>['listeners'] = {};
    let ready = true;
    for (const { name, selector } of this.selectors) {
      const up = selector.ready();
      ready &&= up;
      listeners[name] = { ready: up, master: selector.current()?.url ?? null, upstreams: selector.status() };
    }
    return { ready, listeners };
  }

  /** Stops accepting, waits up to the shutdown timeout for replies in flight, then closes all. */
  async stop(): Promise<void> {
    for (const { selector } of this.selectors) selector.stop();
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
    await this.admin?.close();
  }

  private selectorFor(spec: ListenerSpec, stats: ListenerStats, onChange: MasterChange): UpstreamSelector {
    const health = {
      intervalMs: this.config.healthIntervalMs,
      timeoutMs: this.config.healthTimeoutMs,
      failuresBeforeDown: this.config.healthFailures,
      preamble: this.preamble,
      tls: this.config.tls,
    };
    if (spec.sentinel) {
      return new SentinelSelector(spec.sentinel, health, this.config.sentinelPollMs, stats, this.log, onChange, this.config.tlsMasters);
    }
    if (spec.upstreams.length > 1) return new CandidateSelector(spec.upstreams, health, stats, this.log, onChange);
    return new StaticSelector(spec.upstreams[0]!, health, stats, this.log);
  }
}
