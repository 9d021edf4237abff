/** Reading the Prometheus text the admin endpoint serves, for exact-count assertions. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample in `text`. With `strict`, a line that is neither a sample nor a comment is an error rather than skipped. */
export function samples(text: string, opts: { strict?: boolean } = {}): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) {
      if (opts.strict) throw new Error(`unparsable /metrics line: ${line}`);
      continue;
    }
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(LABEL_PAIR)) labels[pair[1]!] = pair[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sums the samples of `name` whose labels include every pair in `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples(text)) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Commands sent (commands_total), replies matched in command_duration, and in blocking_command_duration. */
export interface CommandCounts {
  sent: number;
  matched: number;
  blocking: number;
}

/** CommandCounts per `cmd` label. */
export function perCommand(text: string): Map<string, CommandCounts> {
  const byCmd = new Map<string, CommandCounts>();
  const get = (cmd: string) => {
    let e = byCmd.get(cmd);
    if (!e) byCmd.set(cmd, (e = { sent: 0, matched: 0, blocking: 0 }));
    return e;
  };
  for (const s of samples(text)) {
    const cmd = s.labels.cmd;
    if (cmd === undefined) continue;
    if (s.name === 'redis_ambassador_commands_total') get(cmd).sent += s.value;
    else if (s.name === 'redis_ambassador_command_duration_seconds_count') get(cmd).matched += s.value;
    else if (s.name === 'redis_ambassador_blocking_command_duration_seconds_count') get(cmd).blocking += s.value;
  }
  return byCmd;
}

/** perCommand of `text` less that of `before` (taken earlier), for the commands whose counts changed. */
export function perCommandSince(before: string, text: string): Record<string, CommandCounts> {
  const was = perCommand(before);
  const out: Record<string, CommandCounts> = {};
  for (const [cmd, e] of perCommand(text)) {
    const b = was.get(cmd) ?? { sent: 0, matched: 0, blocking: 0 };
    const d = { sent: e.sent - b.sent, matched: e.matched - b.matched, blocking: e.blocking - b.blocking };
    if (d.sent !== 0 || d.matched !== 0 || d.blocking !== 0) out[cmd] = d;
  }
  return out;
}

/** Commands (since `before`, if given) whose count differs from the replies matched to them: should be empty. */
export function unmatched(text: string, before = ''): Record<string, CommandCounts> {
  return Object.fromEntries(Object.entries(perCommandSince(before, text)).filter(([, e]) => e.sent !== e.matched + e.blocking));
}

/** metric() answered as a difference. */
export type MetricDelta = (name: string, labels?: Record<string, string>) => Promise<number>;

/** metric() as a difference from `before`, Prometheus text taken earlier. */
export function metricSince(before: string, metrics: () => Promise<string>): MetricDelta {
  return async (name, labels = {}) => sumMetric(await metrics(), name, labels) - sumMetric(before, name, labels);
}

/** A snapshot that answers metric() as a difference from when it was taken. */
export async function baseline(metrics: () => Promise<string>): Promise<MetricDelta> {
  return metricSince(await metrics(), metrics);
}
