// Why is the seed's socat relay erratic? Compare its exact options with a larger accept backlog
// and with TCP_NODELAY, and count the kernel's listen-queue overflows while it runs.
import net from 'node:net';
import { sh, start, stop, tcpExt, waitPong, freePort } from './procs.mjs';
import { socatArgs } from './targets.mjs';
import { CONDS, TESTS, runTest } from './rb.mjs';

const VARIANTS = [
  { id: 'seed', label: 'seed: fork,reuseaddr', extra: '', upExtra: '' },
  { id: 'backlog', label: '+ backlog=511', extra: ',backlog=511', upExtra: '' },
  { id: 'backlog+nodelay', label: '+ backlog=511 + nodelay (both legs)', extra: ',backlog=511,nodelay', upExtra: ',nodelay' },
];

/** Sequential new connections: connect, PING, PONG, close. Returns median/p90/max in ms. */
async function connectLatency(port, count) {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      const timer = setTimeout(() => { s.destroy(); reject(new Error('connect+PING timeout')); }, 5000);
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
      s.once('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
      s.once('data', () => { clearTimeout(timer); s.destroy(); resolve(); });
    });
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const q = (p) => +ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(3);
  return { count, p50Ms: q(0.5), p90Ms: q(0.9), maxMs: +ms[ms.length - 1].toFixed(3) };
}

export async function socatDiagnosis({ redis, redisCtl, logDir, log, compare = [] }) {
  const connect = [];
  for (const t of compare) {
    const r = await connectLatency(t.port, 200);
    connect.push({ target: t.id, ...r });
    log(`  new connection + PING via ${t.id}: p50 ${r.p50Ms} ms, p90 ${r.p90Ms} ms`);
  }
  const cond = (id) => CONDS.find((c) => c.id === id);
  const test = (id) => TESTS.find((t) => t.id === id);
  const cases = [
    { cond: cond('c50-P1'), test: test('SET'), n: 5000 },
    { cond: cond('c50-P1'), test: test('SET'), n: 30000 },
    { cond: cond('c1-P16'), test: test('LRANGE_100'), n: 800 },
    { cond: cond('c1-P1'), test: test('SET_16K'), n: 50 },
    { cond: cond('c1-P1'), test: test('GET_16K'), n: 50 },
  ];
  const rows = [];
  let listenQueue = null;
  for (const v of VARIANTS) {
    const port = await freePort();
    const args = socatArgs(port, redis.port, v.extra, v.upExtra);
    const proc = start(`socatdiag-${v.id}-${port}`, 'socat', args, { logDir });
    try {
      await waitPong(port, 5000, () => !proc.exited);
      const ss = await sh(`ss -ltnH 'sport = :${port}' 2>/dev/null`);
      const backlog = Number(ss.split(/\s+/)[2]);
      if (v.id === 'seed') listenQueue = ss;
      const target = { id: `socat-${v.id}`, port, proc, pid: proc.pid, withChildren: true };
      if (v.id === 'seed') {
        const r = await connectLatency(port, 200);
        connect.push({ target: 'socat', ...r });
        log(`  new connection + PING via socat: p50 ${r.p50Ms} ms, p90 ${r.p90Ms} ms`);
      }
      for (const cs of cases) {
        const before = tcpExt();
        const rec = await runTest({ target, cond: cs.cond, test: cs.test, n: cs.n, timeoutMs: 12000, redisCtl, redisPid: redis.pid });
        const after = tcpExt();
        rec.variant = v.id;
        rec.variantLabel = v.label;
        rec.command = `socat ${args.join(' ')}`;
        rec.listenBacklog = backlog;
        rec.listenOverflows = (after.TcpExtListenOverflows ?? 0) - (before.TcpExtListenOverflows ?? 0);
        rec.synRetrans = (after.TcpExtTCPSynRetrans ?? 0) - (before.TcpExtTCPSynRetrans ?? 0);
        rows.push(rec);
        log(`  socat ${v.id.padEnd(16)} ${cs.cond.id.padEnd(8)} ${cs.test.id.padEnd(10)} n=${String(cs.n).padEnd(6)} ` +
          `${rec.estimated ? '~' : ''}${Math.round(rec.rps)} rps  max ${rec.maxMs ?? '?'} ms  overflows ${rec.listenOverflows}`);
      }
    } finally {
      await stop(proc, 1000);
    }
  }
  return { variants: VARIANTS, rows, seedListenSocket: listenQueue, connect };
}
