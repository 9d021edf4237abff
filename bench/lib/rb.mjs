// One redis-benchmark run of one test through one target, with CPU/RSS of the target process.
import fs from 'node:fs';
import { cpuSeconds, loadavg, parseInfo, rssSampler, run, systemCpu } from './procs.mjs';

// One redis-benchmark invocation per test so each gets its own request count (LRANGE_100 runs
// ~20x slower than GET at -P 16) and a timeout never loses other tests' numbers.
// LRANGE_100 is issued as the command redis-benchmark's `-t lrange_100` sends (LRANGE mylist 0 99);
// `-t lrange_100` would first repeat the whole LPUSH test. LPUSH runs right before it and fills mylist.
// GET after SET reads the 3-byte value; GET_16K after SET_16K reads the 16 KB value.
export const TESTS = [
  { id: 'SET', args: ['-t', 'set'], cmd: 'set', weight: 1 },
  { id: 'GET', args: ['-t', 'get'], cmd: 'get', weight: 1 },
  { id: 'INCR', args: ['-t', 'incr'], cmd: 'incr', weight: 1 },
  { id: 'LPUSH', args: ['-t', 'lpush'], cmd: 'lpush', weight: 1 },
  { id: 'LRANGE_100', args: ['LRANGE', 'mylist', '0', '99'], cmd: 'lrange', weight: 0.35, weightP: 0.08 },
  { id: 'MSET', args: ['-t', 'mset'], cmd: 'mset', weight: 0.8, weightP: 0.3 },
  { id: 'SET_16K', args: ['-t', 'set', '-d', '16384'], cmd: 'set', weight: 0.6, weightP: 0.1 },
  { id: 'GET_16K', args: ['-t', 'get', '-d', '16384'], cmd: 'get', weight: 0.6, weightP: 0.1 },
];

const HAVE_TIME = fs.existsSync('/usr/bin/time');

export const CONDS = [
  // guess: a deliberately low SET rate through a proxy on a busy 2-core box (first run's count only)
  { id: 'c1-P1', c: 1, P: 1, guess: 6000 },
  { id: 'c50-P1', c: 50, P: 1, guess: 15000 },
  { id: 'c1-P16', c: 1, P: 16, guess: 60000 },
  { id: 'c50-P16', c: 50, P: 16, guess: 150000 },
];

export const guessRate = (cond, test) => cond.guess * (cond.P > 1 ? (test.weightP ?? test.weight) : test.weight);

export function planN(rate, seconds, cond) {
  const nMin = Math.max(2 * cond.c * cond.P, 64);
  return Math.max(nMin, Math.min(5_000_000, Math.round((rate * seconds) / 100) * 100 || nMin));
}

/** `extra`: the target's own redis-benchmark options (--tls --cacert for a TLS listener). */
export function rbArgs(port, cond, test, n, extra = []) {
  return [
    ...extra,
    '-h', '127.0.0.1', '-p', String(port),
    '-c', String(cond.c), '-P', String(cond.P), '-n', String(n),
    '--csv', '-q', ...test.args,
  ];
}

function parseCsv(stdout) {
  const rows = [];
  for (const line of stdout.split('\n')) {
    const cells = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    if (cells.length < 8 || cells[0] === 'test') continue;
    const [name, rps, avg, min, p50, p95, p99, max] = cells;
    rows.push({ name, rps: +rps, avgMs: +avg, minMs: +min, p50Ms: +p50, p95Ms: +p95, p99Ms: +p99, maxMs: +max });
  }
  return rows;
}

/**
 * Run one test. `redisCtl` is a Resp client straight to Redis: CONFIG RESETSTAT before, and after a
 * timeout INFO commandstats estimates how many requests got through (rate = calls / elapsed).
 */
export async function runTest({ target, cond, test, n, timeoutMs, redisCtl, redisPid }) {
  await redisCtl.call('CONFIG', 'RESETSTAT');
  const cpu0 = target.proc ? cpuSeconds(target.pid, target.withChildren) : null;
  const rcpu0 = cpuSeconds(redisPid);
  const sampler = target.proc ? rssSampler(target.pid, { withChildren: target.withChildren }) : null;
  const load = loadavg()?.[0] ?? null;
  const args = rbArgs(target.port, cond, test, n, target.rbExtra ?? []);
  const sys0 = systemCpu();
  // /usr/bin/time reports redis-benchmark's own CPU, so the CPU used by everything else on the
  // machine during the run can be told apart (a 2-core box shared with other work is noisy).
  const r = HAVE_TIME
    ? await run('/usr/bin/time', ['-f', 'RBTIME %U %S', 'redis-benchmark', ...args], { timeoutMs })
    : await run('redis-benchmark', args, { timeoutMs });
  const sys1 = systemCpu();
  const mem = sampler ? sampler.stop() : null;
  // socat: let the per-connection children exit and be reaped into cutime/cstime.
  if (target.withChildren) await new Promise((res) => setTimeout(res, 60));
  const cpu1 = target.proc ? cpuSeconds(target.pid, target.withChildren) : null;
  const rcpu1 = cpuSeconds(redisPid);
  const rows = parseCsv(r.stdout);
  const row = rows[rows.length - 1];
  const rec = {
    target: target.id, cond: cond.id, test: test.id, n,
    cmd: `redis-benchmark ${args.join(' ')}`,
    wallMs: Math.round(r.ms), timedOut: r.timedOut, exit: r.code,
    loadavg1: load,
    cpuS: cpu0 != null && cpu1 != null ? +(cpu1 - cpu0).toFixed(2) : null,
    redisCpuS: rcpu0 != null && rcpu1 != null ? +(rcpu1 - rcpu0).toFixed(2) : null,
    peakRssKb: mem ? mem.peakKb : null,
  };
  const rbt = /RBTIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
  rec.benchCpuS = rbt ? +(+rbt[1] + +rbt[2]).toFixed(2) : null;
  if (sys0 && sys1 && r.ms > 0) {
    const busy = sys1.busyS - sys0.busyS;
    rec.sysBusyCores = +(busy / (r.ms / 1000)).toFixed(2);
    rec.stealCores = +((sys1.stealS - sys0.stealS) / (r.ms / 1000)).toFixed(2);
    // Everything not the target, Redis or redis-benchmark (the harness itself is a small part).
    const ours = (rec.cpuS ?? 0) + (rec.redisCpuS ?? 0) + (rec.benchCpuS ?? 0);
    rec.otherCores = +(Math.max(0, busy - ours) / (r.ms / 1000)).toFixed(2);
  }
  if (row && !r.timedOut) {
    Object.assign(rec, row);
    rec.completed = n;
    rec.estimated = false;
  } else {
    // Timed out (or failed): estimate from what Redis executed.
    let calls = 0;
    try {
      const info = parseInfo(await redisCtl.call('INFO', 'commandstats'));
      const m = /calls=(\d+)/.exec(info[`cmdstat_${test.cmd}`] ?? '');
      calls = m ? +m[1] : 0;
    } catch { /* ignore */ }
    rec.rps = r.ms > 0 ? +(calls / (r.ms / 1000)).toFixed(2) : 0;
    rec.estimated = true;
    rec.callsSeen = calls;
    rec.completed = calls;
    rec.stderr = r.stderr.slice(-300);
  }
  return rec;
}
