#!/usr/bin/env node
/**
 * Renders grafana/preview/dashboard-preview.svg (and .png when rsvg-convert is installed): a
 * PREVIEW of grafana/dashboards/redis-ambassador.json drawn from a live ambassador's /metrics.
 * It is not a Grafana screenshot: Grafana does not run here. It starts redis-server and the built
 * ambassador (dist/cli.js) on free loopback ports, drives ~30 s of mixed traffic through it
 * (redis-benchmark, pub/sub, BLPOP, error replies, a listener whose upstream is down, one bad RESP
 * stream), scrapes /metrics every second and computes, per panel of the dashboard, the same
 * quantity its PromQL asks for (rate over a 5 s window, histogram_quantile with Prometheus'
 * interpolation, sums by the same labels). Panels are laid out on the dashboard's own grid
 * (gridPos) and drawn with vega-lite. A panel of the dashboard without a computation here stops
 * the script, so the preview cannot silently drift from the dashboard.
 *
 *   npm run build && node grafana/preview/render-preview.mjs [seconds=30]
 *
 * Needs redis-server and redis-benchmark on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { Redis } from 'ioredis';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const DASHBOARD = JSON.parse(fs.readFileSync(path.join(ROOT, 'grafana/dashboards/redis-ambassador.json'), 'utf8'));
const SECONDS = Number(process.argv[2] ?? 30);
let LOAD = 0;
const RATE_WINDOW_S = 5; // what $__rate_interval becomes for a 1 s scrape interval (4 × scrape, rounded up)

/* ------------------------------------------------------------------ processes */

const children = [];
/** Traffic generators or servers that stopped before the end: the picture would mislead, so no picture. */
const died = [];
let stopping = false;
function run(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let err = '';
  const keep = (d) => (err = (err + d).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.errText = () => err;
  child.on('exit', (code, signal) => {
    if (!stopping && !child.expectedExit) died.push(`${cmd} exited early (${signal ?? code}): ${err.slice(-600)}`);
  });
  children.push(child);
  return child;
}
const alive = (c) => c.exitCode === null && c.signalCode === null;
function stopAll() {
  stopping = true;
  for (const c of children) if (alive(c)) c.kill('SIGTERM');
}
/** SIGTERM, then SIGKILL whatever has not exited after 8 s (saying so). */
async function stopAllAndWait() {
  stopAll();
  await Promise.all(
    children.map((c) =>
      alive(c)
        ? new Promise((resolve) => {
            const t = setTimeout(() => {
              console.warn(`${c.spawnargs.slice(0, 2).join(' ')} ignored SIGTERM for 8 s: SIGKILL; its last output:\n${c.errText().slice(-1500)}`);
              c.kill('SIGKILL');
            }, 8000);
            c.once('exit', () => (clearTimeout(t), resolve()));
          })
        : undefined,
    ),
  );
}
process.on('exit', () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL');
});
process.on('SIGINT', () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
async function waitForPort(port, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port}`);
    await sleep(25);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One raw RESP exchange that ends when the ambassador closes the connection. */
function rawExchange(port, bytes) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.setTimeout(3000, () => s.destroy());
    s.on('connect', () => s.write(bytes));
    s.on('data', () => {});
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

/* ------------------------------------------------------------------ /metrics scraping */

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const p of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    labels.instance = 'ambassador';
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/* ------------------------------------------------------------------ PromQL, evaluated over the scrapes */

/** scrapes: [{ t (ms), samples: [{name, labels, value}] }] */
let scrapes = [];

const key = (labels, by) => JSON.stringify(by.map((l) => labels[l] ?? ''));
const select = (samples, name, match = {}) =>
  samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => (v instanceof RegExp ? v.test(s.labels[k] ?? '') : s.labels[k] === v)));

/** rate(name{match}[window]) per series at scrape i: (last − first) / Δt over the samples in the window. */
function ratesAt(i, name, match) {
  const now = scrapes[i];
  const from = scrapes.findIndex((s) => s.t >= now.t - RATE_WINDOW_S * 1000);
  if (from < 0 || from >= i) return [];
  const out = [];
  for (const s of select(now.samples, name, match)) {
    const id = JSON.stringify(s.labels);
    // first sample of this series inside the window (a series that starts later starts later, as in Prometheus)
    let first = null;
    for (let j = from; j < i && !first; j++) {
      const f = scrapes[j].samples.find((x) => x.name === name && JSON.stringify(x.labels) === id);
      if (f) first = { t: scrapes[j].t, v: f.value };
    }
    if (!first) continue;
    const dv = s.value >= first.v ? s.value - first.v : s.value; // counter reset
    out.push({ labels: s.labels, value: dv / ((now.t - first.t) / 1000) });
  }
  return out;
}
function sumBy(vec, by) {
  const m = new Map();
  for (const v of vec) {
    const k = key(v.labels, by);
    const e = m.get(k) ?? { labels: Object.fromEntries(by.map((l) => [l, v.labels[l]])), value: 0 };
    e.value += v.value;
    m.set(k, e);
  }
  return [...m.values()];
}
function aggBy(vec, by, fn) {
  const m = new Map();
  for (const v of vec) {
    const k = key(v.labels, by);
    const e = m.get(k) ?? { labels: Object.fromEntries(by.map((l) => [l, v.labels[l]])), values: [] };
    e.values.push(v.value);
    m.set(k, e);
  }
  return [...m.values()].map((e) => ({ labels: e.labels, value: fn(e.values) }));
}
/** a / b matched on all labels of the (already aggregated) vectors. */
function divide(a, b) {
  const bm = new Map(b.map((v) => [JSON.stringify(v.labels), v.value]));
  return a.flatMap((v) => {
    const d = bm.get(JSON.stringify(v.labels));
    return d === undefined || d === 0 ? [] : [{ labels: v.labels, value: v.value / d }];
  });
}
/** Prometheus' histogram_quantile: linear interpolation inside the bucket, lowest bucket from 0. */
function histogramQuantile(q, vec, by) {
  const groups = new Map();
  for (const v of vec) {
    const k = key(v.labels, by);
    const g = groups.get(k) ?? { labels: Object.fromEntries(by.map((l) => [l, v.labels[l]])), buckets: [] };
    g.buckets.push({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value });
    groups.set(k, g);
  }
  const out = [];
  for (const g of groups.values()) {
    const b = g.buckets.sort((x, y) => x.le - y.le);
    if (b.length < 2 || b[b.length - 1].le !== Infinity) continue;
    const total = b[b.length - 1].count;
    if (!(total > 0)) continue;
    const rank = q * total;
    let i = b.findIndex((x) => x.count >= rank);
    let value;
    if (i === b.length - 1) value = b[b.length - 2].le;
    else {
      const lo = i === 0 ? 0 : b[i - 1].le;
      const below = i === 0 ? 0 : b[i - 1].count;
      value = lo + (b[i].le - lo) * ((rank - below) / (b[i].count - below));
    }
    out.push({ labels: g.labels, value });
  }
  return out;
}

/** Evaluates fn(i) → [{labels, value}] at every scrape and names each series with legend(labels). */
function range(fn, legend) {
  const rows = [];
  for (let i = 0; i < scrapes.length; i++) {
    for (const v of fn(i)) if (Number.isFinite(v.value)) rows.push({ t: scrapes[i].t, series: legend(v.labels), value: v.value });
  }
  return rows;
}
const at = (i) => scrapes[i].samples;
const ALL = /.*/; // $listener, $cmd with "All" selected
const LC = { listener: ALL, cmd: ALL };
const L = { listener: ALL };

/* ------------------------------------------------------------------ panel computations, by dashboard panel title */

const hq = (q, metric, by) => (i) => histogramQuantile(q, sumBy(ratesAt(i, `${metric}_bucket`, LC), ['le', ...by]), by);

const PANELS = {
  'Ops/s': () => range((i) => sumBy(ratesAt(i, 'redis_ambassador_commands_total', LC), []), () => 'ops/s'),
  'Error replies': () =>
    range((i) => divide(sumBy(ratesAt(i, 'redis_ambassador_command_errors_total', LC), []), sumBy(ratesAt(i, 'redis_ambassador_commands_total', LC), [])), () => 'errors'),
  'p99 latency': () => range(hq(0.99, 'redis_ambassador_command_duration_seconds', []), () => 'p99'),
  'Client connections': (p) =>
    p.type === 'stat'
      ? range((i) => sumBy(select(at(i), 'redis_ambassador_client_connections', L), []), () => 'connections')
      : range((i) => sumBy(select(at(i), 'redis_ambassador_client_connections', L), ['listener']), (l) => l.listener),
  Upstreams: () => range((i) => aggBy(select(at(i), 'redis_ambassador_upstream_up', L), [], (v) => Math.min(...v)), () => 'up'),
  Failovers: () =>
    range((i) => {
      const f = select(at(i), 'redis_ambassador_failovers_total', L);
      const f0 = select(at(0), 'redis_ambassador_failovers_total', L);
      return [{ labels: {}, value: f.reduce((a, s) => a + s.value, 0) - f0.reduce((a, s) => a + s.value, 0) }];
    }, () => 'failovers'),
  'Ops/s by command': () => range((i) => sumBy(ratesAt(i, 'redis_ambassador_commands_total', LC), ['cmd']), (l) => l.cmd),
  'Error replies by command and error': () =>
    range((i) => sumBy(ratesAt(i, 'redis_ambassador_command_errors_total', LC), ['cmd', 'error']), (l) => `${l.cmd} ${l.error}`),
  'Error ratio by command': () =>
    range((i) => divide(sumBy(ratesAt(i, 'redis_ambassador_command_errors_total', LC), ['cmd']), sumBy(ratesAt(i, 'redis_ambassador_commands_total', LC), ['cmd'])), (l) => l.cmd),
  'Push messages by kind': () => range((i) => sumBy(ratesAt(i, 'redis_ambassador_push_messages_total', L), ['kind']), (l) => l.kind),
  'p50 latency by command': () => range(hq(0.5, 'redis_ambassador_command_duration_seconds', ['cmd']), (l) => l.cmd),
  'p95 latency by command': () => range(hq(0.95, 'redis_ambassador_command_duration_seconds', ['cmd']), (l) => l.cmd),
  'p99 latency by command': () => range(hq(0.99, 'redis_ambassador_command_duration_seconds', ['cmd']), (l) => l.cmd),
  'Mean latency by command': () =>
    range(
      (i) => divide(sumBy(ratesAt(i, 'redis_ambassador_command_duration_seconds_sum', LC), ['cmd']), sumBy(ratesAt(i, 'redis_ambassador_command_duration_seconds_count', LC), ['cmd'])),
      (l) => l.cmd,
    ),
  'Blocking command latency (p50 / p99)': () => [
    ...range(hq(0.5, 'redis_ambassador_blocking_command_duration_seconds', ['cmd']), (l) => `${l.cmd} p50`),
    ...range(hq(0.99, 'redis_ambassador_blocking_command_duration_seconds', ['cmd']), (l) => `${l.cmd} p99`),
  ],
  'New connections/s': () => range((i) => sumBy(ratesAt(i, 'redis_ambassador_client_connections_total', L), ['listener']), (l) => l.listener),
  'Bytes in / out': () => range((i) => sumBy(ratesAt(i, 'redis_ambassador_bytes_total', L), ['direction']), (l) => l.direction),
  'Upstream up': () =>
    range((i) => aggBy(select(at(i), 'redis_ambassador_upstream_up', L), ['listener', 'upstream'], (v) => Math.max(...v)), (l) => `${l.listener} → ${l.upstream}`),
  'Failovers and upstream reconnects': () => [
    ...range((i) => sumBy(ratesAt(i, 'redis_ambassador_failovers_total', L), ['listener']).map(increase), (l) => `failovers ${l.listener}`),
    ...range((i) => sumBy(ratesAt(i, 'redis_ambassador_upstream_reconnects_total', L), ['listener']).map(increase), (l) => `reconnects ${l.listener}`),
  ],
  'Connect failures and protocol errors': () => [
    ...range((i) => sumBy(ratesAt(i, 'redis_ambassador_upstream_connect_failures_total', L), ['upstream']).map(increase), (l) => `connect failed ${l.upstream}`),
    ...range((i) => sumBy(ratesAt(i, 'redis_ambassador_protocol_errors_total', L), ['side']).map(increase), (l) => `protocol error (${l.side})`),
  ],
  'Memory (RSS and heap)': () => [
    ...range((i) => select(at(i), 'redis_ambassador_process_resident_memory_bytes'), (l) => `RSS ${l.instance}`),
    ...range((i) => select(at(i), 'redis_ambassador_nodejs_heap_size_used_bytes'), (l) => `heap used ${l.instance}`),
    ...range((i) => select(at(i), 'redis_ambassador_nodejs_heap_size_total_bytes'), (l) => `heap total ${l.instance}`),
  ],
  'Event-loop lag': () => [
    ...range((i) => select(at(i), 'redis_ambassador_nodejs_eventloop_lag_p50_seconds'), (l) => `p50 ${l.instance}`),
    ...range((i) => select(at(i), 'redis_ambassador_nodejs_eventloop_lag_p99_seconds'), (l) => `p99 ${l.instance}`),
  ],
  CPU: () => range((i) => ratesAt(i, 'redis_ambassador_process_cpu_seconds_total', {}), (l) => l.instance),
};
function increase(v) {
  return { labels: v.labels, value: v.value * RATE_WINDOW_S };
}

/* ------------------------------------------------------------------ units */

const UNITS = {
  s: [[1, 's'], [1e-3, 'ms'], [1e-6, 'µs']],
  bytes: [[2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB'], [1, 'B']],
  Bps: [[2 ** 30, 'GiB/s'], [2 ** 20, 'MiB/s'], [2 ** 10, 'KiB/s'], [1, 'B/s']],
  ops: [[1e6, 'M ops/s'], [1e3, 'k ops/s'], [1, 'ops/s']],
  cps: [[1e6, 'M/s'], [1e3, 'k/s'], [1, '/s']],
  percentunit: [[0.01, '%']],
  short: [[1e6, 'M'], [1e3, 'k'], [1, '']],
  none: [[1, '']],
};
/** The divisor and suffix that keep the largest value readable. */
function scaleFor(unit, max) {
  const steps = UNITS[unit] ?? UNITS.short;
  if (unit === 'percentunit') return steps[0];
  return steps.find(([d]) => max >= d) ?? steps[steps.length - 1];
}
function formatValue(unit, v) {
  const [d, suffix] = scaleFor(unit, Math.abs(v));
  const x = v / d;
  const digits = Math.abs(x) >= 100 || Number.isInteger(x) ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toFixed(digits)} ${suffix}`.trim();
}

/* ------------------------------------------------------------------ drawing */

const THEME = { bg: '#111217', panel: '#181b1f', border: '#2c3235', text: '#ccccdc', dim: '#8e8e9e', grid: '#2c3235' };
const PALETTE = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#ff780a', '#96d98d', '#ffb357', '#ca95e5', '#fade2a', '#6ccf8e', '#c4162a'];
const COL = 70; // px per grid column (24 columns)
const ROW = 30; // px per grid row
const GAP = 8;
const HEADER = 88;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const vlConfig = {
  background: THEME.panel,
  font: FONT,
  view: { stroke: null },
  axis: {
    labelColor: THEME.dim, titleColor: THEME.dim, gridColor: THEME.grid, domainColor: THEME.border, tickColor: THEME.border,
    labelFontSize: 10, titleFontSize: 10, titleFontWeight: 'normal',
  },
  legend: { labelColor: THEME.text, titleColor: THEME.dim, labelFontSize: 10, symbolSize: 60, symbolType: 'stroke', symbolStrokeWidth: 3 },
  range: { category: PALETTE },
};

async function toSvg(spec) {
  const view = new vega.View(vega.parse(compile({ ...spec, config: vlConfig }).spec), { renderer: 'none' });
  return view.toSVG();
}

async function drawTimeseries(panel, rows, w, h) {
  const unit = panel.fieldConfig?.defaults?.unit ?? 'short';
  const max = Math.max(0, ...rows.map((r) => Math.abs(r.value)));
  const [div, suffix] = scaleFor(unit, max);
  const data = rows.map((r) => ({ ...r, v: r.value / div }));
  const series = [...new Set(rows.map((r) => r.series))];
  const custom = panel.fieldConfig?.defaults?.custom ?? {};
  const stacked = custom.stacking?.mode === 'normal';
  const bars = custom.drawStyle === 'bars';
  if (data.length === 0) return noData(w, h);
  const columns = w > 700 ? 3 : 2;
  const legendRows = Math.min(5, Math.ceil(series.length / columns));
  const x = { field: 't', type: 'temporal', title: null, axis: { format: '%H:%M:%S', labelOverlap: true, tickCount: 5, grid: false } };
  const y = {
    field: 'v', type: 'quantitative', title: unit === 'percentunit' ? '%' : suffix || null,
    stack: stacked ? 'zero' : null,
    scale: { zero: true, ...(max === 0 ? { domain: [0, 1] } : {}), ...(unit === 'percentunit' && panel.fieldConfig?.defaults?.max === 1 && max > 0.5 ? { domainMax: 100 } : {}) },
    axis: { tickCount: 4, format: '~r' },
  };
  const color = {
    field: 'series', type: 'nominal', title: null, sort: series,
    legend: { orient: 'bottom', direction: 'horizontal', columns, ...(bars ? { symbolType: 'square', symbolStrokeWidth: 0 } : {}), labelLimit: Math.floor(w / columns) - 40, rowPadding: 2, columnPadding: 14 },
  };
  const mark = bars
    ? { type: 'bar', opacity: 0.85, width: { band: 0.9 } }
    : stacked
      ? { type: 'area', line: { strokeWidth: 1 }, opacity: 0.6, interpolate: 'monotone' }
      : { type: 'line', strokeWidth: 1.5, interpolate: 'monotone' };
  const spec = {
    width: w - 70,
    height: h - 40 - legendRows * 16,
    data: { values: data },
    mark,
    encoding: bars ? { x: { ...x, timeUnit: 'hoursminutesseconds' }, y, color } : { x, y, color },
  };
  return toSvg(spec);
}

async function drawStat(panel, rows, w, h) {
  const unit = panel.fieldConfig?.defaults?.unit ?? 'short';
  const last = rows.length ? rows[rows.length - 1].value : null;
  const mappings = panel.fieldConfig?.defaults?.mappings?.[0]?.options ?? {};
  const steps = panel.fieldConfig?.defaults?.thresholds?.steps ?? [{ color: 'green', value: null }];
  const pick = (v) => steps.filter((s) => s.value === null || v >= s.value).pop()?.color ?? 'green';
  const named = { green: '#73bf69', red: '#f2495c', orange: '#ff9830' };
  let text = 'No data';
  let color = THEME.dim;
  if (last !== null) {
    const mapped = mappings[String(last)];
    text = mapped?.text ?? (unit === 'percentunit' ? `${(last * 100).toFixed(2)} %` : formatValue(unit, last));
    if (panel.fieldConfig?.defaults?.decimals === 0 && !mapped && unit === 'short') text = String(Math.round(last));
    color = named[mapped?.color ?? pick(last)] ?? THEME.text;
  }
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const spec = {
    width: w,
    height: h,
    padding: 0,
    autosize: 'none',
    layer: [
      {
        data: { values: rows.length ? rows : [{ t: 0, value: 0 }] },
        mark: { type: 'area', color, opacity: rows.length ? 0.18 : 0, line: { color, strokeWidth: 1, opacity: 0.5 }, interpolate: 'monotone' },
        encoding: {
          x: { field: 't', type: 'temporal', axis: null },
          y: { field: 'value', type: 'quantitative', axis: null, scale: { domain: [0, max * 1.6] } },
        },
      },
      {
        data: { values: [{ text }] },
        mark: { type: 'text', fontSize: Math.min(30, (w / Math.max(4, text.length)) * 1.5), fontWeight: 'bold', color, x: w / 2, y: h / 2 - 4 },
        encoding: { text: { field: 'text' } },
      },
    ],
  };
  return toSvg(spec);
}

async function drawStateTimeline(panel, rows, w, h) {
  if (rows.length === 0) return noData(w, h);
  const series = [...new Set(rows.map((r) => r.series))];
  const dt = scrapes.length > 1 ? (scrapes[scrapes.length - 1].t - scrapes[0].t) / (scrapes.length - 1) : 1000;
  const data = rows.map((r) => ({ ...r, t2: r.t + dt, state: r.value >= 1 ? 'up' : 'down' }));
  const spec = {
    width: w - 40,
    height: h - 50,
    data: { values: data },
    mark: { type: 'rect', opacity: 0.85 },
    encoding: {
      x: { field: 't', type: 'temporal', title: null, axis: { format: '%H:%M:%S', tickCount: 5, grid: false } },
      x2: { field: 't2' },
      y: { field: 'series', type: 'nominal', title: null, sort: series, axis: { labelLimit: w - 60, orient: 'left', labelAlign: 'left', labelPadding: -8, labelColor: '#ffffff', labelFontSize: 11, ticks: false, domain: false }, scale: { paddingInner: 0.15 } },
      color: { field: 'state', type: 'nominal', title: null, scale: { domain: ['up', 'down'], range: ['#73bf69', '#f2495c'] }, legend: { orient: 'bottom', symbolType: 'square' } },
    },
  };
  return toSvg(spec);
}

function noData(w, h) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><text x="${w / 2}" y="${h / 2}" fill="${THEME.dim}" font-family="${FONT}" font-size="14" text-anchor="middle">No data</text></svg>`;
}
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function render(outSvg) {
  const parts = [];
  let bottom = 0;
  for (const p of DASHBOARD.panels) {
    const g = p.gridPos;
    const x = GAP + g.x * COL;
    const y = HEADER + g.y * ROW;
    const w = g.w * COL - GAP;
    const h = g.h * ROW - GAP;
    bottom = Math.max(bottom, y + h);
    if (p.type === 'row') {
      parts.push(`<text x="${x}" y="${y + 19}" fill="${THEME.text}" font-family="${FONT}" font-size="15" font-weight="bold">${esc(p.title)}</text>`);
      continue;
    }
    const compute = PANELS[p.title];
    if (!compute) throw new Error(`panel "${p.title}" of the dashboard has no computation in render-preview.mjs`);
    const rows = compute(p);
    const innerW = w - 16;
    const innerH = h - 34;
    const svg =
      p.type === 'stat' ? await drawStat(p, rows, innerW, innerH)
      : p.type === 'state-timeline' ? await drawStateTimeline(p, rows, innerW, innerH)
      : await drawTimeseries(p, rows, innerW, innerH);
    parts.push(
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="${THEME.panel}" stroke="${THEME.border}"/>`,
      `<text x="${x + 10}" y="${y + 20}" fill="${THEME.text}" font-family="${FONT}" font-size="13" font-weight="bold">${esc(p.title)}</text>`,
      svg.replace(/^<svg /, `<svg x="${x + 8}" y="${y + 28}" `),
    );
  }
  const width = GAP + 24 * COL;
  const height = bottom + GAP;
  const t0 = new Date(scrapes[0].t).toISOString().replace(/\.\d+Z$/, 'Z');
  const header = [
    `<text x="${GAP}" y="28" fill="#ffffff" font-family="${FONT}" font-size="20" font-weight="bold">Redis ambassador <tspan fill="${THEME.dim}" font-weight="normal" font-size="16">— preview rendered from live /metrics, same queries as the dashboard</tspan></text>`,
    `<text x="${GAP}" y="52" fill="${THEME.dim}" font-family="${FONT}" font-size="12">Not a Grafana screenshot: grafana/preview/render-preview.mjs drew grafana/dashboards/redis-ambassador.json's panels (listener = All, cmd = All) from ${scrapes.length} scrapes 1 s apart starting ${t0}, rate window ${RATE_WINDOW_S} s.</text>`,
    `<text x="${GAP}" y="70" fill="${THEME.dim}" font-family="${FONT}" font-size="12">Traffic: redis-benchmark (steady SET/GET; a pipelined INCR/LPUSH/HSET burst), pub/sub, BLPOP, error replies, a listener whose upstream is down, a broken RESP stream. Shared ${os.cpus().length}-CPU host, load ${LOAD.toFixed(1)}: illustrative numbers, not a benchmark.</text>`,
  ];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="${THEME.bg}"/>${header.join('')}${parts.join('\n')}</svg>\n`;
  fs.writeFileSync(outSvg, svg);
  return { width, height };
}

/* ------------------------------------------------------------------ traffic */

async function main() {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const redisPort = await freePort();
  const port = await freePort();
  const deadPort = await freePort();
  const deadUpstream = await freePort();
  const adminPort = await freePort();

  run('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForPort(redisPort);
  const amb = run(process.execPath, [
    CLI, '--bind', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`,
    '--listen', `redis:${port}`, '--upstream', `tcp://127.0.0.1:${redisPort}`,
    '--listen', `cache:${deadPort}`, '--upstream', `tcp://127.0.0.1:${deadUpstream}`,
  ], { env: { PATH: process.env.PATH, AMBASSADOR_LOG_LEVEL: 'info', AMBASSADOR_CONNECT_WINDOW_MS: '300' } });
  await waitForPort(port);
  await waitForPort(adminPort).catch((e) => {
    throw new Error(`${e.message}\n${amb.errText()}`);
  });

  LOAD = os.loadavg()[0];
  const start = Date.now();
  const end = start + SECONDS * 1000;
  let running = true;

  // Scrapes, one a second.
  const scraper = (async () => {
    for (let n = 0; running; n++) {
      const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
      scrapes.push({ t: Date.now(), samples: parseMetrics(await res.text()) });
      const next = start + (n + 1) * 1000;
      await sleep(Math.max(0, next - Date.now()));
    }
  })();

  // redis-benchmark: steady SET/GET all along, a pipelined burst of INCR/LPUSH/HSET in the middle third.
  const bench = (args) => run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-q', '-l', ...args]);
  const steady = bench(['-t', 'set,get', '-c', '8', '-d', '64', '-r', '10000']);
  setTimeout(() => {
    const burst = bench(['-t', 'incr,lpush,hset', '-c', '16', '-P', '8', '-r', '10000']);
    setTimeout(() => ((burst.expectedExit = true), burst.kill('SIGTERM')), (SECONDS / 3) * 1000);
  }, (SECONDS / 3) * 1000);

  const opts = { host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: false };
  const c = new Redis(opts);
  const producer = new Redis(opts);
  const waiter = new Redis(opts);
  const sub = new Redis(opts);
  const psub = new Redis(opts);
  await sub.subscribe('news');
  await psub.psubscribe('news*');
  await c.set('preview:string', 'x');

  const loops = [
    // pub/sub: message + pmessage per publish
    (async () => { while (running) { await producer.publish('news', 'hello'); await sleep(40); } })(),
    // BLPOP that sometimes times out (0.2 s) and sometimes is woken by an LPUSH
    (async () => { while (running) await waiter.blpop('preview:queue', 0.2); })(),
    (async () => { while (running) { await sleep(50 + Math.random() * 250); await producer.lpush('preview:queue', 'job'); } })(),
    // error replies: WRONGTYPE more and more often, an unknown command now and then
    (async () => {
      while (running) {
        await c.lpush('preview:string', 'y').catch(() => {});
        if (Math.random() < 0.3) await c.call('preview-not-a-command').catch(() => {});
        await sleep(Date.now() - start < (SECONDS * 1000) / 2 ? 100 : 30);
      }
    })(),
    // a client on the listener whose upstream is down, every 3 s; a broken RESP stream every 7 s
    (async () => { while (running) { await rawExchange(deadPort, '*1\r\n$4\r\nPING\r\n'); await sleep(3000); } })(),
    (async () => { await sleep(2000); while (running) { await rawExchange(port, '*1\r\n$x\r\n'); await sleep(7000); } })(),
  ];

  await sleep(Math.max(0, end - Date.now()));
  running = false;
  steady.expectedExit = true;
  steady.kill('SIGTERM');
  if (died.length) throw new Error(`traffic did not run as planned:\n${died.join('\n')}`);
  await Promise.allSettled(loops);
  await scraper;
  for (const r of [c, producer, waiter, sub, psub]) r.disconnect();
  await stopAllAndWait();

  const outSvg = path.join(HERE, 'dashboard-preview.svg');
  const { width, height } = await render(outSvg);
  console.log(`wrote ${path.relative(ROOT, outSvg)} (${width}×${height}, ${scrapes.length} scrapes)`);
  const rsvg = spawnSync('rsvg-convert', ['--version'], { encoding: 'utf8' });
  if (rsvg.status === 0) {
    const outPng = outSvg.replace(/\.svg$/, '.png');
    const r = spawnSync('rsvg-convert', ['-f', 'png', '-o', outPng, outSvg], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`rsvg-convert failed: ${r.stderr}`);
    console.log(`wrote ${path.relative(ROOT, outPng)}`);
  } else {
    console.log('rsvg-convert not found: no PNG (apt-get install librsvg2-bin)');
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err);
    await stopAllAndWait();
    process.exit(1);
  },
);
