/**
 * The alert rules (grafana/alerts/redis-ambassador.rules.yaml) through Prometheus's own promtool:
 * they load (check rules), and their unit tests pass (test rules: each alert fires on synthetic
 * series where it should and stays quiet where it should not). That those tests can fail is
 * shown on copies of the rules: for each alert, an expression that always fires, and one that
 * never does, must each fail promtool's tests. Every alert's runbook is in the README.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup, run } from '../support/processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ALERTS = path.join(ROOT, 'grafana/alerts');
const RULES = fs.readFileSync(path.join(ALERTS, 'redis-ambassador.rules.yaml'), 'utf8');
const TESTS = fs.readFileSync(path.join(ALERTS, 'redis-ambassador.rules.test.yaml'), 'utf8');
const ALERT_NAMES = [...RULES.matchAll(/^\s*- alert: (\S+)$/gm)].map((m) => m[1]!);

/** promtool with its file argument (the last) in `dir`; rule_files resolve beside the test file. */
const promtool = (args: string[], dir = ALERTS) => run('promtool', [...args.slice(0, -1), path.join(dir, args.at(-1)!)], { timeoutMs: 60_000 });

/** The rules with alert `name`'s expression replaced by `expr` (a block expression included). */
function withExpr(name: string, expr: string): string {
  const lines = RULES.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- alert: ${name}`);
  const e = lines.findIndex((l, i) => i > at && /^\s+expr:/.test(l));
  let end = e + 1;
  if (/expr: \|\s*$/.test(lines[e]!)) while (end < lines.length && !/^\s+(for|labels):/.test(lines[end]!)) end++;
  const indent = lines[e]!.slice(0, lines[e]!.indexOf('expr:'));
  return [...lines.slice(0, e), `${indent}expr: ${expr}`, ...lines.slice(end)].join('\n');
}

describe('alert rules', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('load in Prometheus (promtool check rules)', async () => {
    const r = await promtool(['check', 'rules', 'redis-ambassador.rules.yaml']);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${ALERT_NAMES.length} rules found`);
    expect(r.code).toBe(0);
    expect(ALERT_NAMES.length).toBeGreaterThanOrEqual(10);
  });

  it('pass their unit tests (promtool test rules), which name every alert firing', async () => {
    const r = await promtool(['test', 'rules', 'redis-ambassador.rules.test.yaml']);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.code).toBe(0);
    for (const name of ALERT_NAMES) {
      const firing = new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`);
      expect([name, firing.test(TESTS)]).toEqual([name, true]);
    }
  });

  it('have tests that fail for each alert when it fires always, and when it never fires', { timeout: 180_000 }, async () => {
    /** promtool's tests on a copy of the rules with `rules` in place of the file. */
    const testWith = async (rules: string): Promise<{ code: number | null; out: string }> => {
      const dir = cleanup.tempDir('alerts-');
      fs.copyFileSync(path.join(ALERTS, 'redis-ambassador.rules.test.yaml'), path.join(dir, 'redis-ambassador.rules.test.yaml'));
      fs.writeFileSync(path.join(dir, 'redis-ambassador.rules.yaml'), rules);
      const r = await promtool(['test', 'rules', 'redis-ambassador.rules.test.yaml'], dir);
      return { code: r.code, out: r.stdout + r.stderr };
    };
    // Unchanged, the copy passes: so each failure below is the mutation's doing.
    expect((await testWith(RULES)).code).toBe(0);
    const mutations = ALERT_NAMES.flatMap((name) => [
      { what: `${name} firing always`, rules: withExpr(name, 'vector(1)') },
      { what: `${name} never firing`, rules: withExpr(name, 'vector(1) < 0') },
    ]);
    const survivors: string[] = [];
    // Four promtool runs at a time: two cores, and each run is mostly process start.
    for (let i = 0; i < mutations.length; i += 4) {
      const batch = mutations.slice(i, i + 4);
      const results = await Promise.all(batch.map((m) => testWith(m.rules)));
      results.forEach((r, k) => {
        // The mutation must still load: a failure to parse would prove nothing.
        expect(r.out).not.toMatch(/unmarshal|parse error|error: /i);
        if (r.code === 0) survivors.push(batch[k]!.what);
      });
    }
    expect(survivors).toEqual([]);
  });

  it("are loaded by docker/compose.yaml's Prometheus (promtool check config, the rules mounted where prometheus.yml names them)", async () => {
    const config = fs.readFileSync(path.join(ROOT, 'docker/prometheus.yml'), 'utf8');
    const compose = fs.readFileSync(path.join(ROOT, 'docker/compose.yaml'), 'utf8');
    const mounted = /- \.\.\/grafana\/alerts\/redis-ambassador\.rules\.yaml:(\S+):ro/.exec(compose)?.[1];
    expect(mounted).toBeDefined();
    expect(config).toContain(`  - ${mounted}`);
    const dir = cleanup.tempDir('prometheus-config-');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config.replace(mounted!, path.join(ALERTS, 'redis-ambassador.rules.yaml')));
    const r = await promtool(['check', 'config', 'prometheus.yml'], dir);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${ALERT_NAMES.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('each has a runbook in the README, where its annotation points', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const m of RULES.matchAll(/runbook: 'README\.md#([a-z-]+)'/g)) expect(readme, m[1]).toContain(`<a id="${m[1]}"></a>`);
    expect([...RULES.matchAll(/runbook: /g)].length).toBe(ALERT_NAMES.length);
  });
});
