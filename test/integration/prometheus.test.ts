/**
 * The dashboard and the alert rules against a real Prometheus (Debian's 2.42) scraping a live
 * ambassador every second under traffic that makes every metric family appear: every dashboard
 * expression, with Grafana's variables substituted as Grafana would ($listener and $cmd as ".*"
 * and as one value, $__rate_interval 4 × the scrape interval, $__range), returns data through
 * Prometheus's HTTP API; where the value is knowable it is checked (ops/s against the rate the
 * test drove, the error ratio of a known error mix, upstream up 0 once an upstream is killed);
 * and the upstream-down alert goes pending, then firing, on /api/v1/alerts.
 * dashboard.test.ts remains the fast check (PromQL parse, labels, coverage).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { makeCertificates } from '../support/certificates.js';
import { expressions, loadDashboard, substitute, type Substitution } from '../support/dashboard.js';
import { freePort } from '../support/freePort.js';
import { Cleanup } from '../support/processes.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { sleep, waitUntil } from '../support/wait.js';

const RULES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../grafana/alerts/redis-ambassador.rules.yaml');
/** Commands per tick of the paced writer, and how many of them fail (LPUSH on a string: WRONGTYPE). */
const PER_TICK = 20;
const ERRORS_PER_TICK = 2;
const TICK_MS = 100;
const TRAFFIC_MS = 14_000;

describe('dashboard and alerts against a real Prometheus', () => {
  const cleanup = new Cleanup();
  let prom: PrometheusServer;
  let amb: AmbassadorProcess;
  let victim: RedisServer;
  let main = '';
  /** When the steady traffic ran (unix seconds), and the commands sent in that time. */
  let window = { from: 0, to: 0, sent: 0 };

  beforeAll(async () => {
    const redis = cleanup.track(await startRedis());
    victim = cleanup.track(await startRedis());
    // The main listener speaks TLS, so the certificate-expiry panel has a certificate to show.
    const certDir = cleanup.add(mkdtempSync(path.join(tmpdir(), 'amb-prom-certs-')), (d) => rmSync(d, { recursive: true, force: true }));
    const certs = await makeCertificates(certDir);
    const port = await freePort();
    const victimPort = await freePort();
    main = `redis:${port}`;
    amb = cleanup.track(
      await startAmbassador({
        args: ['--bind', '127.0.0.1', '--listen', main, '--upstream', redis.url, '--listen', `victim:${victimPort}`, '--upstream', victim.url],
        env: {
          AMBASSADOR_DENY_COMMANDS: 'FLUSHALL',
          AMBASSADOR_SLOWLOG_MS: '20',
          AMBASSADOR_HEALTH_INTERVAL_MS: '200',
          AMBASSADOR_HEALTH_FAILURES: '1',
          AMBASSADOR_CONNECT_WINDOW_MS: '300',
          AMBASSADOR_LOG_LEVEL: 'info',
          AMBASSADOR_TLS_LISTEN_CERT_FILE: certs.server.cert,
          AMBASSADOR_TLS_LISTEN_KEY_FILE: certs.server.key,
          AMBASSADOR_TLS_LISTEN_PORTS: String(port),
        },
        waitPorts: [port, victimPort],
      }),
    );
    prom = cleanup.track(await startPrometheus(cleanup, { targets: [`127.0.0.1:${amb.adminPort}`], ruleFiles: [RULES] }));
    await waitUntil(() => prom.targetsUp(), { timeoutMs: 20_000, intervalMs: 200, what: 'prometheus scraping the ambassador' });

    const opts = { host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null };
    const tls = { ...opts, tls: { ca: readFileSync(certs.ca) } };
    const c = cleanup.add(new Redis(tls), (r) => r.disconnect());
    const side = cleanup.add(new Redis(tls), (r) => r.disconnect());
    const sub = cleanup.add(new Redis(tls), (r) => r.disconnect());
    const v = cleanup.add(new Redis({ ...opts, port: victimPort }), (r) => r.disconnect());
    await sub.subscribe('prom:ch');
    await c.set('prom:big', 'x'.repeat(100_000));
    await v.set('prom:v', '1');

    // The paced writer: PER_TICK commands every TICK_MS, ERRORS_PER_TICK of them errors.
    const start = Date.now();
    let sent = 0;
    let tick = 0;
    const marks: { at: number; sent: number }[] = [];
    while (Date.now() - start < TRAFFIC_MS) {
      const p = c.pipeline().set('prom:k', 'v');
      for (let i = 0; i < PER_TICK - 1 - ERRORS_PER_TICK; i++) p.get('prom:k');
      for (let i = 0; i < ERRORS_PER_TICK; i++) p.lpush('prom:k', 'x');
      await p.exec();
      sent += PER_TICK;
      marks.push({ at: Date.now() / 1000, sent });
      // Once a second the rest of the families: a slow script, a big reply, a blocking pop, a
      // message, a refused command.
      if (tick++ % 10 === 0) {
        await side.eval('local i = 0 while i < 3000000 do i = i + 1 end return i', 0);
        await side.get('prom:big');
        await side.blpop('prom:empty', 0.05);
        await side.publish('prom:ch', 'm');
        await side.flushall().catch(() => {});
      }
      await sleep(Math.max(0, start + tick * TICK_MS - Date.now()));
    }
    // The steady part: leave out the first and last 2 s (rate windows reach back 4 s).
    const from = marks.find((m) => m.at >= marks[0]!.at + 3)!;
    const to = [...marks].reverse().find((m) => m.at <= marks.at(-1)!.at - 1)!;
    window = { from: from.at, to: to.at, sent: to.sent - from.sent };
    // Then the victim's upstream goes.
    await victim.stop('SIGKILL');
    await waitUntil(async () => (await prom.query(`redis_ambassador_upstream_up{listener="victim:${victimPort}"} == 0`)).length === 1, {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: 'Prometheus seeing the victim upstream down',
    });
  }, 90_000);

  afterAll(() => cleanup.run());

  /** Every expression of the dashboard with `vars`, each with the number of series it returned. */
  async function evaluate(vars: Substitution, time?: number): Promise<{ where: string; promql: string; series: number }[]> {
    const out: { where: string; promql: string; series: number }[] = [];
    for (const e of expressions(loadDashboard())) {
      const promql = substitute(e.expr, vars);
      out.push({ where: e.where, promql, series: (await prom.query(promql, time)).length });
    }
    return out;
  }

  it('every dashboard expression returns data: All selected, one listener, one set of commands', async () => {
    const all: Substitution = { rateInterval: '4s', interval: '1s', range: '30s', listener: '.*', cmd: '.*' };
    const listener = main.replace(/[.:]/g, (c) => `\\\\${c}`);
    // A multi-value selection as Grafana renders it, of commands that error, are refused and block.
    const some: Substitution = { ...all, listener, cmd: '(lpush|flushall|blpop|eval)' };
    const runs = [...(await evaluate(all, window.to)), ...(await evaluate({ ...all, listener }, window.to)), ...(await evaluate(some, window.to))];
    expect(runs.filter((r) => r.series === 0).map((r) => `${r.where}: ${r.promql}`)).toEqual([]);
    expect(runs.length).toBeGreaterThan(90);
  });

  it('ops/s is the rate the test drove; the error ratio is its error mix', async () => {
    const at = window.to;
    const span = Math.round(window.to - window.from);
    const cmds = 'cmd=~"set|get|lpush"';
    const [ops] = await prom.query(`sum(rate(redis_ambassador_commands_total{listener="${main}",${cmds}}[${span}s]))`, at);
    const driven = window.sent / (window.to - window.from);
    expect(Number(ops!.value[1])).toBeGreaterThan(driven * 0.8);
    expect(Number(ops!.value[1])).toBeLessThan(driven * 1.2);
    // The dashboard's "Error replies" stat, for the paced writer's commands: exactly its mix.
    const ratio = substitute(
      expressions(loadDashboard()).find((e) => e.where.startsWith('panel "Error replies"'))!.expr,
      { rateInterval: `${span}s`, interval: '1s', range: '30s', listener: main, cmd: 'set|get|lpush' },
    );
    const [r] = await prom.query(ratio, at);
    expect(Number(r!.value[1])).toBeCloseTo(ERRORS_PER_TICK / PER_TICK, 2);
    // Slow scripts: one a second, each over AMBASSADOR_SLOWLOG_MS.
    const [slow] = await prom.query(`sum(increase(redis_ambassador_slow_commands_total{listener="${main}",cmd="eval"}[${span}s]))`, at);
    expect(Number(slow!.value[1])).toBeGreaterThan(span * 0.5);
  });

  it('upstream up is 0 for the killed upstream, 1 for the other; the upstream-down alert goes pending (firing 30 s on)', async () => {
    const up = await prom.query('min by (listener) (redis_ambassador_upstream_up)');
    expect(Object.fromEntries(up.map((s) => [s.metric.listener!.split(':')[0], Number(s.value[1])]))).toEqual({ redis: 1, victim: 0 });
    const states = new Set<string>();
    await waitUntil(
      async () => {
        for (const a of await prom.alerts()) if (a.labels.alertname === 'RedisAmbassadorUpstreamDown' && a.labels.listener?.startsWith('victim:')) states.add(a.state);
        return states.size > 0;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'RedisAmbassadorUpstreamDown pending' },
    );
    expect([...states].every((st) => st === 'pending' || st === 'firing')).toBe(true);
    // Nothing fires for the healthy listener.
    const healthy = (await prom.alerts()).filter((a) => a.labels.alertname === 'RedisAmbassadorUpstreamDown' && a.labels.listener === main);
    expect(healthy).toEqual([]);
  }, 60_000);
});
