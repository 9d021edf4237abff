/** Reading the Prometheus text the admin endpoint serves, for exact-count assertions. */
import { sumMetric } from './ambassadorProcess.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Per `cmd` label: commands sent, replies matched in command_duration, in blocking_command_duration. */
export function perCommand(text: string): Map<string, { sent: number; matched: number; blocking: number }> {
  const byCmd = new Map<string, { sent: number; matched: number; blocking: number }>();
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

/** Commands whose count differs from the replies matched to them (should be empty). */
export function unmatched(text: string): Record<string, { sent: number; matched: number; blocking: number }> {
  const out: Record<string, { sent: number; matched: number; blocking: number }> = {};
  for (const [cmd, e] of perCommand(text)) if (e.sent !== e.matched + e.blocking) out[cmd] = e;
  return out;
}

/** A snapshot that answers metric() as a difference from when it was taken. */
export async function baseline(metrics: () => Promise<string>): Promise<(name: string, labels?: Record<string, string>) => Promise<number>> {
  const before = await metrics();
  return async (name, labels = {}) => sumMetric(await metrics(), name, labels) - sumMetric(before, name, labels);
}

export { sumMetric };
