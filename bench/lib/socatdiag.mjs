// Why is the seed's socat relay erratic? Compare its exact options with a larger accept backlog
// and with TCP_NODELAY, and count the kernel's listen-queue overflows while it runs.
import { sh, start, stop, tcpExt, waitPong, freePort } from './procs.mjs';
import { socatArgs } from './targets.mjs';
import { CONDS, TESTS, runTest } from './rb.mjs';

const VARIANTS = [
  { id: 'seed', label: 'seed: fork,reuseaddr', extra: '', upExtra: '' },
  { id: 'backlog', label: '+ backlog=511', extra: ',backlog=511', upExtra: '' },
  { id: 'backlog+nodelay', label: '+ backlog=511 + nodelay (both legs)', extra: ',backlog=511,nodelay', upExtra: ',nodelay' },
];

export async function socatDiagnosis({ redis, redisCtl, logDir, log }) {
  const cond = (id) => CONDS.find((c) => c.id === id);
  const test = (id) => TESTS.find((t) => t.id === id);
  const cases = [
    { cond: cond('c50-P1'), test: test('SET'), n: 5000 },
    { cond: cond('c50-P1'), test: test('SET'), n: 50000 },
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
      for (const cs of cases) {
        const before = tcpExt();
        const rec = await runTest({ target, cond: cs.cond, test: cs.test, n: cs.n, timeoutMs: 9000, redisCtl, redisPid: redis.pid });
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
  return { variants: VARIANTS, rows, seedListenSocket: listenQueue };
}
