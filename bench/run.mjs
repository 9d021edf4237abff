#!/usr/bin/env node
// Benchmark: the ambassador beside direct Redis, socat (as the seed image runs it) and a plain Node
// pipe relay. Writes bench/results/report.md, chart.svg and <mode>.raw.json.
//
//   npm run bench                 full run (~8 min on 2 cores)
//   npm run bench -- --quick      smoke run (< 1 min), results in bench/results/quick/
//   node bench/run.mjs --help
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hwmKb, installCleanup, loadavg, Resp, sh, sleep, stop, systemCpu } from './lib/procs.mjs';
import { TARGETS, ambassadorAvailable, cliPath, findBin, missingBin, repoRoot, setBaseCliPath, setCliPath, sharedConnectionsOf, startRedis, startTarget, stopTarget } from './lib/targets.mjs';
import { CONDS, TESTS, guessRate, planN, runTest } from './lib/rb.mjs';
import { backpressureTest, idleClientsTest } from './lib/memory.mjs';
import { socatDiagnosis } from './lib/socatdiag.mjs';
import { expectedCounts, writeReport } from './lib/report.mjs';

const HELP = `usage: node bench/run.mjs [options]   (npm run bench -- [options])
  --quick              one repetition, short runs, no calibration, no socat diagnosis (< 1 min)
  --reps N             measured repetitions (default 3; quick 1)
  --seconds S          target duration of each redis-benchmark run (default 0.5; quick 0.05)
  --targets a,b,...    any of ${TARGETS.map((t) => `${t.id}${t.optional ? '*' : ''}`).join(',')}
                       (* opt-in; amb-sharedN = shared mode with N upstream connections; haproxy,
                       twemproxy and socat are skipped with a note when their binary is absent)
  --conds a,b,...      subset of ${CONDS.map((c) => c.id).join(',')}
  --tests a,b,...      subset of ${TESTS.map((t) => t.id).join(',')}
  --wait-idle S        before the matrix and each repetition, wait (at most S s in total) until the
                       machine's CPU use by others is below 0.5 core over 3 s (shared machines)
  --other-max C        repeat a run during which other processes used more than C cores (default 0.5)
  --retry-share F      at most F × the number of runs are repeated that way (default 0.15; quick 0)
  --cli PATH           the ambassador entry to run (default dist/cli.js; env BENCH_CLI)
  --base-cli PATH      a second build (e.g. of the commit before a change) as target amb-base,
                       interleaved with the others for before/after ratios (env BENCH_BASE_CLI)
  --no-memory          skip the idle-clients and backpressure memory tests
  --no-matrix          skip calibration and the measured matrix (memory tests only)
  --idle-clients N     idle clients per dedicated-mode target (default 1000)
  --idle-shared-clients N  idle clients per shared-mode target (default 10000; quick 1000); the
                       bench raises its own \`ulimit -n\` (re-running itself under sh) to fit
  --no-socat-diag      skip the socat investigation
  --out DIR            output directory (default bench/results, quick: bench/results/quick)
  --report-only FILE   re-render report.md and chart.svg from a raw JSON file
`;

function parseArgs(argv) {
  const o = { matrix: true, idleClients: 1000, idleSharedClients: null, waitIdle: 0, otherMax: 0.5, retryShare: 0.15, quick: false, reps: null, seconds: null, targets: null, conds: null, tests: null, memory: true, socatDiag: null, out: null, reportOnly: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--quick') o.quick = true;
    else if (a === '--reps') o.reps = Number(val());
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--targets') o.targets = val().split(',');
    else if (a === '--conds') o.conds = val().split(',');
    else if (a === '--tests') o.tests = val().split(',');
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--no-matrix') o.matrix = false;
    else if (a === '--idle-clients') o.idleClients = Number(val());
    else if (a === '--idle-shared-clients') o.idleSharedClients = Number(val());
    else if (a === '--cli') o.cli = val();
    else if (a === '--base-cli') o.baseCli = val();
    else if (a === '--wait-idle') o.waitIdle = Number(val());
    else if (a === '--other-max') o.otherMax = Number(val());
    else if (a === '--retry-share') o.retryShare = Number(val());
    else if (a === '--no-socat-diag') o.socatDiag = false;
    else if (a === '--socat-diag') o.socatDiag = true;
    else if (a === '--out') o.out = val();
    else if (a === '--report-only') o.reportOnly = val();
    else if (a === '-h' || a === '--help') { process.stdout.write(HELP); process.exit(0); }
    else throw new Error(`unknown option ${a}\n${HELP}`);
  }
  o.reps ??= o.quick ? 1 : 3;
  o.seconds ??= o.quick ? 0.05 : 0.5;
  if (o.quick) o.retryShare = 0;
  o.socatDiag ??= !o.quick && o.matrix;
  o.idleSharedClients ??= o.quick ? 1000 : 10000;
  for (const k of ['idleClients', 'idleSharedClients']) if (!(Number.isInteger(o[k]) && o[k] >= 1 && o[k] <= 60000)) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be 1..60000`);
  o.out ??= path.join(repoRoot, 'bench', 'results', ...(o.quick ? ['quick'] : []));
  if (!(o.reps >= 1 && o.reps <= 50)) throw new Error('--reps must be 1..50');
  if (!(o.seconds > 0 && o.seconds <= 30)) throw new Error('--seconds must be in (0, 30]');
  return o;
}

const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

async function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown';
  let ambVersion = null;
  try { ambVersion = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version; } catch { /* none */ }
  return {
    nproc: Number(await sh('nproc')),
    cpuModel: model,
    memTotalGb: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
    redisServer: await sh('redis-server --version'),
    redisBenchmark: await sh('redis-benchmark --version'),
    socat: (await sh('socat -V 2>/dev/null | grep -m1 "socat version"')) || 'unknown',
    haproxy: findBin('haproxy') ? (await sh(`'${findBin('haproxy')}' -v 2>/dev/null | head -1`)) || 'unknown' : 'absent',
    nutcracker: findBin('nutcracker') ? (await sh(`'${findBin('nutcracker')}' --version 2>&1 | head -1`)) || 'unknown' : 'absent',
    ambassador: ambVersion,
    gitCommit: await sh(`git -C '${repoRoot}' rev-parse --short HEAD 2>/dev/null`),
    gitDirty: (await sh(`git -C '${repoRoot}' status --porcelain -- src 2>/dev/null | head -1`)) !== '',
    ambassadorCli: cliPath.startsWith(repoRoot + path.sep) ? path.relative(repoRoot, cliPath) : cliPath,
    // A build outside the repo (--cli) may carry the commit it was built from in <root>/.commit.
    ambassadorCommit: cliPath.startsWith(path.join(repoRoot, 'dist'))
      ? null
      : (() => { try { return fs.readFileSync(path.join(path.dirname(path.dirname(cliPath)), '.commit'), 'utf8').trim(); } catch { return null; } })(),
    ulimitN: Number(await sh('ulimit -n')),
  };
}

/** Busy cores on the whole machine over `ms` (nothing of ours is running a benchmark then). */
async function busyCores(ms) {
  const a = systemCpu();
  await sleep(ms);
  const b = systemCpu();
  return a && b ? (b.busyS - a.busyS) / (ms / 1000) : 0;
}

async function waitIdle(budget, raw, label) {
  if (budget.left <= 0) return;
  const t = Date.now();
  let busy = await busyCores(3000);
  while (busy > 0.5 && budget.left - (Date.now() - t) / 1000 > 0) {
    log(`machine busy (${busy.toFixed(2)} cores used by others); waiting (${Math.round(budget.left - (Date.now() - t) / 1000)} s of --wait-idle left)`);
    busy = await busyCores(3000);
  }
  const waited = (Date.now() - t) / 1000;
  budget.left -= waited;
  raw.idleWaits.push({ at: label, waitedS: +waited.toFixed(1), busyCoresAfter: +busy.toFixed(2) });
}

/**
 * The idle-clients test opens its clients from this process: 10,000 of them need 10,000 file
 * descriptors here (and as many in the target, which procs.start() gives `ulimit -n 16384`). Node
 * raises its own soft limit to the hard limit at start; past the hard limit it cannot go, so the
 * bench runs itself again under a shell that tries `ulimit -n N` (which raises the hard limit
 * too where that is allowed, e.g. root with CAP_SYS_RESOURCE). Returns true when the re-run took over.
 */
async function ensureFdLimit(need) {
  if (process.env.BENCH_FD_RAISED) return false;
  const soft = Number(await sh('ulimit -n'));
  if (!(soft < need)) return false;
  const script = `ulimit -n ${need} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
  const child = spawn('/bin/sh', ['-c', script, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, BENCH_FD_RAISED: String(soft), BENCH_FD_WANTED: String(need) },
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { try { child.kill(sig); } catch { /* gone */ } });
  const code = await new Promise((res) => child.on('exit', (c, sig) => res(c ?? (sig ? 128 : 1))));
  process.exitCode = code;
  return true;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.reportOnly) {
    const raw = JSON.parse(fs.readFileSync(opts.reportOnly, 'utf8'));
    const files = await writeReport(raw, opts.out);
    console.log(`wrote ${files.join(', ')}`);
    return;
  }
  if (opts.cli) setCliPath(opts.cli);
  if (opts.baseCli) setBaseCliPath(opts.baseCli);
  let targetIds = opts.targets ?? TARGETS.filter((t) => !t.optional).map((t) => t.id);
  const idleCount = (id) => (sharedConnectionsOf(id) !== undefined ? opts.idleSharedClients : opts.idleClients);
  if (opts.memory && await ensureFdLimit(Math.max(...targetIds.map(idleCount), 0) + 512)) return;
  installCleanup();
  fs.mkdirSync(opts.out, { recursive: true });
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-ambassador-bench-'));

  const notes = [];
  if (!ambassadorAvailable() && targetIds.some((t) => t.startsWith('amb'))) {
    notes.push(`${cliPath} not found: ambassador targets skipped (run \`npm run build\`).`);
    targetIds = targetIds.filter((t) => !t.startsWith('amb'));
  }
  for (const id of [...targetIds]) {
    const bin = missingBin(id);
    if (!bin) continue;
    const pkg = { socat: 'socat', haproxy: 'haproxy', nutcracker: 'nutcracker' }[bin];
    notes.push(`\`${bin}\` not found on PATH: target ${id} skipped (Debian: \`apt-get install ${pkg}\`).`);
    targetIds = targetIds.filter((t) => t !== id);
  }
  if (process.env.BENCH_FD_RAISED) {
    const now = Number(await sh('ulimit -n'));
    const want = Number(process.env.BENCH_FD_WANTED);
    notes.push(now >= want
      ? `The bench raised its own file-descriptor limit (\`ulimit -n\`) from ${process.env.BENCH_FD_RAISED} to ${now} for the idle-clients test.`
      : `The idle-clients test wants ${want} file descriptors, but \`ulimit -n\` could only go from ${process.env.BENCH_FD_RAISED} to ${now} (the hard limit; raise it, e.g. \`ulimit -Hn ${want}\` as root or LimitNOFILE=, and run again): clients past that fail to connect.`);
  }
  const conds = CONDS.filter((c) => !opts.conds || opts.conds.includes(c.id));
  const tests = TESTS.filter((t) => !opts.tests || opts.tests.includes(t.id));

  const machine = await machineInfo();
  const raw = {
    version: 1,
    mode: opts.quick ? 'quick' : 'full',
    command: process.env.npm_lifecycle_event === 'bench'
      ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
      : `node bench/run.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt: new Date().toISOString(),
    machine,
    loadavgStart: loadavg(),
    options: { matrix: opts.matrix, idleClients: opts.idleClients, idleSharedClients: opts.idleSharedClients, waitIdle: opts.waitIdle, otherMax: opts.otherMax, retryShare: opts.retryShare, reps: opts.reps, seconds: opts.seconds, targets: targetIds, conds: conds.map((c) => c.id), tests: tests.map((t) => t.id) },
    notes,
    targets: [],
    calibration: [],
    runs: [],
    memory: { idle: [], backpressure: [] },
    warmups: [],
    socatDiag: null,
    shutdown: {},
    metricsCheck: null,
    idleWaits: [],
    discarded: [],
  };
  const idleBudget = { left: opts.waitIdle };
  log(`machine: ${machine.nproc} cores, ${machine.cpuModel}, node ${machine.node}; load ${raw.loadavgStart?.join(' ')}`);
  log(`logs in ${logDir}`);

  let redis;
  let redisCtl;
  const running = [];
  try {
    redis = await startRedis(logDir, { tls: targetIds.includes('direct-tls') });
    redisCtl = await Resp.connect(redis.port);
    log(`redis-server on 127.0.0.1:${redis.port} (pid ${redis.pid})`);
    for (const id of targetIds) {
      const t = await startTarget(id, redis, logDir);
      running.push(t);
      raw.targets.push({ id: t.id, label: t.label, port: t.port, pid: t.pid, cmdline: t.cmdline });
      log(`${id.padEnd(8)} on ${t.port}: ${t.cmdline}`);
    }

    // ---- calibration + warm-up (not counted): per target, cond and test, a short run at a guessed
    // count; the measured rate sets each later run's request count (~opts.seconds long).
    const rate = new Map();
    const key = (t, c, x) => `${t}|${c}|${x}`;
    // Measured rate of this cell, else this target's measured rate for another test in the same
    // condition scaled by the tests' relative weights, else a conservative guess.
    const estimateRate = (tid, cond, test) => {
      const own = rate.get(key(tid, cond.id, test.id));
      if (own) return own;
      for (const other of tests) {
        const r = rate.get(key(tid, cond.id, other.id));
        if (r) return (r * guessRate(cond, test)) / guessRate(cond, other);
      }
      return guessRate(cond, test);
    };
    if (!opts.matrix) {
      log('--no-matrix: no calibration, no measured runs');
    } else if (opts.quick) {
      // No calibration pass: one short warm-up run per target so V8 has compiled the hot path.
      const cond = CONDS.find((c) => c.id === 'c50-P16');
      const test = TESTS.find((t) => t.id === 'GET');
      for (const t of running) raw.warmups.push(await runTest({ target: t, cond, test, n: 20000, timeoutMs: 1500, redisCtl, redisPid: redis.pid }));
    } else {
      await waitIdle(idleBudget, raw, 'calibration');
      log('calibration / warm-up pass');
      for (const cond of conds) {
        await redisCtl.call('FLUSHALL');
        for (const test of tests) {
          for (const t of running) {
            const n = planN(estimateRate(t.id, cond, test), 0.12, cond);
            const rec = await runTest({ target: t, cond, test, n, timeoutMs: 2500, redisCtl, redisPid: redis.pid });
            raw.calibration.push(rec);
            rate.set(key(t.id, cond.id, test.id), Math.max(rec.rps, 1));
          }
        }
      }
    }

    // ---- measured repetitions: interleaved per test (A B C D E, A B C D E ...), start rotated.
    const total = opts.matrix ? opts.reps * conds.length * tests.length * running.length : 0;
    let retryBudget = Math.round(total * opts.retryShare);
    let done = 0;
    for (let rep = 0; rep < (opts.matrix ? opts.reps : 0); rep++) {
      await waitIdle(idleBudget, raw, `rep ${rep + 1}`);
      for (const cond of conds) {
        await redisCtl.call('FLUSHALL');
        for (const [ti, test] of tests.entries()) {
          const rot = (rep + ti) % running.length;
          const order = [...running.slice(rot), ...running.slice(0, rot)];
          for (const t of order) {
            const est = estimateRate(t.id, cond, test);
            const n = planN(est, opts.seconds, cond);
            const timeoutMs = Math.max(opts.quick ? 800 : 6000, (n / est) * (opts.quick ? 3000 : 4000));
            let rec = await runTest({ target: t, cond, test, n, timeoutMs, redisCtl, redisPid: redis.pid });
            // A run during which other work on the machine took more than half a core is repeated
            // (at most twice, and within a budget of retries) so bursts of foreign load are not measured.
            for (let attempt = 1; attempt <= 2 && rec.otherCores > opts.otherMax && retryBudget > 0; attempt++) {
              retryBudget--;
              rec.discarded = true;
              raw.discarded.push(rec);
              log(`     ${t.id} ${cond.id} ${test.id}: others used ${rec.otherCores} cores during the run; repeating it`);
              rec = await runTest({ target: t, cond, test, n, timeoutMs, redisCtl, redisPid: redis.pid });
              rec.attempt = attempt + 1;
            }
            rec.rep = rep;
            raw.runs.push(rec);
            if (!rec.estimated && rec.rps > 0) rate.set(key(t.id, cond.id, test.id), rec.rps);
            done++;
            log(`${String(done).padStart(4)}/${total} rep ${rep + 1} ${cond.id.padEnd(7)} ${test.id.padEnd(10)} ${t.id.padEnd(7)} ` +
              `n=${String(n).padEnd(7)} ${rec.estimated ? '~' : ' '}${Math.round(rec.rps).toString().padStart(8)} rps` +
              `${rec.p50Ms != null ? `  p50 ${rec.p50Ms} ms` : ''}${rec.cpuS != null ? `  cpu ${rec.cpuS}s` : ''}${rec.cpuSPer100k != null ? ` (${rec.cpuSPer100k} s/100k)` : ''}${rec.timedOut ? '  TIMEOUT' : ''}` +
              `${rec.countMismatch ? `  COUNT: ${rec.countMismatch}` : ''}${rec.benchStderr ? `  STDERR: ${rec.benchStderr.split('\n')[0].slice(0, 120)}` : ''}`);
          }
        }
      }
    }
    for (const t of running) {
      const rt = raw.targets.find((x) => x.id === t.id);
      if (t.proc) rt.vmHwmKbAfterMatrix = hwmKb(t.pid);
    }

    // ---- metrics sanity check: each metrics-on ambassador really counted commands, and counted
    // exactly what Redis executed through it (every run's INFO commandstats, summed per command).
    raw.metricsChecks = [];
    for (const t of running.filter((x) => x.adminPort)) {
      const mine = [...raw.warmups, ...raw.calibration, ...raw.discarded, ...raw.runs].filter((r) => r.target === t.id);
      const expected = expectedCounts(raw, t.id);
      const exact = mine.every((r) => r.redisCalls != null);
      const check = { target: t.id, expected, exact };
      try {
        const res = await fetch(`http://127.0.0.1:${t.adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
        const text = await res.text();
        const cmdLines = text.split('\n').filter((l) => l.startsWith('redis_ambassador_commands_total{'));
        const counted = {};
        for (const l of cmdLines) {
          const cmd = /cmd="([^"]+)"/.exec(l)?.[1];
          counted[cmd] = (counted[cmd] ?? 0) + (Number(l.split(' ').pop()) || 0);
        }
        const commandsTotal = Object.values(counted).reduce((a, b) => a + b, 0);
        const top = cmdLines.map((l) => [l, Number(l.split(' ').pop())]).sort((a, b) => b[1] - a[1]).slice(0, 4).map((x) => x[0]);
        const gauge = (name) => { const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)`, 'm').exec(text); return m ? Number(m[1]) : null; };
        const pinned = {};
        for (const m of text.matchAll(/^redis_ambassador_pinned_clients_total\{[^}]*reason="([^"]+)"\} (\S+)/gm)) if (Number(m[2])) pinned[m[1]] = Number(m[2]);
        const disconnects = {};
        for (const m of text.matchAll(/^redis_ambassador_upstream_disconnects_total\{[^}]*cause="([^"]+)"\} (\S+)/gm)) if (Number(m[2])) disconnects[m[1]] = Number(m[2]);
        const mismatches = Object.entries(expected).filter(([cmd, n]) => (counted[cmd] ?? 0) !== n).map(([cmd, n]) => `${cmd}: counted ${counted[cmd] ?? 0}, Redis executed ${n}`);
        Object.assign(check, {
          status: res.status, bytes: text.length, series: cmdLines.length, commandsTotal, counted, top, mismatches,
          sharedConnections: gauge('redis_ambassador_shared_connections'), pinned, disconnects,
          protocolErrors: Object.fromEntries([...text.matchAll(/^redis_ambassador_protocol_errors_total\{[^}]*side="([^"]+)"\} (\S+)/gm)].map((m) => [m[1], Number(m[2])])),
        });
        log(`metrics ${t.id}: ${commandsTotal} commands counted; ${mismatches.length ? `MISMATCH ${mismatches.join('; ')}` : 'per-command counts equal what Redis executed'}` +
          `${check.sharedConnections != null ? `; shared connections up ${check.sharedConnections}` : ''}${Object.keys(pinned).length ? `; pinned ${JSON.stringify(pinned)}` : ''}`);
      } catch (e) {
        check.error = e.message;
      }
      raw.metricsChecks.push(check);
    }
    raw.metricsCheck = raw.metricsChecks.find((c) => c.target === 'amb-on') ?? null;

    // ---- memory targets, each on a fresh process. Idle clients: 1,000 per dedicated-mode target,
    // 10,000 per shared-mode one (--idle-clients / --idle-shared-clients).
    if (opts.memory) {
      const isShared = (id) => sharedConnectionsOf(id) !== undefined;
      const memTargets = running.filter((t) => ['relay', 'amb-on', 'amb-off'].includes(t.id) || isShared(t.id)).map((t) => t.id);
      const quickMem = opts.quick ? memTargets.filter((id) => id === 'amb-on' || id === 'amb-shared') : memTargets;
      for (const id of quickMem) {
        let t = await startTarget(id, redis, logDir);
        try {
          const clients = idleCount(id);
          const mode = id.startsWith('amb') ? (isShared(id) ? 'shared' : 'dedicated') : null;
          // With the clients connected: the ambassador's own view (shared connections up, V8 heap).
          const probe = t.adminPort ? async () => {
            const text = await (await fetch(`http://127.0.0.1:${t.adminPort}/metrics`, { signal: AbortSignal.timeout(10000) })).text();
            const g = (name) => { const v = Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN); return Number.isFinite(v) ? v : null; };
            return {
              sharedConnections: g('redis_ambassador_shared_connections'),
              clientConnections: g('redis_ambassador_client_connections'),
              heapUsedBytes: g('redis_ambassador_nodejs_heap_size_used_bytes'),
              heapTotalBytes: g('redis_ambassador_nodejs_heap_size_total_bytes'),
              externalBytes: g('redis_ambassador_nodejs_external_memory_bytes'),
            };
          } : null;
          const r = await idleClientsTest(t, redisCtl, { clients, holdMs: opts.quick ? 500 : 2000, mode, probe });
          r.sharedConnections = r.probed?.sharedConnections ?? null;
          raw.memory.idle.push(r);
          log(`idle ${id}${mode ? ` (${mode})` : ''}: ${r.connected}/${r.clients} clients (${r.aliveAfterHold} still open after the hold), RSS ${(r.baseRssKb / 1024).toFixed(1)} -> ${(r.peakRssKb / 1024).toFixed(1)} MB; ` +
            `Redis sees ${r.redisClientsSeen} connections of the target (${JSON.stringify(r.redisClientsByCmd)})${r.error ? ` (${r.error})` : ''}` +
            `${r.probed?.heapUsedBytes != null ? `; V8 heap used ${(r.probed.heapUsedBytes / 2 ** 20).toFixed(1)} MB of ${(r.probed.heapTotalBytes / 2 ** 20).toFixed(1)}, external ${(r.probed.externalBytes / 2 ** 20).toFixed(1)} MB` : ''}`);
        } finally {
          await stopTarget(t);
        }
        if (opts.quick && isShared(id)) continue;
        t = await startTarget(id, redis, logDir);
        try {
          const r = await backpressureTest(t, redisCtl, opts.quick
            ? { valueBytes: 1 << 20, count: 256, windowMs: 1500 }
            : { valueBytes: 1 << 20, count: 1024, windowMs: 6000 });
          // Did the proxy close the non-reading client? (shared mode does, past AMBASSADOR_CLIENT_OUTPUT_LIMIT)
          try {
            const lines = fs.readFileSync(path.join(logDir, `${t.proc.name}.log`), 'utf8').split('\n');
            r.proxyWarnings = lines.filter((l) => /"level":"(warn|error)"/.test(l)).slice(0, 5).map((l) => { try { const o = JSON.parse(l); return `${o.event}${o.unread_bytes ? ` (unread_bytes ${o.unread_bytes})` : ''}`; } catch { return l.slice(0, 200); } });
          } catch { /* no log */ }
          raw.memory.backpressure.push(r);
          log(`backpressure ${id}: ${(r.requestedBytes / 2 ** 20).toFixed(0)} MiB requested, RSS ${(r.baseRssKb / 1024).toFixed(1)} -> peak ${(r.peakRssKb / 1024).toFixed(1)} MB; ` +
            `Redis holds ${((r.redisOmemBytes ?? 0) / 2 ** 20).toFixed(0)} MiB${r.aborted ? ' (ABORTED: RSS cap)' : ''}${r.proxyWarnings?.length ? `; proxy: ${r.proxyWarnings.join('; ')}` : ''}`);
        } finally {
          await stopTarget(t);
        }
      }
    }

    // ---- socat investigation
    if (opts.socatDiag) {
      log('socat investigation');
      raw.socatDiag = await socatDiagnosis({ redis, redisCtl, logDir, log, compare: running.filter((t) => ['direct', 'relay', 'amb-on'].includes(t.id)) });
    }
  } finally {
    for (const t of running) {
      if (!t.proc) continue;
      const res = await stopTarget(t);
      raw.shutdown[t.id] = res;
    }
    redisCtl?.close();
    if (redis) await stop(redis.proc, 3000);
    raw.loadavgEnd = loadavg();
    raw.finishedAt = new Date().toISOString();
    raw.elapsedS = Math.round((Date.now() - t0) / 1000);
  }

  const rawPath = path.join(opts.out, `${raw.mode}.raw.json`);
  fs.writeFileSync(rawPath, JSON.stringify(raw, null, 1));
  const files = await writeReport(raw, opts.out);
  log(`load ${raw.loadavgEnd?.join(' ')}; wrote ${path.relative(process.cwd(), rawPath)}, ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  fs.rmSync(logDir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(`[bench] failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
