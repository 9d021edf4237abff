// Memory targets: RSS with many idle clients, and RSS while a client pipelines large GET replies
// it never reads (does the proxy stop reading from Redis when the client stops reading?).
import net from 'node:net';
import { Resp, hwmKb, rssKb, rssSampler, sleep, tcpLocalPorts } from './procs.mjs';

function openClient(port, ping) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const t = setTimeout(() => { s.destroy(); reject(new Error('idle client connect/PING timeout')); }, 10000);
    s.once('error', (e) => { clearTimeout(t); reject(e); });
    s.once('connect', () => {
      s.setNoDelay(true);
      if (!ping) { clearTimeout(t); resolve(s); return; }
      s.write('*1\r\n$4\r\nPING\r\n');
      let got = '';
      const onData = (d) => {
        got += d.toString();
        if (got.includes('\r\n')) {
          clearTimeout(t);
          s.off('data', onData);
          resolve(s);
        }
      };
      s.on('data', onData);
    });
  });
}

/**
 * Redis's client connections (CLIENT LIST) that belong to the target process: those whose
 * address is a local port of one of its sockets. Other targets of the same run may still hold
 * connections to the same Redis; they are not counted.
 */
async function redisClientsOf(redisCtl, target) {
  const ports = tcpLocalPorts(target.pid, target.withChildren);
  const lines = String(await redisCtl.call('CLIENT', 'LIST')).split('\n').filter((l) => l.startsWith('id='));
  const mine = lines.filter((l) => ports.has(Number(/\baddr=\S*:(\d+)\b/.exec(l)?.[1])));
  const byCmd = {};
  for (const l of mine) {
    const cmd = /\bcmd=(\S+)/.exec(l)?.[1] ?? '?';
    byCmd[cmd] = (byCmd[cmd] ?? 0) + 1;
  }
  return { count: mine.length, byCmd, all: lines.length };
}

/**
 * RSS of target with `clients` idle connections, each sent one PING (so the upstream leg exists
 * in dedicated mode, and the shared connection has carried it in shared mode). `mode` is the
 * ambassador's upstream mode (dedicated or shared), recorded with the result; Redis's own count
 * of its client connections (CLIENT LIST, less ours) says how many upstream connections the
 * target holds for them. The harness needs `clients` + a few file descriptors (run.mjs raises
 * its `ulimit -n`); the target gets 16384 from procs.start().
 */
export async function idleClientsTest(target, redisCtl, { clients = 1000, holdMs = 2000, mode = null, batch = 100, probe = null } = {}) {
  const before = await redisClientsOf(redisCtl, target);
  const baseKb = rssKb(target.pid, target.withChildren);
  const socks = [];
  const t0 = performance.now();
  let error = null;
  try {
    for (let i = 0; i < clients; i += batch) {
      const b = [];
      for (let j = i; j < Math.min(clients, i + batch); j++) b.push(openClient(target.port, true));
      const settled = await Promise.allSettled(b);
      for (const r of settled) if (r.status === 'fulfilled') socks.push(r.value);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } catch (e) {
    error = `${e.code ?? ''} ${e.message} after ${socks.length} clients`.trim();
  }
  const connectMs = performance.now() - t0;
  const info = await redisCtl.call('INFO', 'clients');
  const redisConnected = Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? NaN);
  const sampler = rssSampler(target.pid, { intervalMs: 100, withChildren: target.withChildren });
  await sleep(holdMs);
  const { peakKb, lastKb } = sampler.stop();
  // Counted while the clients are still connected.
  const seen = await redisClientsOf(redisCtl, target);
  // Anything else to read while the clients are there (after the RSS samples: it may allocate).
  const probed = probe ? await probe().catch((e) => ({ error: e.message })) : null;
  // Still all there after the hold? (A proxy that drops idle clients would show here.)
  const alive = socks.filter((s) => !s.destroyed && s.readyState === 'open').length;
  for (const s of socks) s.destroy();
  await sleep(300);
  return {
    target: target.id, mode, clients, connected: socks.length, aliveAfterHold: alive, error, connectMs: Math.round(connectMs),
    redisConnectedClients: redisConnected, redisClientsBefore: before.count, redisClientsSeen: seen.count, redisClientsByCmd: seen.byCmd, redisClientsAll: seen.all,
    baseRssKb: baseKb, rssKb: lastKb, peakRssKb: peakKb,
    probed, hwmKb: hwmKb(target.pid), afterCloseRssKb: rssKb(target.pid, target.withChildren),
  };
}

/**
 * One client writes `count` pipelined GETs of a `valueBytes` value and never reads. With
 * backpressure the proxy's RSS stays flat and Redis holds the replies in its output buffer.
 */
export async function backpressureTest(target, redisCtl, { valueBytes = 1 << 20, count = 1024, windowMs = 6000, abortKb = 1_600_000 } = {}) {
  const key = 'bench:bp:big';
  await redisCtl.call('SET', key, Buffer.alloc(valueBytes, 0x78));
  const baseKb = rssKb(target.pid);
  const sock = net.connect({ port: target.port, host: '127.0.0.1' });
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  sock.pause(); // never read: the kernel receive buffer fills, then the TCP window closes
  const cmd = Resp.encode(['GET', key]);
  sock.write(Buffer.concat(Array.from({ length: count }, () => cmd)));
  const sampler = rssSampler(target.pid, { intervalMs: 50 });
  const t0 = performance.now();
  let aborted = false;
  while (performance.now() - t0 < windowMs) {
    await sleep(100);
    if (sampler.peakKb > abortKb) { aborted = true; break; }
  }
  const { peakKb, lastKb } = sampler.stop();
  // Where are the replies? Redis's output buffer for the proxy's upstream connection (omem).
  let redisOmemBytes = null;
  let redisTotNetOut = null;
  try {
    const list = await redisCtl.call('CLIENT', 'LIST');
    let best = 0;
    for (const line of String(list).split('\n')) {
      const m = /omem=(\d+)/.exec(line);
      if (m && +m[1] > best) best = +m[1];
    }
    redisOmemBytes = best;
    const stats = await redisCtl.call('INFO', 'stats');
    redisTotNetOut = Number(/total_net_output_bytes:(\d+)/.exec(stats)?.[1] ?? NaN);
  } catch { /* ignore */ }
  sock.destroy();
  await sleep(500);
  await redisCtl.call('DEL', key);
  return {
    target: target.id, requestedBytes: valueBytes * count, valueBytes, count, windowMs,
    aborted, baseRssKb: baseKb, peakRssKb: peakKb, lastRssKb: lastKb, hwmKb: hwmKb(target.pid),
    redisOmemBytes, redisTotNetOut, afterCloseRssKb: rssKb(target.pid),
  };
}
