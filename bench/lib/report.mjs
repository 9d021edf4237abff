// Turns the raw results into report.md, chart.svg and a README-ready performance section.
import fs from 'node:fs';
import path from 'node:path';
import { chartSpec, renderSvg } from './chart.mjs';
import { CONDS, TESTS } from './rb.mjs';
import { repoRoot, sharedConnectionsOf, targetLabel } from './targets.mjs';

const median = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const min = (xs) => { const v = xs.filter(Number.isFinite); return v.length ? Math.min(...v) : null; };
const max = (xs) => { const v = xs.filter(Number.isFinite); return v.length ? Math.max(...v) : null; };

function fmtRps(x) {
  if (x == null) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}
const fmtRatio = (x) => (x == null ? '–' : x.toFixed(2));
const fmtPct = (x) => (x == null ? '–' : `${(x * 100).toFixed(0)}%`);
const fmtMs = (x) => (x == null ? '–' : x.toFixed(3));
const fmtUs = (x) => (x == null ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(0)} µs`);
const mb = (kb) => (kb == null ? '–' : `${(kb / 1024).toFixed(1)} MB`);
const condLabel = (id) => { const c = CONDS.find((x) => x.id === id); return c ? `-c ${c.c} -P ${c.P}` : id; };
const tLabel = targetLabel;
const fmtCpu = (x) => (x == null ? '–' : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const isShared = (id) => sharedConnectionsOf(id) !== undefined;
/** The shared-mode target the issue #13 targets are judged on: amb-shared, else the first amb-sharedN. */
const primaryShared = (targets) => (targets.includes('amb-shared') ? 'amb-shared' : targets.find(isShared) ?? null);

/** Aggregate runs into cells: key cond|test|target -> stats over repetitions. */
export function aggregate(raw) {
  const cells = new Map();
  for (const r of raw.runs) {
    const k = `${r.cond}|${r.test}|${r.target}`;
    if (!cells.has(k)) cells.set(k, []);
    cells.get(k).push(r);
  }
  const out = new Map();
  for (const [k, runs] of cells) {
    const rps = runs.map((r) => r.rps);
    const med = median(rps);
    const cpuPerReq = runs.map((r) => (r.cpuS != null && !r.estimated ? (r.cpuS / r.n) * 1e6 : null));
    out.set(k, {
      runs: runs.length,
      estimated: runs.filter((r) => r.estimated).length,
      median: med, min: min(rps), max: max(rps),
      relSpread: med ? (max(rps) - min(rps)) / med : null,
      p50: median(runs.map((r) => r.p50Ms)), p99: median(runs.map((r) => r.p99Ms)),
      avg: median(runs.map((r) => r.avgMs)),
      cpuUsPerReq: median(cpuPerReq),
      // CPU seconds of the process under test per 100,000 commands (= µs per request / 10).
      cpu100k: median(cpuPerReq) == null ? null : median(cpuPerReq) / 10,
      cpuS: runs.reduce((s, r) => s + (r.cpuS ?? 0), 0),
      peakRssKb: max(runs.map((r) => r.peakRssKb)),
      n: median(runs.map((r) => r.n)),
    });
  }
  return out;
}

export function evaluate(raw, agg) {
  const conds = raw.options.conds;
  const tests = raw.options.tests;
  const has = (t) => raw.options.targets.includes(t);
  const get = (c, t, x) => agg.get(`${c}|${t}|${x}`);
  const targets = [];

  // 1. >= 0.90 x plain relay at -c 50, -P 1 and -P 16
  if (has('amb-on') && has('relay')) {
    for (const cid of ['c50-P1', 'c50-P16'].filter((c) => conds.includes(c))) {
      const ratios = tests.map((t) => [t, (get(cid, t, 'amb-on')?.median ?? NaN) / (get(cid, t, 'relay')?.median ?? NaN)]).filter(([, r]) => Number.isFinite(r));
      const worst = ratios.reduce((a, b) => (b[1] < a[1] ? b : a), ['', Infinity]);
      const med = median(ratios.map((r) => r[1]));
      const below = ratios.filter(([, r]) => r < 0.9).length;
      const off = has('amb-off') ? median(tests.map((t) => (get(cid, t, 'amb-off')?.median ?? NaN) / (get(cid, t, 'relay')?.median ?? NaN)).filter(Number.isFinite)) : null;
      targets.push({
        name: `≥ 0.90 × plain Node relay, ${condLabel(cid)}`,
        measured: `median ${fmtRatio(med)} over ${ratios.length} tests, ${below} below 0.90; worst ${fmtRatio(worst[1])} (${worst[0]})${off != null ? `; metrics off: median ${fmtRatio(off)}` : ''}`,
        met: ratios.length > 0 && worst[1] >= 0.9,
        detail: ratios,
      });
    }
  }
  // 2. above socat's best repetition in every cell; steadier
  if (has('amb-on') && has('socat')) {
    let cells = 0;
    let above = 0;
    let relayAbove = 0;
    const misses = [];
    const spreadsRelay = [];
    const spreadsAmb = [];
    const spreadsSocat = [];
    for (const c of conds) {
      for (const t of tests) {
        const a = get(c, t, 'amb-on');
        const s = get(c, t, 'socat');
        if (!a || !s) continue;
        cells++;
        const r = get(c, t, 'relay');
        if (r && r.median > s.max) relayAbove++;
        if (r) spreadsRelay.push(r.relSpread);
        if (a.median > s.max) above++;
        else misses.push(`${condLabel(c)} ${t}: ${fmtRps(a.median)} vs socat best ${fmtRps(s.max)}`);
        spreadsAmb.push(a.relSpread);
        spreadsSocat.push(s.relSpread);
      }
    }
    targets.push({
      name: 'above socat’s best repetition in every cell',
      measured: `${above}/${cells} cells (plain relay: ${relayAbove}/${cells})${misses.length ? `; not above in: ${misses.slice(0, 6).join('; ')}${misses.length > 6 ? ` … (${misses.length} cells)` : ''}` : ''}`,
      met: cells > 0 && above === cells,
    });
    const ma = median(spreadsAmb);
    const ms = median(spreadsSocat);
    targets.push({
      name: 'far steadier than socat (median (max−min)/median over cells ≤ ½ of socat’s)',
      measured: `ambassador ${fmtPct(ma)} vs socat ${fmtPct(ms)}${spreadsRelay.length ? `, plain relay ${fmtPct(median(spreadsRelay))}` : ''} (worst cell: ambassador ${fmtPct(max(spreadsAmb))}, socat ${fmtPct(max(spreadsSocat))})`,
      met: ma != null && ms != null && raw.options.reps > 1 ? ma <= ms / 2 : null,
      note: raw.options.reps > 1 ? null : 'needs ≥ 2 repetitions',
    });
  }
  // 3. p50 added latency over direct, -c 1 -P 1
  if (has('amb-on') && has('direct') && conds.includes('c1-P1')) {
    const small = tests.filter((t) => !t.endsWith('16K'));
    const deltas = tests.map((t) => [t, ((get('c1-P1', t, 'amb-on')?.p50 ?? NaN) - (get('c1-P1', t, 'direct')?.p50 ?? NaN)) * 1000]).filter(([, d]) => Number.isFinite(d));
    const smallD = deltas.filter(([t]) => small.includes(t));
    const worst = smallD.reduce((a, b) => (b[1] > a[1] ? b : a), ['', -Infinity]);
    const delta = (x, field) => median(small.map((t) => ((get('c1-P1', t, x)?.[field] ?? NaN) - (get('c1-P1', t, 'direct')?.[field] ?? NaN)) * 1000).filter(Number.isFinite));
    const relayD = has('relay') ? delta('relay', 'p50') : null;
    targets.push({
      name: 'p50 added latency over direct ≤ 50 µs, -c 1 -P 1',
      measured: `median ${fmtUs(median(smallD.map((d) => d[1])))}, worst ${fmtUs(worst[1])} (${worst[0]}) over the small-value tests` +
        `${relayD != null ? ` (plain relay: median ${fmtUs(relayD)})` : ''}; by mean latency ${fmtUs(delta('amb-on', 'avg'))}${has('relay') ? ` (relay ${fmtUs(delta('relay', 'avg'))})` : ''}; ` +
        `16 KB: ${deltas.filter(([t]) => t.endsWith('16K')).map(([t, d]) => `${t} ${fmtUs(d)}`).join(', ') || '–'}`,
      met: smallD.length > 0 && worst[1] <= 50,
      detail: deltas,
    });
  }
  // 4. memory
  const idle = raw.memory?.idle?.find((m) => m.target === 'amb-on');
  if (idle) {
    targets.push({
      name: `RSS ≤ 80 MB with ${idle.clients} idle clients`,
      measured: `${mb(idle.peakRssKb)} peak (${mb(idle.baseRssKb)} before; ${idle.connected}/${idle.clients} connected${idle.error ? `; ${idle.error}` : ''})`,
      met: idle.connected === idle.clients && idle.peakRssKb <= 80 * 1024,
    });
  }
  const bp = raw.memory?.backpressure?.find((m) => m.target === 'amb-on');
  if (bp) {
    targets.push({
      name: `RSS ≤ 256 MB while a client pipelines ${(bp.requestedBytes / 2 ** 30).toFixed(2)} GiB of GET replies it never reads`,
      measured: `${mb(bp.peakRssKb)} peak over ${(bp.windowMs / 1000).toFixed(0)} s (${mb(bp.baseRssKb)} before); Redis held ${((bp.redisOmemBytes ?? 0) / 2 ** 20).toFixed(0)} MiB of the replies${bp.aborted ? '; ABORTED at the RSS cap' : ''}`,
      met: !bp.aborted && bp.peakRssKb <= 256 * 1024,
    });
  }
  return targets;
}

/**
 * Issue #13's targets, as ratios of medians from the same interleaved run, judged per test: a
 * target is met when every test meets it (the median over tests is shown too).
 */
export function evaluateIssue13(raw, agg) {
  const conds = raw.options.conds;
  const tests = raw.options.tests;
  const has = (t) => raw.options.targets.includes(t);
  const get = (c, t, x) => agg.get(`${c}|${t}|${x}`);
  const sh = primaryShared(raw.options.targets);
  const out = [];
  const perTest = (cid, a, b, field) => tests
    .map((t) => [t, get(cid, t, a)?.[field], get(cid, t, b)?.[field]])
    .filter(([, x, y]) => x != null && y != null && Number.isFinite(x) && Number.isFinite(y) && y !== 0);
  const fmtVal = (field, v) => (field === 'median' ? fmtRps(v) : fmtCpu(v));
  // a/b per test against a bound: 'ge' (ratio ≥ bound) or 'le' (ratio ≤ bound).
  const ratioTarget = (name, cid, a, b, field, bound, dir) => {
    if (!has(a) || !has(b) || !conds.includes(cid)) return;
    const rows = perTest(cid, a, b, field).map(([t, x, y]) => ({ t, x, y, r: x / y }));
    if (!rows.length) return;
    const ok = (r) => (dir === 'ge' ? r >= bound : r <= bound);
    const bad = rows.filter((x) => !ok(x.r));
    out.push({
      name,
      measured: `ratio median ${fmtRatio(median(rows.map((x) => x.r)))} (bound ${dir === 'ge' ? '≥' : '≤'} ${bound.toFixed(2)}), ${bad.length}/${rows.length} tests miss it; ` +
        rows.map((x) => `${x.t} ${fmtRatio(x.r)} (${fmtVal(field, x.x)} vs ${fmtVal(field, x.y)})`).join(', '),
      met: bad.length === 0,
      detail: rows,
    });
  };
  if (sh) {
    ratioTarget(`${tLabel(sh)} rps ≥ twemproxy’s, -c 50 -P 1`, 'c50-P1', sh, 'twemproxy', 'median', 1, 'ge');
    ratioTarget(`${tLabel(sh)} CPU per command ≤ HAProxy’s, -c 50 -P 1`, 'c50-P1', sh, 'haproxy', 'cpu100k', 1, 'le');
    ratioTarget(`${tLabel(sh)} rps ≥ 0.90 × HAProxy’s, -c 50 -P 16`, 'c50-P16', sh, 'haproxy', 'median', 0.9, 'ge');
  }
  ratioTarget('dedicated (metrics on) CPU per command ≤ 1.10 × plain Node relay’s, -c 50 -P 1', 'c50-P1', 'amb-on', 'relay', 'cpu100k', 1.1, 'le');
  ratioTarget('dedicated (metrics on) CPU per command ≤ 1.10 × plain Node relay’s, -c 50 -P 16', 'c50-P16', 'amb-on', 'relay', 'cpu100k', 1.1, 'le');
  // Added p50 latency over direct at -c 1 -P 1 ≤ HAProxy's added p50 + 10 µs.
  if (has('direct') && has('haproxy') && conds.includes('c1-P1')) {
    for (const a of ['amb-on', sh].filter((x) => x && has(x))) {
      const rows = tests.map((t) => {
        const d = get('c1-P1', t, 'direct')?.p50;
        const x = get('c1-P1', t, a)?.p50;
        const h = get('c1-P1', t, 'haproxy')?.p50;
        return d != null && x != null && h != null ? { t, added: (x - d) * 1000, hap: (h - d) * 1000 } : null;
      }).filter(Boolean);
      if (!rows.length) continue;
      const bad = rows.filter((r) => r.added > r.hap + 10);
      out.push({
        name: `${tLabel(a)}: p50 added over direct ≤ HAProxy’s added + 10 µs, -c 1 -P 1`,
        measured: `median ${fmtUs(median(rows.map((r) => r.added)))} vs HAProxy ${fmtUs(median(rows.map((r) => r.hap)))}; ${bad.length}/${rows.length} tests miss it; ` +
          rows.map((r) => `${r.t} ${fmtUs(r.added)} vs ${fmtUs(r.hap)}`).join(', '),
        met: bad.length === 0,
        detail: rows,
      });
    }
  }
  // Memory: idle clients in shared mode.
  for (const m of (raw.memory?.idle ?? []).filter((x) => isShared(x.target))) {
    const pool = sharedConnectionsOf(m.target) ?? m.sharedConnections ?? null;
    const allowed = pool != null ? pool + 1 : null;
    out.push({
      name: `${tLabel(m.target)}: ${m.clients.toLocaleString('en-US')} idle clients: RSS ≤ 150 MB, Redis sees ≤ pool + 1 (health check) connections`,
      measured: `${mb(m.peakRssKb)} peak (${mb(m.baseRssKb)} before; ${m.connected}/${m.clients} connected, ${m.aliveAfterHold ?? '?'} still open after the hold${m.error ? `; ${m.error}` : ''}); ` +
        `Redis sees ${m.redisClientsSeen} connection(s) of the ambassador (pool ${pool ?? '?'}${m.sharedConnections != null ? `, ${m.sharedConnections} up by its gauge` : ''} + 1 = ${allowed ?? '?'})`,
      met: m.connected === m.clients && (m.aliveAfterHold ?? m.connected) === m.clients && m.peakRssKb <= 150 * 1024 && allowed != null && m.redisClientsSeen <= allowed,
    });
  }
  return out;
}

/** Per condition: target × test, each cell median rps and CPU seconds per 100,000 commands. */
function cpuThroughputTables(raw, agg) {
  const lines = [];
  for (const c of raw.options.conds) {
    lines.push(`**${condLabel(c)}** — median rps · CPU s per 100k commands of the process under test`, '');
    lines.push(`| target | ${raw.options.tests.join(' | ')} |`, `|---|${raw.options.tests.map(() => '---:').join('|')}|`);
    for (const x of raw.options.targets) {
      const cells = raw.options.tests.map((t) => {
        const a = agg.get(`${c}|${t}|${x}`);
        if (!a) return '–';
        return `${a.estimated ? '~' : ''}${fmtRps(a.median)} · ${x === 'direct' ? 'n/a' : fmtCpu(a.cpu100k)}`;
      });
      lines.push(`| ${tLabel(x)} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines;
}

/** Shared mode with different AMBASSADOR_SHARED_CONNECTIONS (amb-shared1/2/4 …) side by side. */
function sharedConnectionsSection(raw, agg) {
  const xs = raw.options.targets.filter((t) => sharedConnectionsOf(t) != null).sort((a, b) => sharedConnectionsOf(a) - sharedConnectionsOf(b));
  if (xs.length < 2) return [];
  const base = xs[0];
  const L = ['## Shared upstream connections: 1, 2, 4 …', '',
    `Same interleaved run; each cell median rps · CPU s/100k; ratios are rps (and CPU per command) over ${tLabel(base)}.`, ''];
  L.push(`| condition | test | ${xs.map(tLabel).join(' | ')} | ${xs.slice(1).map((x) => `rps ${sharedConnectionsOf(x)}/${sharedConnectionsOf(base)}`).join(' | ')} | ${xs.slice(1).map((x) => `CPU ${sharedConnectionsOf(x)}/${sharedConnectionsOf(base)}`).join(' | ')} |`);
  L.push(`|---|---|${xs.map(() => '---:').join('|')}|${xs.slice(1).map(() => '---:').join('|')}|${xs.slice(1).map(() => '---:').join('|')}|`);
  const summary = new Map();
  for (const c of raw.options.conds) {
    for (const t of raw.options.tests) {
      const a = xs.map((x) => agg.get(`${c}|${t}|${x}`));
      const b = a[0];
      const rr = a.slice(1).map((v) => (v && b?.median ? v.median / b.median : null));
      const cr = a.slice(1).map((v) => (v?.cpu100k != null && b?.cpu100k ? v.cpu100k / b.cpu100k : null));
      xs.slice(1).forEach((x, i) => {
        const k = `${c}|${x}`;
        if (!summary.has(k)) summary.set(k, { rps: [], cpu: [] });
        summary.get(k).rps.push(rr[i]);
        summary.get(k).cpu.push(cr[i]);
      });
      L.push(`| ${condLabel(c)} | ${t} | ${a.map((v) => (v ? `${fmtRps(v.median)} · ${fmtCpu(v.cpu100k)}` : '–')).join(' | ')} | ${rr.map(fmtRatio).join(' | ')} | ${cr.map(fmtRatio).join(' | ')} |`);
    }
  }
  L.push('', 'Median over tests of those ratios:', '', `| condition | ${xs.slice(1).map((x) => `${sharedConnectionsOf(x)} vs ${sharedConnectionsOf(base)}: rps · CPU/cmd`).join(' | ')} |`, `|---|${xs.slice(1).map(() => '---:').join('|')}|`);
  for (const c of raw.options.conds) {
    L.push(`| ${condLabel(c)} | ${xs.slice(1).map((x) => { const v = summary.get(`${c}|${x}`); return v ? `${fmtRatio(median(v.rps))} · ${fmtRatio(median(v.cpu))}` : '–'; }).join(' | ')} |`);
  }
  L.push('');
  return L;
}

/**
 * What Redis executed through one target over the whole run, per command: each run's INFO
 * commandstats count, capped at what redis-benchmark can have issued (n rounded up to -P) —
 * past that are leftovers of an earlier timed-out run through another proxy.
 */
export function expectedCounts(raw, target) {
  const expected = {};
  for (const r of [...(raw.warmups ?? []), ...(raw.calibration ?? []), ...(raw.discarded ?? []), ...(raw.runs ?? [])]) {
    if (r.target !== target) continue;
    const cmd = TESTS.find((x) => x.id === r.test)?.cmd;
    const P = CONDS.find((c) => c.id === r.cond)?.P ?? 1;
    const hi = r.estimated ? Infinity : Math.ceil(r.n / P) * P;
    expected[cmd] = (expected[cmd] ?? 0) + Math.min(r.redisCalls ?? 0, hi);
  }
  return expected;
}

/** Runs where redis-benchmark complained or Redis executed another count than was asked. */
function anomalyLines(raw) {
  const all = [...(raw.calibration ?? []), ...(raw.runs ?? []), ...(raw.discarded ?? []), ...(raw.warmups ?? [])];
  const bad = all.filter((r) => r.countMismatch || r.benchStderr || r.timedOut || (r.exit != null && r.exit !== 0));
  // In the order the runs happened: the last timed-out run before each one.
  const chrono = [...(raw.calibration ?? []), ...[...(raw.runs ?? []), ...(raw.discarded ?? [])].sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0))];
  const lastTimeout = new Map();
  let lt = null;
  for (const r of chrono) { lastTimeout.set(r, lt); if (r.timedOut) lt = r; }
  const over = bad.filter((r) => r.countMismatch && r.redisCalls > Math.ceil(r.n / (CONDS.find((c) => c.id === r.cond)?.P ?? 1)) * (CONDS.find((c) => c.id === r.cond)?.P ?? 1));
  const cfg = [...new Set(all.filter((r) => r.configFetchFailed).map((r) => r.target))];
  const L = [];
  if (cfg.length) L.push(`- redis-benchmark's \`CONFIG GET save\` / \`CONFIG GET appendonly\` (sent on a connection of its own before each test) failed through: ${cfg.map(tLabel).join(', ')} (twemproxy does not support CONFIG and closes that connection). redis-benchmark prints \`WARNING: Could not fetch server CONFIG\` and runs the test unchanged; it has no flag to skip the fetch.`);
  if (!bad.length) L.push(`- Every run (${all.length}, calibration included): redis-benchmark exited 0 with no other stderr, and Redis executed the requested count of the test's command (INFO commandstats after each run).`);
  else {
    L.push(`- ${bad.length} of ${all.length} runs had something odd:`);
    for (const r of bad.slice(0, 30)) {
      const prevTo = r.countMismatch ? lastTimeout.get(r) : null;
      L.push(`  - ${tLabel(r.target)} ${condLabel(r.cond)} ${r.test} n=${r.n}: ${[r.timedOut ? `timed out${r.lateCalls ? ` (${r.lateCalls} of its commands reached Redis after the kill)` : ''}` : null, r.exit ? `exit ${r.exit}` : null, r.countMismatch, prevTo ? `after a timed-out run through ${tLabel(prevTo.target)} (${condLabel(prevTo.cond)} ${prevTo.test})` : null, r.benchStderr ? `stderr: ${r.benchStderr.split('\n').slice(0, 3).join(' / ')}` : null].filter(Boolean).join('; ')} — \`${r.cmd}\``);
    }
    if (bad.length > 30) L.push(`  - … ${bad.length - 30} more (raw JSON)`);
    if (over.length) L.push(`  - A count above what redis-benchmark can have issued (n, rounded up to a multiple of -P) is not the proxy's doing when it follows a timed-out run: socat's forked children keep forwarding requests they had already read after redis-benchmark is killed (clients held back seconds by the SYN-retry stall of its backlog of 5), and those land in a later run's counts. A timed-out run now waits for Redis to stop executing before the next run starts.`);
  }
  for (const mc0 of raw.metricsChecks ?? []) {
    if (mc0.error) { L.push(`- ${tLabel(mc0.target)} /metrics: ${mc0.error}`); continue; }
    const expected = expectedCounts(raw, mc0.target);
    const mc = { ...mc0, mismatches: Object.entries(expected).filter(([cmd, n]) => (mc0.counted?.[cmd] ?? 0) !== n).map(([cmd, n]) => `${cmd}: counted ${mc0.counted?.[cmd] ?? 0}, Redis executed ${n}`) };
    L.push(`- ${tLabel(mc.target)} /metrics: ${mc.commandsTotal.toLocaleString('en-US')} commands in ${mc.series} series; ` +
      `${mc.mismatches.length ? `**per-command counts differ from what Redis executed through it: ${mc.mismatches.join('; ')}**` : `set/get/lrange counts equal what Redis executed through it${mc.exact ? '' : ' (some runs had no Redis count)'}`}` +
      `${mc.sharedConnections != null ? `; shared connections up: ${mc.sharedConnections}` : ''}${Object.keys(mc.pinned ?? {}).length ? `; clients pinned: ${JSON.stringify(mc.pinned)}` : ''}` +
      `${Object.keys(mc.disconnects ?? {}).length ? `; upstream disconnects: ${JSON.stringify(mc.disconnects)}` : ''}${Object.values(mc.protocolErrors ?? {}).some(Boolean) ? `; protocol errors: ${JSON.stringify(mc.protocolErrors)}` : ''}.`);
  }
  return L;
}

function throughputTables(raw, agg) {
  const targets = raw.options.targets;
  const has = (t) => targets.includes(t);
  const lines = [];
  for (const c of raw.options.conds) {
    lines.push(`**${condLabel(c)}** — median rps [min–max over ${raw.options.reps} repetition${raw.options.reps > 1 ? 's' : ''}]`, '');
    const ratioCols = [];
    if (has('amb-on') && has('relay')) ratioCols.push(['on/relay', 'amb-on', 'relay']);
    if (has('amb-off') && has('relay')) ratioCols.push(['off/relay', 'amb-off', 'relay']);
    if (has('amb-on') && has('direct')) ratioCols.push(['on/direct', 'amb-on', 'direct']);
    if (has('relay') && has('direct')) ratioCols.push(['relay/direct', 'relay', 'direct']);
    if (has('amb-on') && has('amb-base')) ratioCols.push(['on/base', 'amb-on', 'amb-base']);
    if (has('amb-tls') && has('amb-on')) ratioCols.push(['tls/on', 'amb-tls', 'amb-on']);
    if (has('direct-tls') && has('direct')) ratioCols.push(['direct tls/plain', 'direct-tls', 'direct']);
    lines.push(`| test | ${targets.map(tLabel).join(' | ')} | ${ratioCols.map((r) => r[0]).join(' | ')} |`);
    lines.push(`|---|${targets.map(() => '---:').join('|')}|${ratioCols.map(() => '---:').join('|')}|`);
    for (const t of raw.options.tests) {
      const cells = targets.map((x) => {
        const a = agg.get(`${c}|${t}|${x}`);
        if (!a) return '–';
        const est = a.estimated ? '~' : '';
        return raw.options.reps > 1 ? `${est}${fmtRps(a.median)} [${fmtRps(a.min)}–${fmtRps(a.max)}]` : `${est}${fmtRps(a.median)}`;
      });
      const ratios = ratioCols.map(([, a, b]) => {
        const x = agg.get(`${c}|${t}|${a}`)?.median;
        const y = agg.get(`${c}|${t}|${b}`)?.median;
        const r = x != null && y ? x / y : null;
        return a === 'amb-on' && b === 'relay' && r != null && r < 0.9 && c.startsWith('c50') ? `**${fmtRatio(r)}**` : fmtRatio(r);
      });
      lines.push(`| ${t} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines;
}

function latencyTable(raw, agg) {
  const targets = raw.options.targets;
  const lines = ['| condition | test | ' + targets.map(tLabel).join(' | ') + ' |', `|---|---|${targets.map(() => '---:').join('|')}|`];
  for (const c of raw.options.conds) {
    for (const t of raw.options.tests) {
      const cells = targets.map((x) => {
        const a = agg.get(`${c}|${t}|${x}`);
        return a && a.p50 != null ? `${fmtMs(a.p50)} / ${fmtMs(a.p99)}` : '–';
      });
      lines.push(`| ${condLabel(c)} | ${t} | ${cells.join(' | ')} |`);
    }
  }
  return lines;
}

function resourceTable(raw, agg) {
  const procTargets = raw.options.targets.filter((t) => t !== 'direct' && t !== 'direct-tls');
  const lines = [
    '| target | ' + raw.options.conds.map((c) => `${condLabel(c)}: CPU µs/req · peak RSS`).join(' | ') + ' | CPU s total | VmHWM after matrix |',
    `|---|${raw.options.conds.map(() => '---:').join('|')}|---:|---:|`,
  ];
  for (const x of procTargets) {
    let cpuTotal = 0;
    const cells = raw.options.conds.map((c) => {
      const per = raw.options.tests.map((t) => agg.get(`${c}|${t}|${x}`)).filter(Boolean);
      cpuTotal += per.reduce((s, a) => s + a.cpuS, 0);
      const cpu = median(per.map((a) => a.cpuUsPerReq));
      const rss = max(per.map((a) => a.peakRssKb));
      return `${cpu == null ? '–' : cpu.toFixed(1)} · ${mb(rss)}`;
    });
    const hwm = raw.targets.find((t) => t.id === x)?.vmHwmKbAfterMatrix;
    lines.push(`| ${tLabel(x)} | ${cells.join(' | ')} | ${cpuTotal.toFixed(1)} | ${x === 'socat' ? 'n/a (forks)' : mb(hwm)} |`);
  }
  return lines;
}

function perTestCpuTable(raw, agg) {
  const xs = raw.options.targets.filter((t) => ['relay', 'amb-on', 'amb-off', 'amb-tls'].includes(t));
  if (!xs.length) return [];
  const lines = [`| condition | test | ${xs.map((x) => `${tLabel(x)} µs/req`).join(' | ')} |`, `|---|---|${xs.map(() => '---:').join('|')}|`];
  for (const c of raw.options.conds) {
    for (const t of raw.options.tests) {
      lines.push(`| ${condLabel(c)} | ${t} | ${xs.map((x) => { const v = agg.get(`${c}|${t}|${x}`)?.cpuUsPerReq; return v == null ? '–' : v.toFixed(1); }).join(' | ')} |`);
    }
  }
  return lines;
}

/** The TLS listener beside the plain one (amb-tls vs amb-on): throughput and CPU per request. */
export function tlsCostLines(raw, agg) {
  const has = (t) => raw.options.targets.includes(t);
  if (!has('amb-tls') || !has('amb-on')) return [];
  const control = has('direct-tls') && has('direct');
  const lines = [
    `| condition | test | plain rps | TLS rps | rps TLS/plain | plain CPU µs/req | TLS CPU µs/req | CPU TLS/plain |${control ? ' Redis itself: rps TLS/plain |' : ''}`,
    `|---|---|---:|---:|---:|---:|---:|---:|${control ? '---:|' : ''}`,
  ];
  const rpsRatios = [];
  const cpuRatios = [];
  const directRatios = [];
  for (const c of raw.options.conds) {
    for (const t of raw.options.tests) {
      const p = agg.get(`${c}|${t}|amb-on`);
      const s = agg.get(`${c}|${t}|amb-tls`);
      if (!p || !s) continue;
      const rr = p.median ? s.median / p.median : null;
      const cr = p.cpuUsPerReq ? s.cpuUsPerReq / p.cpuUsPerReq : null;
      if (rr != null) rpsRatios.push(rr);
      if (cr != null && Number.isFinite(cr)) cpuRatios.push(cr);
      const us = (x) => (x == null ? '–' : x.toFixed(1));
      const d = agg.get(`${c}|${t}|direct`)?.median;
      const dt = agg.get(`${c}|${t}|direct-tls`)?.median;
      const dr = control && d && dt != null ? dt / d : null;
      if (dr != null) directRatios.push(dr);
      lines.push(`| ${condLabel(c)} | ${t} | ${fmtRps(p.median)} | ${fmtRps(s.median)} | ${fmtRatio(rr)} | ${us(p.cpuUsPerReq)} | ${us(s.cpuUsPerReq)} | ${fmtRatio(cr)} |${control ? ` ${fmtRatio(dr)} |` : ''}`);
    }
  }
  lines.push('', `Median over the cells: rps TLS/plain ${fmtRatio(median(rpsRatios))} (range ${fmtRatio(min(rpsRatios))}–${fmtRatio(max(rpsRatios))}), CPU per request TLS/plain ${fmtRatio(median(cpuRatios))} (range ${fmtRatio(min(cpuRatios))}–${fmtRatio(max(cpuRatios))})${control ? `; Redis's own TLS port against its plain one, same benchmark: rps ${fmtRatio(median(directRatios))} (range ${fmtRatio(min(directRatios))}–${fmtRatio(max(directRatios))})` : ''}.`);
  return lines;
}

function memoryTables(raw) {
  const lines = [];
  if (raw.memory?.idle?.length) {
    lines.push('| target | mode | idle clients connected (open after hold) | RSS before | RSS with clients (peak) | per client | V8 heap used / total, external (with clients) | Redis connections of the target (CLIENT LIST) | Redis connected_clients | connect time |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const m of raw.memory.idle) {
      const seen = m.redisClientsSeen != null ? `${m.redisClientsSeen}${m.redisClientsByCmd ? ` (${Object.entries(m.redisClientsByCmd).map(([k, v]) => `${v}× last cmd ${k}`).join(', ')})` : ''}` : '–';
      lines.push(`| ${tLabel(m.target)} | ${m.mode ?? '–'} | ${m.connected}/${m.clients}${m.aliveAfterHold != null ? ` (${m.aliveAfterHold})` : ''}${m.error ? ` (${m.error})` : ''} | ${mb(m.baseRssKb)} | ${mb(m.peakRssKb)} | ${m.connected ? `${((m.peakRssKb - m.baseRssKb) / m.connected).toFixed(1)} KB` : '–'} | ${m.probed?.heapUsedBytes != null ? `${(m.probed.heapUsedBytes / 2 ** 20).toFixed(1)} / ${(m.probed.heapTotalBytes / 2 ** 20).toFixed(1)} MB, ${(m.probed.externalBytes / 2 ** 20).toFixed(1)} MB` : '–'} | ${seen} | ${m.redisConnectedClients} | ${m.connectMs} ms |`);
    }
    lines.push('');
  }
  if (raw.memory?.backpressure?.length) {
    lines.push('| target | requested (never read) | window | RSS before | RSS peak | Redis output buffer for the upstream leg | the proxy logged |', '|---|---:|---:|---:|---:|---:|---|');
    for (const m of raw.memory.backpressure) {
      lines.push(`| ${tLabel(m.target)} | ${m.count} × GET of ${(m.valueBytes / 2 ** 20).toFixed(0)} MiB = ${(m.requestedBytes / 2 ** 20).toFixed(0)} MiB | ${(m.windowMs / 1000).toFixed(0)} s | ${mb(m.baseRssKb)} | ${mb(m.peakRssKb)}${m.aborted ? ' (aborted)' : ''} | ${((m.redisOmemBytes ?? 0) / 2 ** 20).toFixed(0)} MiB | ${m.proxyWarnings?.length ? m.proxyWarnings.join('; ') : '–'} |`);
    }
    lines.push('');
  }
  return lines;
}

function socatSection(raw) {
  const d = raw.socatDiag;
  if (!d) return ['Not run in this mode (`--quick`); see the full report.', ''];
  const lines = [
    `Same Redis, same loopback; one socat per variant, each case run once. \`listen backlog\` is the accept-queue length \`ss -ltn\` shows for the socat listener; \`overflows\` is the kernel's TcpExtListenOverflows delta (SYNs dropped because the accept queue was full) during that run.`,
    '',
    '| variant | listen backlog | case | n | rps | p50 ms | max ms | overflows | SYN retransmits |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of d.rows) {
    lines.push(`| ${r.variantLabel} | ${r.listenBacklog} | ${condLabel(r.cond)} ${r.test} | ${r.n} | ${r.estimated ? '~' : ''}${fmtRps(r.rps)}${r.timedOut ? ' (timeout)' : ''} | ${fmtMs(r.p50Ms)} | ${fmtMs(r.maxMs)} | ${r.listenOverflows} | ${r.synRetrans} |`);
  }
  lines.push('');
  if (d.connect?.length) {
    lines.push('Connection set-up: 200 sequential new connections, each connect → PING → PONG → close.', '', '| via | p50 ms | p90 ms | max ms |', '|---|---:|---:|---:|');
    for (const c of d.connect) lines.push(`| ${tLabel(c.target)} | ${fmtMs(c.p50Ms)} | ${fmtMs(c.p90Ms)} | ${fmtMs(c.maxMs)} |`);
    lines.push('');
  }
  return lines;
}

function machineLines(raw) {
  const m = raw.machine;
  const runs = raw.runs.map((r) => r.loadavg1).filter((x) => x != null);
  const other = raw.runs.map((r) => r.otherCores).filter((x) => x != null);
  const perTarget = raw.options.targets.map((t) => `${t} ${median(raw.runs.filter((r) => r.target === t).map((r) => r.otherCores))?.toFixed(2) ?? '–'}`);
  return [
    `- Machine: ${m.nproc} cores (\`nproc\`), ${m.cpuModel} (/proc/cpuinfo), ${m.memTotalGb} GB RAM, Linux ${m.kernel}`,
    `- Software: Node ${m.node}; ${m.redisServer}; ${m.redisBenchmark}; ${m.socat}${m.haproxy ? `; ${m.haproxy}` : ''}${m.nutcracker ? `; ${m.nutcracker}` : ''}; redis-ambassador ${m.ambassador ?? '?'} ${m.ambassadorCommit ? `built from a clean checkout of commit ${m.ambassadorCommit} (\`${m.ambassadorCli}\`)` : `at commit ${m.gitCommit}${m.gitDirty ? ' (src/ had uncommitted changes)' : ''}`}`,
    `- Load average (1/5/15 min): start ${raw.loadavgStart?.join(' ')}, end ${raw.loadavgEnd?.join(' ')}; 1-min load sampled before each run: min ${min(runs)?.toFixed(2)}, median ${median(runs)?.toFixed(2)}, max ${max(runs)?.toFixed(2)}. ` +
      'All of Redis, redis-benchmark and the relay under test share these cores, and other work on the machine may have run concurrently.',
    ...(other.length ? [`- Other work during the runs (system busy CPU from /proc/stat minus the target, Redis and redis-benchmark, in cores of ${m.nproc}): median ${median(other).toFixed(2)}, max ${max(other).toFixed(2)}; median per target: ${perTarget.join(', ')}.` +
      (median(other) > 0.3 ? ' **The machine was shared: absolute numbers are depressed and noisy; compare targets through the interleaved ratios.**' : '')] : []),
    ...(raw.discarded?.length ? [`- ${raw.discarded.length} run(s) were repeated because other processes used more than ${raw.options.otherMax} core during them (budget ${Math.round((raw.options.retryShare ?? 0) * 100)}% of runs); the repeats are the ones reported.`] : []),
    ...(raw.idleWaits?.length ? [`- --wait-idle: ${raw.idleWaits.map((w) => `${w.at} waited ${w.waitedS} s (others then used ${w.busyCoresAfter} cores)`).join('; ')}`] : []),
    `- Run: \`${raw.command}\` (${raw.mode}; ${raw.options.reps} repetition(s), ~${raw.options.seconds} s per redis-benchmark run), started ${raw.startedAt}, took ${raw.elapsedS} s`,
  ];
}

export function renderMarkdown(raw, targetsEval, agg, outDir, targets13 = []) {
  const met = (x) => (x === true ? '✅ met' : x === false ? '❌ not met' : '– n/a');
  const L = [];
  L.push(`# redis-ambassador benchmark${raw.mode === 'quick' ? ' (quick smoke run — numbers are indicative only)' : ''}`, '');
  L.push(...machineLines(raw), '');
  if (raw.notes?.length) L.push(...raw.notes.map((n) => `> ${n}`), '');
  L.push('## Targets (issue #7), ambassador with metrics on', '');
  if (targetsEval.length) {
    L.push('| target | measured | status |', '|---|---|---|');
    for (const t of targetsEval) L.push(`| ${t.name} | ${t.measured}${t.note ? ` (${t.note})` : ''} | ${met(t.met)} |`);
  } else {
    L.push('No ambassador results in this run.');
  }
  L.push('');
  if (targets13.length) {
    L.push('## Targets (issue #13): shared upstream mode beside HAProxy and twemproxy', '');
    L.push('Ratios of medians from the same interleaved run, judged per test: a target is met only when every test meets it. CPU per command = CPU seconds of the process under test (/proc utime+stime, children included) per 100,000 commands.', '');
    L.push('| target | measured | status |', '|---|---|---|');
    for (const t of targets13) L.push(`| ${t.name} | ${t.measured} | ${met(t.met)} |`);
    L.push('');
  }
  L.push('## Throughput', '', '![requests per second per test and target](chart.svg)', '');
  L.push('`~` marks a number estimated from Redis’s own command counters after redis-benchmark hit its time limit. Ratios are of medians; **bold** marks a -c 50 cell below the 0.90 target.', '');
  L.push(...throughputTables(raw, agg));
  L.push('## Throughput and CPU per 100k commands', '');
  L.push('CPU s/100k = CPU seconds the process under test used per 100,000 commands (utime+stime from /proc, 10 ms ticks, children included; median over repetitions). Direct Redis has no proxy process.', '');
  L.push(...cpuThroughputTables(raw, agg));
  L.push(...sharedConnectionsSection(raw, agg));
  L.push('## Latency (redis-benchmark p50 / p99, ms, median over repetitions)', '');
  L.push('redis-benchmark 7 reports latency from an HDR histogram; near 0.1 ms its buckets are ~8 µs wide, so single-cell differences below ~10 µs are noise.', '');
  L.push(...latencyTable(raw, agg), '');
  L.push('## CPU time and memory of the process under test', '');
  L.push('CPU = utime+stime delta from /proc/<pid>/stat around each run (10 ms ticks; socat includes its per-connection children), divided by the run’s requests, median over tests and repetitions. Peak RSS = largest VmRSS sampled every 50 ms during the runs (socat: summed over its forks). VmHWM = the process’s lifetime peak.', '');
  L.push(...resourceTable(raw, agg), '');
  const pt = perTestCpuTable(raw, agg);
  if (pt.length) L.push('<details><summary>CPU µs per request, per test</summary>', '', ...pt, '', '</details>', '');
  const tls = tlsCostLines(raw, agg);
  if (tls.length) {
    L.push('## TLS listener vs plain listener', '');
    L.push('The same ambassador build with metrics on, once with a plain listener (amb-on) and once with `AMBASSADOR_TLS_LISTEN_CERT_FILE`/`_KEY_FILE` (EC P-256 certificate, no client certificates), redis-benchmark with `--tls --cacert`. Each redis-benchmark run opens its `-c` connections anew, so their handshakes (one per connection, EC P-256) are inside the measured time: small at -c 1, a visible part of short -c 50 runs.', '');
    L.push(...tls, '');
  }
  L.push('## Memory targets', '');
  L.push('Each on a freshly started process. Idle clients: ' + (raw.options.idleClients ?? 1000).toLocaleString('en-US') + ' sockets per dedicated-mode target' + ((raw.memory?.idle ?? []).some((m) => m.mode === 'shared') ? ` (${(raw.options.idleSharedClients ?? 10000).toLocaleString('en-US')} per shared-mode target)` : '') + ' connect through the target and each sends one PING (so the upstream leg exists), then stay idle while RSS is sampled; Redis’s CLIENT LIST (less the harness’s own connection) counts the target’s upstream connections meanwhile. Backpressure: one client pipelines GETs of a 1 MiB value without ever reading; if the proxy stops reading from Redis when the client stops reading, its RSS stays flat and the replies wait in Redis’s output buffer.', '');
  L.push(...memoryTables(raw));
  if (raw.metricsChecks) {
    L.push('## Run checks', '', ...anomalyLines(raw), '');
  } else if (raw.metricsCheck) {
    const mc = raw.metricsCheck;
    L.push(mc.error ? `Metrics check failed: ${mc.error}` : `Metrics on were really on: after the matrix /metrics reported ${mc.series} \`redis_ambassador_commands_total\` series summing to ${mc.commandsTotal.toLocaleString('en-US')} commands.`, '');
  }
  if (Object.keys(raw.shutdown ?? {}).length) {
    L.push(`Shutdown on SIGTERM: ${Object.entries(raw.shutdown).map(([k, v]) => `${k} → ${v ? (v.code != null ? `exit ${v.code}` : v.signal) : '?'}`).join(', ')}.`, '');
  }
  const profiles = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => /^(profile|perf)-.*\.md$/.test(f)).sort() : [];
  if (profiles.length) {
    L.push('## Profiles', '', 'Where the ambassador’s CPU goes (made separately with `bench/profile.mjs` and `bench/perf.mjs`): ' + profiles.map((f) => `[${f}](${f})`).join(', ') + '.', '');
  }
  L.push('## Why socat is erratic', '');
  L.push(...socatInterpretation(raw), '');
  L.push(...socatSection(raw));
  L.push('## Method', '');
  L.push(
    '- One redis-server (`--save "" --appendonly no`), all targets and redis-benchmark on 127.0.0.1. Targets: direct Redis; `' + (raw.targets.find((t) => t.id === 'socat')?.cmdline ?? 'socat TCP4-LISTEN:P,fork,reuseaddr TCP4:127.0.0.1:R') + '` (the seed’s command; `bind=127.0.0.1` only keeps the listener off the network); `bench/relay.mjs` (net.createServer, `pipe()` both ways, setNoDelay); `dist/cli.js` with `REDIS_PORT_<p>_TCP` and `AMBASSADOR_METRICS=on|off` (default log level).',
    `- Matrix: ${raw.options.tests.join(', ')} × ${raw.options.conds.map(condLabel).map((c) => `\`${c}\``).join(', ')}; \`redis-benchmark --csv -q\`, one invocation per test. LRANGE_100 is \`LRANGE mylist 0 99\`, exactly what \`-t lrange_100\` sends, without re-running LPUSH first; MSET sets 10 keys; SET_16K/GET_16K use \`-d 16384\`. GET reads the value SET just wrote (3 bytes, or 16 KB for GET_16K), LRANGE_100 the list LPUSH filled; when the run's tests leave out the writer, the harness writes that data straight into Redis before the run (\`SET key:__rand_int__\` of 3 or 16384 × "x", \`RPUSH mylist\` of 100 × "xxx", as redis-benchmark would)${[...(raw.calibration ?? []), ...(raw.runs ?? [])].some((r) => r.prepared) ? ' — it did in this run' : ''}.`,
    '- Interleaving: for each repetition, condition and test, every target runs once (A B C D E), the starting target rotating, so slow drifts in machine load hit all targets alike. Redis is FLUSHALLed before each condition.',
    '- Run length: a calibration/warm-up pass (not counted; it also warms up V8) measures each target × test × condition; every counted run then gets the request count that lasts ~' + raw.options.seconds + ' s at that rate. A run that exceeds its time limit is killed and its rate estimated from Redis’s `INFO commandstats` (marked `~`).',
    '- Targets evaluated on medians over repetitions; spread is (max−min)/median per cell.',
    ...raw.targets.filter((t) => ['haproxy', 'twemproxy'].includes(t.id) || isShared(t.id)).map((t) => `- ${tLabel(t.id)}: \`${t.cmdline}\``),
  );
  L.push('', '## Reproduce', '', '```sh', 'apt-get install -y redis-server redis-tools socat   # redis-benchmark comes with redis-tools', 'npm ci', 'npm run bench             # full run, ~8–10 min on 2 cores; writes bench/results/{report.md,chart.svg,full.raw.json}', 'npm run bench -- --quick  # < 1 min smoke run into bench/results/quick/', '# issue #13: the shared upstream mode beside HAProxy and twemproxy (opt-in targets)', 'apt-get install -y haproxy nutcracker', 'node bench/run.mjs --targets direct,socat,haproxy,twemproxy,relay,amb-on,amb-shared --conds c1-P1,c50-P1,c50-P16 --tests SET,GET,LRANGE_100,GET_16K --out bench/results/shared', 'node bench/run.mjs --targets amb-shared1,amb-shared2,amb-shared4 --conds c1-P1,c50-P1,c50-P16 --tests SET,GET,LRANGE_100,GET_16K --reps 5 --no-socat-diag --out bench/results/shared/connections', ...(raw.command.includes(' --out ') ? [`# this report: ${raw.command}`] : []), 'node bench/profile.mjs    # node --cpu-prof of the ambassador under load -> bench/results/profile-amb-on.md', 'node bench/perf.mjs       # perf record of relay vs ambassador (kernel, native, JIT) -> bench/results/perf-*.md', '```', '');
  return L.join('\n');
}

function socatInterpretation(raw) {
  const d = raw.socatDiag;
  const L = [];
  L.push(
    '1. **Accept backlog of 5.** socat’s `TCP4-LISTEN` listens with `backlog=5` unless told otherwise. redis-benchmark opens all 50 connections at once at the start of every test; socat accepts and forks one child per connection, the accept queue overflows (ListenOverflows below, in every -c 50 run of the seed command). Whether an overflow costs anything depends on timing: when the kernel has to drop the client’s SYN, that client retries only after the SYN retransmission timeout (1 s, then 3 s, 7 s cumulative) while the others run, and the whole test is stretched by seconds (a `max` latency of ~1000/3000 ms, SYN retransmits > 0). The stall is a fixed cost per test, so the rps figure depends on the run length and on luck: the “6k–45k depending on run length” in the issue. With `backlog=511` there are no overflows.',
    '2. **Nagle without TCP_NODELAY.** socat does not set TCP_NODELAY by default and moves data in 8 KiB reads. A reply (or request) larger than 8 KiB — a 16 KB value, or 16 pipelined LRANGE_100 replies — is written as several segments; the last, partial one waits under Nagle until the previous segment is ACKed, and the peer delays that ACK (~40 ms) because it has nothing to send yet. Result: ~40 ms per round trip, tens of requests per second for SET_16K/GET_16K at `-c 1`, and a few hundred for pipelined LRANGE_100. The `nodelay` option removes it.',
    '3. **Fork per connection** matters less than either for these numbers: it makes every new connection several times slower to set up (the connection set-up table below) and gives the scheduler one more process per client, but once the connections are up each client has its own socat process, which can run on either core — at -c 1 socat is as fast as the Node relay.',
  );
  if (d) {
    const get = (v, test, n) => d.rows.find((r) => r.variant === v && r.test === test && (n == null || r.n === n));
    const s5 = get('seed', 'SET', 5000);
    const s50 = get('seed', 'SET', 30000);
    const b5 = get('backlog', 'SET', 5000);
    const lr = get('seed', 'LRANGE_100');
    const lrN = get('backlog+nodelay', 'LRANGE_100');
    const g16 = get('seed', 'GET_16K');
    const g16N = get('backlog+nodelay', 'GET_16K');
    const parts = [];
    if (s5 && s50) parts.push(`seed socat, -c 50 SET: ${fmtRps(s5.rps)} rps with 5,000 requests vs ${fmtRps(s50.rps)} with 30,000 (max latency ${fmtMs(s5.maxMs)} / ${fmtMs(s50.maxMs)} ms, ${s5.listenOverflows + s50.listenOverflows} listen overflows)`);
    if (b5) parts.push(`with backlog=511: ${fmtRps(b5.rps)} rps at 5,000 requests, max ${fmtMs(b5.maxMs)} ms, ${b5.listenOverflows} overflows`);
    if (lr && lrN) parts.push(`-c 1 -P 16 LRANGE_100: ${fmtRps(lr.rps)} rps seed vs ${fmtRps(lrN.rps)} with nodelay`);
    if (g16 && g16N) parts.push(`-c 1 GET_16K: ${fmtRps(g16.rps)} rps seed (p50 ${fmtMs(g16.p50Ms)} ms) vs ${fmtRps(g16N.rps)} with nodelay`);
    if (parts.length) L.push('', `Measured here: ${parts.join('; ')}.`);
  }
  return L;
}

function readmeSection(raw, targetsEval, agg, outDir = path.join(repoRoot, 'bench', 'results')) {
  const rel = path.relative(repoRoot, outDir) || '.';
  const L = ['## Performance', ''];
  const m = raw.machine;
  L.push(`Measured with \`${raw.command}\`${m.ambassadorCommit ? ` (the ambassador built from commit ${m.ambassadorCommit})` : ''} on ${m.nproc} cores (${m.cpuModel}), Node ${m.node}, ${m.redisServer.split(' ').slice(0, 3).join(' ')}; Redis, redis-benchmark and the proxy share the two cores. Load average ${raw.loadavgStart?.[0]} at start, ${raw.loadavgEnd?.[0]} at end. Full report: [${rel}/report.md](${rel}/report.md).`, '');
  L.push(`![requests per second per test and target](${rel}/chart.svg)`, '');
  if (targetsEval.length) {
    L.push('| target | measured | status |', '|---|---|---|');
    for (const t of targetsEval) L.push(`| ${t.name} | ${t.measured} | ${t.met === true ? 'met' : t.met === false ? 'not met' : 'n/a'} |`);
    L.push('');
  }
  const targets = raw.options.targets;
  L.push(`Median requests/s (${raw.options.reps} interleaved repetitions):`, '');
  L.push(`| condition | test | ${targets.map(tLabel).join(' | ')} |`, `|---|---|${targets.map(() => '---:').join('|')}|`);
  for (const c of raw.options.conds) {
    for (const t of ['SET', 'GET', 'LRANGE_100', 'GET_16K'].filter((x) => raw.options.tests.includes(x))) {
      L.push(`| ${condLabel(c)} | ${t} | ${targets.map((x) => fmtRps(agg.get(`${c}|${t}|${x}`)?.median)).join(' | ')} |`);
    }
  }
  L.push('', 'Reproduce: `npm run bench` (about 8–10 minutes; `npm run bench -- --quick` for a one-minute smoke run). Needs `redis-server`, `redis-benchmark` and `socat` on PATH.', '');
  return L.join('\n');
}

export async function writeReport(raw, outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const agg = aggregate(raw);
  const targetsEval = evaluate(raw, agg);
  raw.evaluation = targetsEval.map(({ detail, ...t }) => t);
  const targets13 = evaluateIssue13(raw, agg);
  raw.evaluation13 = targets13.map(({ detail, ...t }) => t);
  const md = renderMarkdown(raw, targetsEval, agg, outDir, targets13);
  const mdPath = path.join(outDir, 'report.md');
  fs.writeFileSync(mdPath, md);
  const readmePath = path.join(outDir, 'readme-section.md');
  fs.writeFileSync(readmePath, readmeSection(raw, [...targetsEval, ...targets13], agg, outDir));

  const rows = [];
  for (const c of raw.options.conds) {
    for (const t of raw.options.tests) {
      for (const x of raw.options.targets) {
        const a = agg.get(`${c}|${t}|${x}`);
        if (a) rows.push({ condLabel: condLabel(c), test: t, targetLabel: tLabel(x), median: a.median, min: a.min, max: a.max });
      }
    }
  }
  const spec = chartSpec(rows, {
    targets: raw.options.targets.map(tLabel),
    conds: raw.options.conds.map(condLabel),
    tests: raw.options.tests,
    title: `redis-benchmark requests/s through each target (median, min–max whiskers; ${raw.machine.nproc} cores, ${raw.startedAt.slice(0, 10)})`,
  });
  const svgPath = path.join(outDir, 'chart.svg');
  fs.writeFileSync(svgPath, await renderSvg(spec));
  return [mdPath, svgPath, readmePath];
}
