// Memory targets: RSS with many idle clients, and RSS while a client pipelines large GET replies
// it never reads (does the proxy stop reading from Redis when the client stops reading?).
import net from 'node:net';
import { Resp, hwmKb, rssKb, rssSampler, sleep } from './procs.mjs';

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

/** RSS of target with `clients` idle connections (each sent one PING so the upstream leg exists). */
export async function idleClientsTest(target, redisCtl, { clients = 1000, holdMs = 2000 } = {}) {
  const baseKb = rssKb(target.pid);
  const socks = [];
  const t0 = performance.now();
  let error = null;
  try {
    for (let i = 0; i < clients; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(clients, i + 100); j++) batch.push(openClient(target.port, true));
      socks.push(...(await Promise.all(batch)));
    }
  } catch (e) {
    error = `${e.code ?? ''} ${e.message} after ${socks.length} clients`;
  }
  const connectMs = performance.now() - t0;
  const info = await redisCtl.call('INFO', 'clients');
  const redisClients = Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? NaN);
  const sampler = rssSampler(target.pid, { intervalMs: 100 });
  await sleep(holdMs);
  const { peakKb, lastKb } = sampler.stop();
  for (const s of socks) s.destroy();
  await sleep(300);
  return {
    target: target.id, clients, connected: socks.length, error, connectMs: Math.round(connectMs),
    redisConnectedClients: redisClients, baseRssKb: baseKb, rssKb: lastKb, peakRssKb: peakKb,
    hwmKb: hwmKb(target.pid), afterCloseRssKb: rssKb(target.pid),
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
