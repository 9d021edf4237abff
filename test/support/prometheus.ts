/**
 * A real Prometheus (Debian's prometheus package) scraping ambassadors, for tests: loopback
 * only, its data in a temporary directory, scraping and evaluating rules every second; queried
 * through its HTTP API as Grafana queries it.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './freePort.js';
import { startChild, type Cleanup } from './processes.js';
import { waitUntil } from './wait.js';

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PrometheusServer {
  readonly process: ChildProcess;
  readonly port: number;
  /** An instant query at `time` (unix seconds; now if not given). */
  query(expr: string, time?: number): Promise<PromSample[]>;
  /** Active alerts: labels, annotations and state (pending, firing). */
  alerts(): Promise<{ labels: Record<string, string>; state: string }[]>;
  /** Whether every target has been scraped successfully at least once. */
  targetsUp(): Promise<boolean>;
}

export async function startPrometheus(
  cleanup: Cleanup,
  opts: { targets: string[]; ruleFiles?: string[]; intervalS?: number },
): Promise<PrometheusServer> {
  const dir = cleanup.tempDir('prometheus-');
  const port = await freePort();
  const interval = `${opts.intervalS ?? 1}s`;
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    ...(opts.ruleFiles?.length ? ['rule_files:', ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    'scrape_configs:',
    '  - job_name: redis-ambassador',
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
  ].join('\n');
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, config + '\n');
  const child = cleanup.track(
    startChild('prometheus', [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ]),
  );
  const api = async <T>(p: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${p}: ${body.error ?? res.status}`);
    return body.data;
  };
  await waitUntil(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/-/ready`)).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, intervalMs: 100, what: () => `prometheus ready on ${port}; output:\n${child.output()}` },
  );
  return {
    process: child.process,
    port,
    query: async (expr, time) => {
      const q = new URLSearchParams({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) });
      const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(`/api/v1/query?${q}`);
      // A scalar expression answers one value, not a vector.
      return data.resultType === 'scalar' ? [{ metric: {}, value: data.result as [number, string] }] : (data.result as PromSample[]);
    },
    alerts: async () => (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')).alerts,
    targetsUp: async () => {
      const t = await api<{ activeTargets: { health: string }[] }>('/api/v1/targets');
      return t.activeTargets.length === opts.targets.length && t.activeTargets.every((x) => x.health === 'up');
    },
  };
}
