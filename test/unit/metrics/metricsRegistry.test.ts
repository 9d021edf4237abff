import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MetricsRegistry } from '../../../src/metrics/metricsRegistry.js';
import { ListenerStats } from '../../../src/metrics/listenerStats.js';
import { DURATION_BUCKETS, ERROR_CODES, METRICS, METRIC_PREFIX, PUSH_KINDS } from '../../../src/metrics/metricTable.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';

const id = (label: string): number => TRAITS.idOf(label);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small Prometheus text-format reader (enough for what prom-client writes). */
function parse(text: string): { samples: Sample[]; help: Map<string, string[]>; type: Map<string, string[]> } {
  const samples: Sample[] = [];
  const help = new Map<string, string[]>();
  const type = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (m !== null) {
      const map = m[1] === 'HELP' ? help : type;
      map.set(m[2]!, [...(map.get(m[2]!) ?? []), m[3]!]);
      continue;
    }
    m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /(\w+)="((?:[^"\\]|\\.)*)",?/y;
    const body = m[2] ?? '';
    for (let pos = 0; pos < body.length; pos = re.lastIndex) {
      re.lastIndex = pos;
      const l = re.exec(body);
      if (l === null) throw new Error(`bad labels: ${body}`);
      if (l[1]! in labels) throw new Error(`label repeated: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, help, type };
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const f = find(samples, name, labels);
  expect(f.length).toBeLessThanOrEqual(1);
  return f[0]?.value;
}

function leLabel(b: number): string {
  return String(b);
}

function fill(s: ListenerStats): void {
  s.commands[id('get')] = 3;
  s.commands[0] = 2;
  s.durations.observe(id('get'), 0.03); // 30 µs
  s.durations.observe(id('get'), 3);
  s.durations.observe(id('get'), 20_000); // above the last bound
  s.durations.observe(0, 1); // unknown command, exactly on the 1 ms bound
  s.blockingDurations.observe(id('blpop'), 1500);
  s.error(id('get'), ERROR_CODES.indexOf('WRONGTYPE'));
  s.error(0, ERROR_CODES.indexOf('ERR'));
  s.error(id('client|setname'), ERROR_CODES.indexOf('other'));
  s.push[PUSH_KINDS.indexOf('message')] = 4;
  s.push[PUSH_KINDS.indexOf('monitor')] = 1;
  s.clients = 1;
  s.clientsTotal = 5;
  s.bytesIn = 100;
  s.bytesOut = 200;
  s.clientProtocolErrors = 1;
  s.upstreamUp.set('tcp://10.0.0.5:6379', 1);
  s.connectFailed('tcp://10.0.0.5:6379');
  s.connectFailed('tcp://10.0.0.5:6379');
  s.reconnects = 2;
  s.failovers = 1;
  s.reject(id('flushall'), 'policy');
  s.clientsRefused = 1;
  s.disconnected('closed_by_server');
  s.disconnected('lost');
  s.replayFailed();
}

describe('MetricsRegistry', () => {
  it('declares every metric of the table with its HELP and TYPE, once', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    fill(reg.forListener('redis'));
    const { help, type } = parse(await reg.metrics());
    for (const def of Object.values(METRICS)) {
      expect(def.name.startsWith(METRIC_PREFIX)).toBe(true);
      expect([def.name, type.get(def.name)]).toEqual([def.name, [def.type]]);
      expect([def.name, help.get(def.name)?.length]).toEqual([def.name, 1]);
    }
    expect(reg.contentType).toMatch(/^text\/plain/);
  });

  it('every sample of a declared metric carries exactly the declared labels', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    fill(reg.forListener('redis'));
    fill(reg.forListener('cache'));
    const { samples } = parse(await reg.metrics());
    let checked = 0;
    for (const def of Object.values(METRICS)) {
      const mine = samples.filter((s) => s.name === def.name || (def.type === 'histogram' && /_(bucket|sum|count)$/.test(s.name) && s.name.replace(/_(bucket|sum|count)$/, '') === def.name));
      expect([def.name, mine.length > 0]).toEqual([def.name, true]);
      for (const s of mine) {
        const want = [...def.labels, ...(s.name.endsWith('_bucket') ? ['le'] : [])].sort();
        expect([s.name, Object.keys(s.labels).sort()]).toEqual([s.name, want]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('writes the counters and gauges a ListenerStats holds, per listener', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    fill(reg.forListener('redis'));
    reg.forListener('idle');
    const { samples } = parse(await reg.metrics());
    const R = { listener: 'redis' };
    expect(value(samples, METRICS.commands.name, { ...R, cmd: 'get' })).toBe(3);
    expect(value(samples, METRICS.commands.name, { ...R, cmd: 'unknown' })).toBe(2);
    expect(find(samples, METRICS.commands.name, R).length).toBe(2); // zero counts are left out
    expect(value(samples, METRICS.commandErrors.name, { ...R, cmd: 'get', error: 'WRONGTYPE' })).toBe(1);
    expect(value(samples, METRICS.commandErrors.name, { ...R, cmd: 'unknown', error: 'ERR' })).toBe(1);
    expect(value(samples, METRICS.commandErrors.name, { ...R, cmd: 'client|setname', error: 'other' })).toBe(1);
    expect(find(samples, METRICS.commandErrors.name, {}).length).toBe(3);
    expect(value(samples, METRICS.pushMessages.name, { ...R, kind: 'message' })).toBe(4);
    expect(value(samples, METRICS.pushMessages.name, { ...R, kind: 'monitor' })).toBe(1);
    expect(value(samples, METRICS.pushMessages.name, { ...R, kind: 'other' })).toBeUndefined();
    expect(value(samples, METRICS.clientConnections.name, R)).toBe(1);
    expect(value(samples, METRICS.clientConnectionsTotal.name, R)).toBe(5);
    expect(value(samples, METRICS.bytes.name, { ...R, direction: 'in' })).toBe(100);
    expect(value(samples, METRICS.bytes.name, { ...R, direction: 'out' })).toBe(200);
    expect(value(samples, METRICS.protocolErrors.name, { ...R, side: 'client' })).toBe(1);
    expect(value(samples, METRICS.protocolErrors.name, { ...R, side: 'upstream' })).toBe(0);
    expect(value(samples, METRICS.upstreamUp.name, { ...R, upstream: 'tcp://10.0.0.5:6379' })).toBe(1);
    expect(value(samples, METRICS.upstreamConnectFailures.name, { ...R, upstream: 'tcp://10.0.0.5:6379' })).toBe(2);
    expect(value(samples, METRICS.upstreamReconnects.name, R)).toBe(2);
    expect(value(samples, METRICS.failovers.name, R)).toBe(1);
    // A listener with nothing going on still has its per-listener series, at 0, and no per-command ones.
    const I = { listener: 'idle' };
    expect(value(samples, METRICS.clientConnections.name, I)).toBe(0);
    expect(value(samples, METRICS.bytes.name, { ...I, direction: 'in' })).toBe(0);
    expect(find(samples, METRICS.commands.name, I)).toEqual([]);
    expect(find(samples, `${METRICS.commandDuration.name}_count`, I)).toEqual([]);
  });

  it('histograms: cumulative buckets in bound order, +Inf equal to _count, _sum in seconds', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    fill(reg.forListener('redis'));
    const { samples } = parse(await reg.metrics());
    const name = METRICS.commandDuration.name;
    const L = { listener: 'redis', cmd: 'get' };
    const buckets = find(samples, `${name}_bucket`, L);
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS.map(leLabel), '+Inf']);
    const at = (le: number | string) => buckets.find((b) => b.labels.le === String(le))!.value;
    expect(at(0.00005)).toBe(1);
    expect(at(0.0025)).toBe(1);
    expect(at(0.005)).toBe(2);
    expect(at(10)).toBe(2);
    expect(at('+Inf')).toBe(3);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(value(samples, `${name}_count`, L)).toBe(3);
    expect(value(samples, `${name}_sum`, L)).toBeCloseTo(0.00003 + 0.003 + 20, 9);
    // An observation exactly on a bound counts in that bucket (le is "less than or equal").
    const u = find(samples, `${name}_bucket`, { listener: 'redis', cmd: 'unknown' });
    expect(u.find((b) => b.labels.le === '0.0005')!.value).toBe(0);
    expect(u.find((b) => b.labels.le === '0.001')!.value).toBe(1);
    // Blocking commands have their own histogram and are not in the ordinary one.
    const bname = METRICS.blockingDuration.name;
    const B = { listener: 'redis', cmd: 'blpop' };
    expect(value(samples, `${bname}_count`, B)).toBe(1);
    expect(find(samples, `${bname}_bucket`, { ...B, le: '1' })[0]!.value).toBe(0);
    expect(find(samples, `${bname}_bucket`, { ...B, le: '2.5' })[0]!.value).toBe(1);
    expect(value(samples, `${bname}_sum`, B)).toBeCloseTo(1.5, 9);
    expect(find(samples, `${name}_count`, B)).toEqual([]);
    expect(find(samples, `${bname}_count`, L)).toEqual([]);
  });

  it('histograms agree with the observations for random latencies (bounds included)', async () => {
    const boundsMs = DURATION_BUCKETS.map((b) => b * 1000);
    const latency = fc.oneof(fc.double({ min: 0, max: 30_000, noNaN: true }), fc.constantFrom(...boundsMs));
    await fc.assert(
      fc.asyncProperty(fc.array(latency, { minLength: 1, maxLength: 40 }), async (ms) => {
        const reg = new MetricsRegistry(TRAITS.names);
        const s = reg.forListener('p');
        for (const m of ms) s.durations.observe(id('set'), m);
        const { samples } = parse(await reg.metrics());
        const name = METRICS.commandDuration.name;
        const L = { listener: 'p', cmd: 'set' };
        const got = find(samples, `${name}_bucket`, L).map((b) => b.value);
        const want = [...DURATION_BUCKETS.map((b) => ms.filter((m) => m / 1000 <= b).length), ms.length];
        expect(got).toEqual(want);
        expect(value(samples, `${name}_count`, L)).toBe(ms.length);
        expect(value(samples, `${name}_sum`, L)).toBeCloseTo(ms.reduce((a, b) => a + b, 0) / 1000, 6);
      }),
      { numRuns: 40 },
    );
  });

  it('names commands by the command table labels: subcommands as "parent|sub", id 0 as "unknown"', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    const s = reg.forListener('redis');
    s.commands[id('client|setname')] = 1;
    s.commands[0] = 7;
    const { samples } = parse(await reg.metrics());
    expect(value(samples, METRICS.commands.name, { listener: 'redis', cmd: 'client|setname' })).toBe(1);
    expect(value(samples, METRICS.commands.name, { listener: 'redis', cmd: 'unknown' })).toBe(7);
  });

  it('reads the stats at scrape time, not at registration', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    const s = reg.forListener('redis');
    const before = parse(await reg.metrics()).samples;
    expect(value(before, METRICS.bytes.name, { listener: 'redis', direction: 'in' })).toBe(0);
    s.bytesIn = 42;
    s.commands[id('ping')] = 1;
    const after = parse(await reg.metrics()).samples;
    expect(value(after, METRICS.bytes.name, { listener: 'redis', direction: 'in' })).toBe(42);
    expect(value(after, METRICS.commands.name, { listener: 'redis', cmd: 'ping' })).toBe(1);
  });

  it('escapes label values (a listener name with a quote and a backslash round-trips)', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    const weird = 'we"ird\\name';
    reg.forListener(weird).clients = 3;
    const { samples } = parse(await reg.metrics());
    expect(value(samples, METRICS.clientConnections.name, { listener: weird })).toBe(3);
  });

  it('includes the default process metrics, with the same prefix', async () => {
    const reg = new MetricsRegistry(TRAITS.names);
    const { type } = parse(await reg.metrics());
    expect(type.has(`${METRIC_PREFIX}process_cpu_user_seconds_total`)).toBe(true);
    expect(type.has(`${METRIC_PREFIX}nodejs_eventloop_lag_seconds`)).toBe(true);
    expect([...type.keys()].every((n) => n.startsWith(METRIC_PREFIX))).toBe(true);
  });

  it('forListener gives ListenerStats sized to the command table', () => {
    const reg = new MetricsRegistry(TRAITS.names);
    const s = reg.forListener('x');
    expect(s).toBeInstanceOf(ListenerStats);
    expect(s.commandCount).toBe(TRAITS.size);
    expect(s.commands.length).toBe(TRAITS.size);
    expect(s.errors.length).toBe(TRAITS.size * ERROR_CODES.length);
  });
});
