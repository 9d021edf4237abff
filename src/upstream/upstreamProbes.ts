/**
 * Every listener's upstream selector (fixed address, candidate list or Sentinel) with its health
 * checks, and the readiness they add up to for /readyz. A process that carries traffic uses them
 * to know where to connect; the primary of AMBASSADOR_WORKERS runs them only to answer /readyz.
 */
import type { ListenerSpec } from '../config/listenerSpec.js';
import type { AmbassadorConfig, TlsSettings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { CandidateSelector } from './candidateSelector.js';
import type { HealthOptions } from './healthCheck.js';
import { SentinelSelector } from './sentinelSelector.js';
import { StaticSelector } from './staticSelector.js';
import type { UpstreamSelector, UpstreamStatus } from './upstreamSelector.js';

export interface ListenerReadiness {
  readonly ready: boolean;
  /** Where the listener's sessions connect now. */
  readonly master: string | null;
  readonly upstreams: readonly UpstreamStatus[];
}

export interface Readiness {
  /** Per listener: ready or not, its master, and each upstream's health (with the error when down). */
  status(): { ready: boolean; listeners: Record<string, ListenerReadiness> };
}

export class UpstreamProbes implements Readiness {
  private readonly selectors = new Map<string, UpstreamSelector>();
  /** How each listener finds its master (the master_known gauge's kind). */
  private readonly kinds = new Map<string, string>();

  constructor(
    config: AmbassadorConfig,
    /** The ambassador's own AUTH for probe connections, or null (a function: the one in force, asked per connection). */
    preamble: HealthOptions['preamble'],
    statsOf: (listener: string) => ListenerStats,
    log: Logger,
    /** The master of `listener` changed. */
    onChange: (listener: string, reason: string) => void,
    /** The upstream TLS material (where it is reloaded, a view of the material in force). */
    tls: TlsSettings = config.tls,
  ) {
    const health: Omit<HealthOptions, 'probe'> = {
      intervalMs: config.healthIntervalMs,
      timeoutMs: config.healthTimeoutMs,
      failuresBeforeDown: config.healthFailures,
      preamble,
      tls,
    };
    for (const spec of config.listeners) {
      if (spec.target.kind === 'cluster') continue; // its group probes each node itself
      const stats = statsOf(spec.name);
      const changed = (_prev: unknown, _next: unknown, reason: string): void => onChange(spec.name, reason);
      this.selectors.set(spec.name, selectorFor(spec, health, config, stats, log, changed));
      this.kinds.set(spec.name, spec.target.kind);
    }
  }

  /** The selector of listener `name` (one exists for every listener of the configuration). */
  selector(name: string): UpstreamSelector {
    const s = this.selectors.get(name);
    if (s === undefined) throw new Error(`no upstream selector for listener ${name}`);
    return s;
  }

  start(): void {
    for (const s of this.selectors.values()) s.start();
  }

  stop(): void {
    for (const s of this.selectors.values()) s.stop();
  }

  /** Per listener: whether it has a master that answers now (the master_known gauge). */
  masters(): { listener: string; kind: string; known: boolean }[] {
    return [...this.selectors].map(([listener, s]) => ({ listener, kind: this.kinds.get(listener)!, known: s.ready() }));
  }

  status(): ReturnType<Readiness['status']> {
    const listeners: Record<string, ListenerReadiness> = {};
    let ready = true;
    for (const [name, selector] of this.selectors) {
      const up = selector.ready();
      ready &&= up;
      listeners[name] = { ready: up, master: selector.current()?.url ?? null, upstreams: selector.status() };
    }
    return { ready, listeners };
  }
}

function selectorFor(
  spec: ListenerSpec,
  health: Omit<HealthOptions, 'probe'>,
  config: AmbassadorConfig,
  stats: ListenerStats,
  log: Logger,
  onChange: (prev: unknown, next: unknown, reason: string) => void,
): UpstreamSelector {
  const t = spec.target;
  switch (t.kind) {
    case 'sentinel':
      return new SentinelSelector(t.sentinel, health, config.sentinelPollMs, stats, log, onChange, config.tlsMasters);
    case 'candidates':
      return new CandidateSelector(t.candidates, health, stats, log, onChange);
    case 'static':
      return new StaticSelector(t.upstream, health, stats, log);
    case 'cluster':
      throw new Error(`listener ${spec.name} fronts a cluster: its ClusterGroup has the selectors`);
  }
}
