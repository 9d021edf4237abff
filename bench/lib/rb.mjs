// One redis-benchmark run of one test through one target, with CPU/RSS of the target process.
import fs from 'node:fs';
import { cpuSeconds, loadavg, parseInfo, rssSampler, run, systemCpu } from './procs.mjs';

// One redis-benchmark invocation per test so each gets its own request count (LRANGE_100 runs
// ~20x slower than GET at -P 16) and a timeout never loses other tests' numbers.
// LRANGE_100 is issued as the command redis-benchmark's `-t lrange_100` sends (LRANGE mylist 0 99);
// `-t lrange_100` would first repeat the whole LPUSH test. LPUSH runs right before it and fills mylist.
// GET after SET reads the 3-byte value; GET_16K after SET_16K reads the 16 KB value.
// `-d` changes only what SET writes, so a test that reads (GET, GET_16K, LRANGE_100) has its data
// put in place straight into Redis before each run (`prep`) when the run's test list leaves out the
// test that writes it (e.g. --tests SET,GET,LRANGE_100,GET_16K: no LPUSH, no SET_16K); with the
// full list the data is already there and nothing is written.
const KEY = 'key:__rand_int__'; // redis-benchmark's key without -r
export const TESTS = [
  { id: 'SET', args: ['-t', 'set'], cmd: 'set', weight: 1 },
  { id: 'GET', args: ['-t', 'get'], cmd: 'get', weight: 1, prep: { string: KEY, bytes: 3 } },
  { id: 'INCR', args: ['-t', 'incr'], cmd: 'incr', weight: 1 },
  { id: 'LPUSH', args: ['-t', 'lpush'], cmd: 'lpush', weight: 1 },
  { id: 'LRANGE_100', args: ['LRANGE', 'mylist', '0', '99'], cmd: 'lrange', weight: 0.35, weightP: 0.08, prep: { list: 'mylist', items: 100, bytes: 3 } },
  { id: 'MSET', args: ['-t', 'mset'], cmd: 'mset', weight: 0.8, weightP: 0.3 },
  { id: 'SET_16K', args: ['-t', 'set', '-d', '16384'], cmd: 'set', weight: 0.6, weightP: 0.1 },
  { id: 'GET_16K', args: ['-t', 'get', '-d', '16384'], cmd: 'get', weight: 0.6, weightP: 0.1, prep: { string: KEY, bytes: 16384 } },
];

/** Put a reading test's data in place (straight into Redis), as the test that writes it would. */
export async function prepare(test, redisCtl) {
  const p = test.prep;
  if (!p) return null;
  // redis-benchmark's values are 'x' repeated -d times.
  if (p.string) {
    if (Number(await redisCtl.call('STRLEN', p.string)) === p.bytes) return null;
    await redisCtl.call('SET', p.string, 'x'.repeat(p.bytes));
    return `SET ${p.string} (${p.bytes} bytes)`;
  }
  if (p.list) {
    const len = Number(await redisCtl.call('LLEN', p.list));
    if (len >= p.items) return null;
    await redisCtl.call('RPUSH', p.list, ...Array.from({ length: p.items - len }, () => 'x'.repeat(p.bytes)));
    return `RPUSH ${p.list} (${p.items - len} items of ${p.bytes} bytes)`;
  }
  return null;
}

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
  const startedAtMs = Date.now();
  const prepared = await prepare(test, redisCtl);
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
    target: target.id, cond: cond.id, test: test.id, n, startedAtMs,
    cmd: `redis-benchmark ${args.join(' ')}`,
    wallMs: Math.round(r.ms), timedOut: r.timedOut, exit: r.code,
    loadavg1: load,
    cpuS: cpu0 != null && cpu1 != null ? +(cpu1 - cpu0).toFixed(2) : null,
    redisCpuS: rcpu0 != null && rcpu1 != null ? +(rcpu1 - rcpu0).toFixed(2) : null,
    peakRssKb: mem ? mem.peakKb : null,
  };
  if (prepared) rec.prepared = prepared;
  // CPU seconds of the process under test per 100,000 commands (filled in below once the count is known).
  rec.cpuSPer100k = null;
  // redis-benchmark's stderr, less the one benign line: it asks CONFIG GET save/appendonly on a
  // connection of its own before the test, and a proxy that refuses CONFIG (twemproxy closes the
  // connection on unsupported commands) only costs that warning; the test itself is unaffected.
  const errText = r.stderr.split('\n').filter((l) => l.trim() && !/^RBTIME /.test(l) && l !== 'WARNING: Could not fetch server CONFIG').join('\n');
  if (errText) rec.benchStderr = errText.slice(-500);
  rec.configFetchFailed = r.stderr.includes('Could not fetch server CONFIG');
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
  // What Redis executed of the test's command during the run (its counters were reset before):
  // through a correct proxy, n (or up to n rounded up to a multiple of -P: redis-benchmark
  // issues whole pipelines and stops at n replies).
  let calls = null;
  try {
    const info = parseInfo(await redisCtl.call('INFO', 'commandstats'));
    const m = /calls=(\d+)/.exec(info[`cmdstat_${test.cmd}`] ?? '');
    calls = m ? +m[1] : 0;
  } catch { /* ignore */ }
  rec.redisCalls = calls;
  // Connections Redis accepted during the run (CONFIG RESETSTAT zeroes the counter): c + 1 (the
  // CONFIG fetch) through a per-client relay, fewer through a pooling proxy.
  try {
    rec.redisConnections = Number(/total_connections_received:(\d+)/.exec(await redisCtl.call('INFO', 'stats'))?.[1] ?? NaN);
  } catch { /* ignore */ }
  if (row && !r.timedOut) {
    Object.assign(rec, row);
    const hi = Math.ceil(n / cond.P) * cond.P;
    if (calls != null && (calls < n || calls > hi)) {
      rec.countMismatch = `Redis executed ${calls} ${test.cmd.toUpperCase()}, expected ${n}${hi > n ? `–${hi}` : ''}; Redis accepted ${rec.redisConnections} connections during the run`;
      // Who is connected now (the run's own clients are gone): names, addresses, last commands.
      try {
        rec.clientListAfter = String(await redisCtl.call('CLIENT', 'LIST')).split('\n').filter(Boolean)
          .map((l) => ['id', 'addr', 'name', 'age', 'idle', 'cmd'].map((k) => `${k}=${new RegExp(`\\b${k}=(\\S*)`).exec(l)?.[1] ?? ''}`).join(' '));
      } catch { /* ignore */ }
    }
    rec.completed = n;
    rec.estimated = false;
    if (rec.cpuS != null) rec.cpuSPer100k = +((rec.cpuS / n) * 1e5).toFixed(3);
  } else {
    // Timed out (or failed): estimate from what Redis executed.
    calls ??= 0;
    // A killed redis-benchmark can leave requests inside the proxy (socat's forks keep writing
    // what they had read): wait until Redis stops executing them, so they do not land in the
    // next run's counts, and record how many came late.
    let last = calls;
    for (let i = 0; i < 25; i++) {
      await new Promise((res) => setTimeout(res, 200));
      let now = last;
      try {
        const m = /calls=(\d+)/.exec(parseInfo(await redisCtl.call('INFO', 'commandstats'))[`cmdstat_${test.cmd}`] ?? '');
        now = m ? +m[1] : 0;
      } catch { /* ignore */ }
      if (now === last) break;
      last = now;
    }
    if (last > calls) rec.lateCalls = last - calls;
    rec.rps = r.ms > 0 ? +(calls / (r.ms / 1000)).toFixed(2) : 0;
    rec.estimated = true;
    rec.callsSeen = calls;
    rec.completed = calls;
    rec.stderr = r.stderr.slice(-300);
  }
  return rec;
}
