/**
 * What a redis-server says about itself (INFO, CLIENT LIST), asked on a connection of its own:
 * a new one for a port, or one the caller keeps (so that no connection comes and goes on a
 * server whose client count or ids a test watches).
 */
import { call, direct, RawClient } from './rawClient.js';
import { cmd, plain } from './resp.js';
import { waitUntil } from './wait.js';

/** A redis-server's port, or a connection to it the caller keeps. */
export type Asked = number | RawClient;

/** INFO <section>, as field → value. */
export async function info(on: Asked, section: string): Promise<Record<string, string>> {
  const r = typeof on === 'number' ? (await direct(on, ['INFO', section]))[0] : await on.call(['INFO', section], 10_000);
  const out: Record<string, string> = {};
  for (const line of String(plain(r!)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** INFO commandstats: per command ("config|get" for subcommands) its calls, rejected_calls, failed_calls, … */
export async function commandStats(port: number): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [field, value] of Object.entries(await info(port, 'commandstats'))) {
    if (!field.startsWith('cmdstat_')) continue;
    out[field.slice('cmdstat_'.length)] = Object.fromEntries(
      value.split(',').map((pair) => {
        const [k, v] = pair.split('=');
        return [k!, Number(v)];
      }),
    );
  }
  return out;
}

/** CLIENT LIST [filter…]: one field → value record per connection (id, addr, name, db, cmd, qbuf, …). */
export async function clientList(on: Asked, ...filter: string[]): Promise<Record<string, string>[]> {
  const r = typeof on === 'number' ? (await direct(on, ['CLIENT', 'LIST', ...filter]))[0] : await on.call(['CLIENT', 'LIST', ...filter], 10_000);
  return String(plain(r!))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Object.fromEntries(l.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
}

/**
 * The CLIENT LIST entry of the upstream connection that carries `client`'s commands (through a
 * proxy in front of the redis-server on `redisPort`): MONITOR, on a connection of its own, names
 * the address an `ECHO <marker>` sent by `client` came from. The ECHO is the client's next
 * command; every earlier one must have been answered.
 */
export async function carrierOf(redisPort: number, client: RawClient): Promise<Record<string, string>> {
  const marker = `carrier-${process.hrtime.bigint()}`;
  const mon = await RawClient.connect(redisPort);
  try {
    await mon.write(cmd('MONITOR'));
    await mon.waitForFrames(1);
    const echoed = plain(await client.call(['ECHO', marker]));
    if (echoed !== marker) throw new Error(`ECHO ${marker} answered ${JSON.stringify(echoed)}`);
    const line = new RegExp(`\\[\\d+ ([^\\]]+)\\] "ECHO" "${marker}"`);
    await mon.until(() => line.test(mon.text()), `MONITOR showing ECHO ${marker}`);
    const addr = line.exec(mon.text())![1]!;
    const entry = (await clientList(redisPort)).find((c) => c.addr === addr);
    if (entry === undefined) throw new Error(`no connection ${addr} in CLIENT LIST`);
    return entry;
  } finally {
    mon.close();
  }
}

/** The largest output buffer (omem, in bytes) redis-server holds for a client of `CLIENT LIST <filter>`. */
export async function maxOutputBuffer(port: number, ...filter: string[]): Promise<number> {
  const list = String(await call(port, 'CLIENT', 'LIST', ...filter));
  return Math.max(0, ...[...list.matchAll(/\bomem=(\d+)/g)].map((m) => Number(m[1])));
}

/** Waits until redis-server reports `n` clients blocked (BLPOP and friends) on it. */
export async function waitBlockedClients(on: Asked, n: number, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  await waitUntil(async () => (await info(on, 'clients')).blocked_clients === String(n), {
    timeoutMs: opts.timeoutMs ?? 10_000,
    intervalMs: opts.intervalMs,
    what: `${n} blocked clients on redis ${typeof on === 'number' ? on : on.socket.remotePort}`,
  });
}
