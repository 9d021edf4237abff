/**
 * The Grafana dashboard as the tests read it: its panels (rows' nested ones included), the PromQL
 * of every target and variable query, and Grafana's variables substituted as Grafana would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../grafana/dashboards/redis-ambassador.json');

export function loadDashboard(): Dashboard {
  return JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

export interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
  refId?: string;
}
export interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string } | null;
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { x: number; y: number; w: number; h: number };
}
export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: { type?: string; uid?: string };
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Every panel, rows' nested (collapsed) panels included. */
export function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

export interface Expression {
  where: string;
  expr: string;
  /** Panel expressions count toward coverage of the metric table; variable queries do not. */
  fromPanel: boolean;
}

/** Panel target expressions and the PromQL inside templating queries. */
export function expressions(d: Dashboard): Expression[] {
  const out: Expression[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      out.push({ where: `panel "${p.title}" target ${t.refId}`, expr: t.expr ?? '', fromPanel: true });
    }
  }
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const where = `variable "${v.name}"`;
    const lv = /^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(q);
    const qr = /^\s*query_result\((.*)\)\s*$/s.exec(q);
    if (lv) out.push({ where, expr: lv[1]!, fromPanel: false });
    else if (qr) out.push({ where, expr: qr[1]!, fromPanel: false });
    else out.push({ where, expr: `<unsupported variable query: ${q}>`, fromPanel: false });
  }
  return out;
}

/** What Grafana puts for its variables: $listener/$cmd are regexes (".*" for All, or a value). */
export interface Substitution {
  readonly rateInterval: string;
  readonly interval: string;
  readonly range: string;
  readonly listener: string;
  readonly cmd: string;
}

/** With "All" selected, for a parse: rate windows of a minute, a range of an hour. */
export const ALL: Substitution = { rateInterval: '1m', interval: '1m', range: '1h', listener: '.*', cmd: '.*' };

export function substitute(expr: string, v: Substitution = ALL): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, v.rateInterval)
    .replace(/\$\{?__interval\}?/g, v.interval)
    .replace(/\$\{?__range\}?/g, v.range)
    .replace(/\$\{?listener(:[a-z]+)?\}?/g, v.listener)
    .replace(/\$\{?cmd(:[a-z]+)?\}?/g, v.cmd);
}
