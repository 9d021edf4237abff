#!/usr/bin/env node
// CPU profile of a target under redis-benchmark load (node --cpu-prof), summarised by self and
// inclusive time per function into bench/results/profile.md.
//
//   npm run build && node bench/profile.mjs [--target amb-on|amb-off|relay] [--scale 1] [--out DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installCleanup, loadavg, Resp, stop } from './lib/procs.mjs';
import { CONDS, TESTS, runTest } from './lib/rb.mjs';
import { ambassadorAvailable, repoRoot, setCliPath, startRedis, startTarget, stopTarget } from './lib/targets.mjs';

function parseArgs(argv) {
  const o = { target: 'amb-on', scale: 1, out: path.join(repoRoot, 'bench', 'results'), top: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') o.target = argv[++i];
    else if (a === '--scale') o.scale = Number(argv[++i]);
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--top') o.top = Number(argv[++i]);
    else if (a === '--analyze') o.analyze = argv[++i];
    else if (a === '--cli') setCliPath(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/profile.mjs [--target amb-on|amb-off|relay] [--scale N] [--out DIR] [--top N] [--cli dist/cli.js] [--only c50-P16,...] [--analyze file.cpuprofile]');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// Load phases: the shapes that matter for the targets (-c 50 with and without pipelining).
const PHASES = [
  ['c50-P1', 'SET', 60000], ['c50-P1', 'GET', 60000], ['c50-P1', 'MSET', 30000],
  ['c50-P16', 'SET', 600000], ['c50-P16', 'GET', 600000], ['c50-P16', 'INCR', 400000],
  ['c50-P16', 'LRANGE_100', 40000], ['c50-P16', 'SET_16K', 30000], ['c50-P16', 'GET_16K', 30000],
  ['c1-P1', 'GET', 15000],
];

const shortUrl = (u) => {
  if (!u) return '';
  if (u.includes('node_modules/')) return u.slice(u.lastIndexOf('node_modules/'));
  const i = u.indexOf('/dist/');
  if (i >= 0) return u.slice(i + 1);
  if (u.includes('node_modules/')) return u.slice(u.lastIndexOf('node_modules/'));
  return u.replace(/^file:\/\//, '');
};

export function analyze(profile, top = 30) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fnKey = (n) => {
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    return f.url ? `${name} ${shortUrl(f.url)}:${f.lineNumber + 1}` : name;
  };
  const self = new Map();
  const incl = new Map();
  let total = 0;
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000; // ms; the delta before the next sample
    let id = profile.samples[i];
    const leaf = nodes.get(id);
    if (!leaf) continue;
    total += dt;
    const k = fnKey(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set();
    while (id != null) {
      const n = nodes.get(id);
      const key = fnKey(n);
      if (!seen.has(key)) {
        seen.add(key);
        incl.set(key, (incl.get(key) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  const cat = { 'ambassador (dist/)': 0, 'node internals (net, streams, …)': 0, 'dependencies (node_modules)': 0, 'garbage collector': 0, 'native/(program)': 0 };
  for (const [k, v] of self) {
    if (k === '(idle)') continue;
    if (k.includes(' dist/')) cat['ambassador (dist/)'] += v;
    else if (k.includes('node_modules/')) cat['dependencies (node_modules)'] += v;
    else if (k.startsWith('(garbage collector)')) cat['garbage collector'] += v;
    else if (k.includes('node:')) cat['node internals (net, streams, …)'] += v;
    else cat['native/(program)'] += v;
  }
  const sortDesc = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total, idleMs: idle, busyMs: busy, categories: cat,
    topSelf: sortDesc(self).filter(([k]) => k !== '(idle)').slice(0, top),
    topInclusiveDist: sortDesc(incl).filter(([k]) => k.includes(' dist/')).slice(0, top),
  };
}

function renderMd(a, meta) {
  const pct = (v) => `${((v / a.busyMs) * 100).toFixed(1)}%`;
  const L = [
    `# CPU profile: ${meta.target} under redis-benchmark load`, '',
    `- Command: \`${meta.command}\`; target: \`${meta.cmdline}\``,
    `- Machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, Node ${process.version}; load average start ${meta.loadStart?.join(' ')}, end ${meta.loadEnd?.join(' ')}`,
    `- Load: ${meta.phases.map((p) => `${p.cond} ${p.test} n=${p.n} → ${Math.round(p.rps)} rps`).join('; ')}`,
    `- Sampled ${(a.totalMs / 1000).toFixed(1)} s, of which busy (not idle) ${(a.busyMs / 1000).toFixed(1)} s. Percentages below are of busy time.`,
    '', '## Where the busy time goes', '', '| category | self time | share |', '|---|---:|---:|',
    ...Object.entries(a.categories).map(([k, v]) => `| ${k} | ${v.toFixed(0)} ms | ${pct(v)} |`),
    '', `## Top ${a.topSelf.length} functions by self time`, '', '| function | self | share |', '|---|---:|---:|',
    ...a.topSelf.map(([k, v]) => `| \`${k}\` | ${v.toFixed(0)} ms | ${pct(v)} |`),
    '', '## Ambassador functions by inclusive time', '', '| function | inclusive | share |', '|---|---:|---:|',
    ...a.topInclusiveDist.map(([k, v]) => `| \`${k}\` | ${v.toFixed(0)} ms | ${pct(v)} |`),
    '', 'Open the `.cpuprofile` next to this file in Chrome DevTools (Performance → Load profile) or speedscope for the flame graph.', '',
  ];
  return L.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(o.out, { recursive: true });
  if (o.analyze) {
    const a = analyze(JSON.parse(fs.readFileSync(o.analyze, 'utf8')), o.top);
    console.log(renderMd(a, { target: path.basename(o.analyze), command: `node bench/profile.mjs --analyze ${o.analyze}`, cmdline: '', phases: [] }));
    return;
  }
  if (o.target.startsWith('amb') && !ambassadorAvailable()) throw new Error('dist/cli.js not found: run npm run build');
  installCleanup();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-ambassador-prof-'));
  const profDir = path.join(logDir, 'prof');
  fs.mkdirSync(profDir);
  const loadStart = loadavg();
  const redis = await startRedis(logDir);
  const ctl = await Resp.connect(redis.port);
  let target;
  const phases = [];
  let exit;
  try {
    target = await startTarget(o.target, redis, logDir, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '250'] });
    console.log(`profiling ${target.cmdline}`);
    for (const [cid, tid, n0] of PHASES.filter(([c]) => !o.only || o.only.includes(c))) {
      const cond = CONDS.find((c) => c.id === cid);
      const test = TESTS.find((t) => t.id === tid);
      const n = Math.max(1000, Math.round(n0 * o.scale));
      const rec = await runTest({ target, cond, test, n, timeoutMs: 30000, redisCtl: ctl, redisPid: redis.pid });
      phases.push({ cond: cid, test: tid, n, rps: rec.rps, cpuS: rec.cpuS });
      console.log(`  ${cid} ${tid} n=${n}: ${Math.round(rec.rps)} rps, cpu ${rec.cpuS}s${rec.timedOut ? ' (timeout)' : ''}`);
    }
  } finally {
    exit = await stopTarget(target, 10000);
    ctl.close();
    await stop(redis.proc, 3000);
  }
  const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.length) throw new Error(`no .cpuprofile written (exit ${JSON.stringify(exit)})`);
  const tag = `${o.target}${o.only ? `-${o.only.join('+')}` : ''}`;
  const dest = path.join(o.out, `profile-${tag}.cpuprofile`);
  fs.copyFileSync(path.join(profDir, files[0]), dest);
  const a = analyze(JSON.parse(fs.readFileSync(dest, 'utf8')), o.top);
  const md = renderMd(a, {
    target: o.target, cmdline: target.cmdline, phases, loadStart, loadEnd: loadavg(),
    command: `node bench/profile.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  });
  const mdPath = path.join(o.out, `profile-${tag}.md`);
  fs.writeFileSync(mdPath, md);
  fs.rmSync(logDir, { recursive: true, force: true });
  console.log(`exit on SIGTERM: ${JSON.stringify(exit)}; wrote ${path.relative(process.cwd(), mdPath)} and ${path.relative(process.cwd(), dest)}`);
}

main().catch((err) => {
  console.error(`[profile] failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
