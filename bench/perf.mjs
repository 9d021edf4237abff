#!/usr/bin/env node
// Where the ambassador's extra CPU goes, compared with the plain relay under the same load:
// `perf record` (kernel + native + JIT frames via --perf-basic-prof) of each process during the
// same redis-benchmark run. Needs `perf` and permission to profile own processes.
//
//   npm run build && node bench/perf.mjs [--load "-c 50 -P 16 -n 600000 -t set,get"] [--cli dist/cli.js]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installCleanup, loadavg, run, sleep, start, stop } from './lib/procs.mjs';
import { repoRoot, setCliPath, startRedis, startTarget, stopTarget } from './lib/targets.mjs';

const o = { load: '-c 50 -P 16 -n 600000 -t set,get', out: path.join(repoRoot, 'bench', 'results'), targets: ['relay', 'amb-on'], top: 25 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--load') o.load = argv[++i];
  else if (argv[i] === '--cli') setCliPath(argv[++i]);
  else if (argv[i] === '--out') o.out = argv[++i];
  else if (argv[i] === '--top') o.top = Number(argv[++i]);
  else if (argv[i] === '--targets') o.targets = argv[++i].split(',');
  else { console.error('usage: node bench/perf.mjs [--load "redis-benchmark args"] [--cli PATH] [--targets relay,amb-on] [--top N] [--out DIR]'); process.exit(2); }
}

async function report(data, sort) {
  const r = await run('perf', ['report', '-i', data, '--no-children', '--sort', sort, '--stdio'], { timeoutMs: 120000 });
  const total = Number(/Event count \(approx\.\): (\d+)/.exec(r.stdout)?.[1] ?? NaN);
  const rows = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(.*\S)\s*$/.exec(line);
    if (m) rows.push([Number(m[1]), m[2].replace(/^\[[.k]\]\s+/, (s) => (s.includes('k') ? '[kernel] ' : '')).replace(/file:\/\/\S*?\/dist\//, 'dist/')]);
  }
  return { totalMs: total / 1e6, rows };
}

async function main() {
  installCleanup();
  if ((await run('perf', ['--version'], { timeoutMs: 5000 })).code !== 0) throw new Error('perf is not installed');
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-ambassador-perf-'));
  const redis = await startRedis(logDir);
  const args = o.load.split(/\s+/).filter(Boolean);
  const results = [];
  try {
    for (const id of o.targets) {
      const t = await startTarget(id, redis, logDir, { nodeArgs: ['--perf-basic-prof'] });
      try {
        await run('redis-benchmark', ['-p', String(t.port), ...args, '-q'], { timeoutMs: 120000 }); // warm-up
        const data = path.join(logDir, `${id}.data`);
        const rec = start(`perf-${id}`, 'perf', ['record', '-g', '-F', '2000', '-o', data, '-p', String(t.pid)], { logDir });
        await sleep(500);
        const r = await run('redis-benchmark', ['-p', String(t.port), ...args, '-q', '--csv'], { timeoutMs: 120000 });
        try { process.kill(rec.pid, 'SIGINT'); } catch { /* gone */ }
        await rec.exitPromise;
        const rps = r.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.split(',').slice(0, 2).join(' ').replaceAll('"', '')).join(', ');
        results.push({ id, cmdline: t.cmdline, rps, dso: await report(data, 'dso'), sym: await report(data, 'sym') });
        console.log(`${id}: ${rps}`);
      } finally {
        await stopTarget(t);
      }
    }
  } finally {
    await stop(redis.proc);
  }
  const L = [`# perf: ambassador vs plain relay, \`redis-benchmark ${o.load}\``, '',
    `Machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, Node ${process.version}; load average at end ${loadavg()?.join(' ')}. ` +
    'CPU-clock samples of the one process, 2 kHz, same request count for each target; ms are sampled CPU time.', ''];
  L.push('| target | rps | CPU sampled | ' + ['[kernel.kallsyms]', 'node', '[JIT]', 'libc.so.6'].map((d) => `${d} ms`).join(' | ') + ' |', '|---|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const by = (name) => r.dso.rows.filter(([, d]) => d.startsWith(name)).reduce((s, [p]) => s + p, 0) * r.dso.totalMs / 100;
    L.push(`| ${r.id} | ${r.rps} | ${r.dso.totalMs.toFixed(0)} ms | ${by('[kernel').toFixed(0)} | ${by('node').toFixed(0)} | ${by('[JIT]').toFixed(0)} | ${by('libc').toFixed(0)} |`);
  }
  for (const r of results) {
    L.push('', `## ${r.id}: top ${o.top} user-space symbols (JS: = JIT-compiled JavaScript)`, '', '| share | ms | symbol |', '|---:|---:|---|');
    for (const [p, s] of r.sym.rows.filter(([, s]) => !s.startsWith('[kernel]')).slice(0, o.top)) L.push(`| ${p.toFixed(2)}% | ${(p * r.sym.totalMs / 100).toFixed(0)} | \`${s}\` |`);
  }
  const slug = o.load.replace(/-n \d+/, '').replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '');
  const file = path.join(o.out, `perf-${slug}.md`);
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(file, `${L.join('\n')}\n`);
  fs.rmSync(logDir, { recursive: true, force: true });
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(`[perf] ${e.stack ?? e.message}`); process.exitCode = 1; });
