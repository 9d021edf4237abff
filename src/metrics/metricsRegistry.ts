/**
 * Publishes the declared metrics through one prom-client Registry. Table-backed metrics are
 * registered as objects with a get() that reads every listener's ListenerStats at scrape time;
 * prom-client's default process metrics (CPU, RSS, heap, event-loop lag) join them, prefixed.
 */
import client from 'prom-client';
import { PIN_REASONS } from '../resp/commandTraits.js';
import { CERT_ROLES, DISCONNECT_CAUSES, DURATION_BUCKETS, ERROR_CODES, MATERIALS, METRIC_PREFIX, METRICS, PUSH_KINDS, REDIRECT_KINDS, REJECT_REASONS, REPLY_SIZE_BUCKETS, TLS_FAILURE_REASONS, type MetricDef } from './metricTable.js';
import { ListenerStats, type Histograms } from './listenerStats.js';
import { ReloadStats } from './reloadStats.js';

/** Whether each listener has a usable master now (the upstream probes know; read at scrape time). */
export interface MasterSource {
  masters(): readonly { readonly listener: string; readonly kind: string; readonly known: boolean }[];
}

type Labels = Record<string, string | number>;
interface Value {
  value: number;
  labels: Labels;
  metricName?: string;
}

export class MetricsRegistry {
  readonly registry = new client.Registry();
  /** Reloads of secrets: process-wide, not per listener. */
  readonly reloads = new ReloadStats();
  private readonly stats: ListenerStats[] = [];
  private masterSource: MasterSource | null = null;

  constructor(private readonly commandNames: readonly string[]) {
    client.collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    const read: Record<keyof typeof METRICS, () => Value[]> = {
      commands: () => this.perCommand((s) => s.commands),
      commandDuration: () => this.histogram(METRICS.commandDuration, DURATION_BUCKETS, (s) => s.durations),
      blockingDuration: () => this.histogram(METRICS.blockingDuration, DURATION_BUCKETS, (s) => s.blockingDurations),
      replySize: () => this.histogram(METRICS.replySize, REPLY_SIZE_BUCKETS, (s) => s.replySizes),
      slowCommands: () => this.perCommand((s) => s.slowCommands),
      commandErrors: () => this.perCommandAnd(ERROR_CODES, 'error', (s) => s.errors),
      commandsRejected: () => this.perCommandAnd(REJECT_REASONS, 'reason', (s) => s.rejected),
      pushMessages: () =>
        this.stats.flatMap((s) =>
          PUSH_KINDS.map((kind, k) => ({ labels: { listener: s.listener, kind }, value: s.push[k]! })).filter((v) => v.value > 0),
        ),
      clientConnections: () => this.perListener((s) => s.clients),
      clientConnectionsMax: () => this.perListener((s) => s.maxClients),
      clientConnectionsTotal: () => this.perListener((s) => s.clientsTotal),
      clientConnectionsRefused: () => this.perListener((s) => s.clientsRefused),
      bytes: () =>
        this.stats.flatMap((s) => [
          { labels: { listener: s.listener, direction: 'in' }, value: s.bytesIn },
          { labels: { listener: s.listener, direction: 'out' }, value: s.bytesOut },
        ]),
      protocolErrors: () =>
        this.stats.flatMap((s) => [
          { labels: { listener: s.listener, side: 'client' }, value: s.clientProtocolErrors },
          { labels: { listener: s.listener, side: 'upstream' }, value: s.upstreamProtocolErrors },
        ]),
      upstreamUp: () => this.perUpstream((s) => s.upstreamUp),
      masterKnown: () => (this.masterSource?.masters() ?? []).map((m) => ({ labels: { listener: m.listener, kind: m.kind }, value: m.known ? 1 : 0 })),
      upstreamConnectFailures: () => this.perUpstream((s) => s.connectFailures),
      upstreamReconnects: () => this.perListener((s) => s.reconnects),
      upstreamDisconnects: () =>
        this.stats.flatMap((s) => DISCONNECT_CAUSES.map((cause, k) => ({ labels: { listener: s.listener, cause }, value: s.disconnects[k]! }))),
      replayFailures: () => this.perListener((s) => s.replayFailures),
      sharedConnections: () => this.perListener((s) => s.sharedConnections),
      clusterRedirects: () =>
        this.stats.flatMap((s) => REDIRECT_KINDS.map((kind, k) => ({ labels: { listener: s.listener, kind }, value: s.redirects[k]! }))),
      pinnedClients: () =>
        // Every reason at 0 too: a bounded set, and a panel or alert has a series from the start.
        this.stats.flatMap((s) => PIN_REASONS.map((reason, k) => ({ labels: { listener: s.listener, reason }, value: s.pins[k]! }))),
      failovers: () => this.perListener((s) => s.failovers),
      tlsHandshakeFailures: () => this.perListenerAnd(TLS_FAILURE_REASONS, 'reason', (s) => s.tlsFailures),
      // Computed at scrape time, so the gauge counts down without anything being re-read.
      tlsCertificateExpiry: () => {
        const now = Date.now();
        return this.perListenerAnd(CERT_ROLES, 'role', (s) => s.certificateExpires.map((ms) => (ms - now) / 1000));
      },
      reloads: () => MATERIALS.map((material, i) => ({ labels: { material }, value: this.reloads.succeeded[i]! })),
      reloadFailures: () => MATERIALS.map((material, i) => ({ labels: { material }, value: this.reloads.failed[i]! })),
    };
    for (const key of Object.keys(METRICS) as (keyof typeof METRICS)[]) {
      const def: MetricDef = METRICS[key];
      this.registry.registerMetric({
        name: def.name,
        help: def.help,
        type: def.type,
        get: async () => ({ name: def.name, help: def.help, type: def.type, values: read[key](), aggregator: def.aggregator ?? 'sum' }),
      } as unknown as client.Metric);
    }
  }

  /** The counters one listener's sessions write to (made on first use). */
  forListener(listener: string): ListenerStats {
    let s = this.stats.find((x) => x.listener === listener);
    if (s === undefined) {
      s = new ListenerStats(listener, this.commandNames.length);
      this.stats.push(s);
    }
    return s;
  }

  /** Where master_known is read from at each scrape. */
  watchMasters(source: MasterSource): void {
    this.masterSource = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private perListener(pick: (s: ListenerStats) => number): Value[] {
    return this.stats.map((s) => ({ labels: { listener: s.listener }, value: pick(s) }));
  }

  /** One sample per listener and per value of a bounded label, zeros included. */
  private perListenerAnd(values: readonly string[], label: string, pick: (s: ListenerStats) => Float64Array): Value[] {
    return this.stats.flatMap((s) => {
      const a = pick(s);
      return values.map((v, i) => ({ labels: { listener: s.listener, [label]: v }, value: a[i]! }));
    });
  }

  private perUpstream(pick: (s: ListenerStats) => Map<string, number>): Value[] {
    return this.stats.flatMap((s) =>
      [...pick(s)].map(([upstream, value]) => ({ labels: { listener: s.listener, upstream }, value })),
    );
  }

  private perCommand(pick: (s: ListenerStats) => Float64Array): Value[] {
    const out: Value[] = [];
    for (const s of this.stats) {
      const a = pick(s);
      for (let c = 0; c < a.length; c++) {
        if (a[c]! > 0) out.push({ labels: { listener: s.listener, cmd: this.commandNames[c]! }, value: a[c]! });
      }
    }
    return out;
  }

  /** A per-command table with a second label (`values` in slot order), non-zero cells only. */
  private perCommandAnd(values: readonly string[], label: string, pick: (s: ListenerStats) => Float64Array): Value[] {
    const out: Value[] = [];
    const n = values.length;
    for (const s of this.stats) {
      const a = pick(s);
      for (let i = 0; i < a.length; i++) {
        const v = a[i]!;
        if (v > 0) {
          out.push({ labels: { listener: s.listener, cmd: this.commandNames[Math.floor(i / n)]!, [label]: values[i % n]! }, value: v });
        }
      }
    }
    return out;
  }

  /** `les`: the bucket bounds as published (the histogram's own are in its observe() unit). */
  private histogram(def: MetricDef, les: readonly number[], pick: (s: ListenerStats) => Histograms): Value[] {
    const out: Value[] = [];
    for (const s of this.stats) {
      const h = pick(s);
      const slots = h.slots;
      for (let c = 0; c < s.commandCount; c++) {
        let count = 0;
        for (let b = 0; b < slots; b++) count += h.buckets[c * slots + b]!;
        if (count === 0) continue;
        const labels = { listener: s.listener, cmd: this.commandNames[c]! };
        let cumulative = 0;
        for (let b = 0; b < slots; b++) {
          cumulative += h.buckets[c * slots + b]!;
          const le = b < les.length ? les[b]! : '+Inf';
          out.push({ metricName: `${def.name}_bucket`, labels: { ...labels, le }, value: cumulative });
        }
        out.push({ metricName: `${def.name}_sum`, labels, value: h.sums[c]! });
        out.push({ metricName: `${def.name}_count`, labels, value: count });
      }
    }
    return out;
  }
}
