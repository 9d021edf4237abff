/**
 * Replication through the ambassador (issue 10, A): a session that sends SYNC or PSYNC (after
 * REPLCONF, `REPLCONF rdb-only 1`, AUTH …) and gets a replication stream becomes a raw byte
 * relay for the rest of its life. What passes is not RESP replies: the RDB payload is
 * `$<len>\r\n<bytes>` with no trailing CRLF, or `$EOF:<40-byte mark>\r\n…<mark>` when diskless;
 * newlines keep the link alive while the RDB is prepared; `+FULLRESYNC` / `+CONTINUE` come
 * first; the command stream follows, and the replica's `REPLCONF ACK <offset>` gets no reply.
 *
 * Real redis-server replicas (`--replicaof 127.0.0.1 <ambassador port>`), redis-cli --rdb and
 * --replica, on loopback ports. The evidence that the relay is byte-exact: the replica's
 * processed offset equals the master's (both count stream bytes), DEBUG DIGEST of the datasets
 * match, and the master counts exactly one full sync (a relay that breaks the stream makes the
 * replica reconnect, and the master counts more syncs).
 *
 * Every redis-server here has its own --dir: a disk-based sync writes dump.rdb there on the
 * master, and a replica saves the RDB it receives (a replica started where a dump.rdb with a
 * repl-id is lying around loads it and asks for a partial resync instead of a full one).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventLine, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { baseline, type MetricDelta } from '../support/metricsText.js';
import { Cleanup, rssBytes, run, startChild } from '../support/processes.js';
import { pseudoRandomBytes } from '../support/pseudoRandom.js';
import { direct, openClient, RawClient } from '../support/rawClient.js';
import { info, maxOutputBuffer } from '../support/redisInfo.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { startTap, type Tap } from '../support/tapProxy.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** A master for replicas: its own dir, no diskless delay (the default 5 s would slow every sync). */
async function startMaster(diskless: boolean, extra: string[] = []): Promise<RedisServer> {
  return cleanup.track(
    await startRedis([
      ...extra,
      '--dir',
      cleanup.tempDir('amb-repl-master-'),
      '--repl-diskless-sync',
      diskless ? 'yes' : 'no',
      '--repl-diskless-sync-delay',
      '0',
      '--enable-debug-command',
      'yes',
    ]),
  );
}

/** A replica of `host:port`, in its own dir; repl-timeout 60 s, so no timeout decides a test. */
async function startReplica(port: number, extra: string[] = []): Promise<RedisServer> {
  return cleanup.track(
    await startRedis([
      ...extra,
      '--dir',
      cleanup.tempDir('amb-repl-replica-'),
      '--replicaof',
      '127.0.0.1',
      String(port),
      '--repl-timeout',
      '60',
      '--enable-debug-command',
      'yes',
    ]),
  );
}

interface SyncStats {
  full: number;
  partialOk: number;
  partialErr: number;
}

/** The master's counters of full and partial resynchronisations it served. */
async function syncStats(masterPort: number): Promise<SyncStats> {
  const s = await info(masterPort, 'stats');
  return { full: Number(s.sync_full), partialOk: Number(s.sync_partial_ok), partialErr: Number(s.sync_partial_err) };
}

function delta(after: SyncStats, before: SyncStats): SyncStats {
  return { full: after.full - before.full, partialOk: after.partialOk - before.partialOk, partialErr: after.partialErr - before.partialErr };
}

async function digest(port: number): Promise<string> {
  const [r] = await direct(port, ['DEBUG', 'DIGEST']);
  return String(plain(r!));
}

async function dbsize(port: number): Promise<number> {
  const [r] = await direct(port, ['DBSIZE']);
  return plain(r!) as number;
}

/** Writes `n` keys `<prefix><i>` with pseudo-random values (CR and LF included); returns the value bytes. */
async function fill(port: number, prefix: string, n: number, valueBytes: number): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    for (let i = 0; i < n; i += 100) {
      const k = Math.min(100, n - i);
      void c.write(Buffer.concat(Array.from({ length: k }, (_, j) => cmd('SET', `${prefix}${i + j}`, pseudoRandomBytes(valueBytes, i + j + 1)))));
      await c.until(() => c.frames.length >= k, 'SET replies');
      expect(c.frames.every((f) => f.r.type === 'simple')).toBe(true);
      c.frames.length = 0;
    }
  } finally {
    c.close();
  }
  return n * valueBytes;
}

/** Non-debug log lines of the ambassadors, for failure messages. */
function logTail(...ambs: AmbassadorProcess[]): string {
  return ambs
    .flatMap((a) => a.logs().filter((l) => l.level !== 'debug'))
    .sort((x, y) => String(x.time).localeCompare(String(y.time)))
    .slice(-6)
    .map(eventLine)
    .join('; ');
}

/**
 * The replica's link is up, it has processed exactly as many stream bytes as the master has
 * produced, and both datasets have the same digest.
 */
async function waitInSync(master: RedisServer, replica: RedisServer, ambs: AmbassadorProcess[], timeoutMs = 10_000): Promise<void> {
  let last = '';
  await waitUntil(
    async () => {
      const [m, r] = await Promise.all([info(master.port, 'replication'), info(replica.port, 'replication')]);
      last =
        `replica master_link_status:${r.master_link_status} slave_repl_offset:${r.slave_repl_offset}, master_repl_offset:${m.master_repl_offset}; ` +
        `master sync counters ${JSON.stringify(await syncStats(master.port))}; ambassador logged: ${logTail(...ambs)}`;
      if (r.master_link_status !== 'up' || r.slave_repl_offset !== m.master_repl_offset) return false;
      return (await digest(master.port)) === (await digest(replica.port));
    },
    { timeoutMs, intervalMs: 50, what: () => `the replica in sync with the master through the ambassador: ${last}` },
  );
}

async function expectNoProtocolErrors(amb: AmbassadorProcess): Promise<void> {
  expect(await amb.metric('redis_ambassador_protocol_errors_total', { side: 'upstream' }), 'the replication stream taken for RESP replies').toBe(0);
  expect(await amb.metric('redis_ambassador_protocol_errors_total', { side: 'client' })).toBe(0);
}

for (const diskless of [true, false]) {
  describe(`redis-server --replicaof <ambassador>, master repl-diskless-sync ${diskless ? 'yes ($EOF:<mark> payload)' : 'no ($<len> payload)'}`, () => {
    let master: RedisServer;
    let replica: RedisServer;
    let amb: AmbassadorProcess;
    let port: number;
    let since: MetricDelta;
    let before: SyncStats;
    let valueBytes = 0;

    beforeAll(async () => {
      master = await startMaster(diskless);
      valueBytes = await fill(master.port, 'before:', 200, 10_000); // 2 MB the RDB must carry
      ({ amb, port } = await ambassadorFor(cleanup, master.port, { ready: true }));
      since = await baseline(() => amb.metrics());
      before = await syncStats(master.port);
    });

    it('full sync: the link comes up with the keys written before, and stays up (one full sync, no reconnects)', async () => {
      replica = await startReplica(port);
      await waitInSync(master, replica, [amb]);
      expect(await dbsize(replica.port)).toBe(200);
      await expectNoProtocolErrors(amb);
      expect(delta(await syncStats(master.port), before), 'syncs the master served').toEqual({ full: 1, partialOk: 0, partialErr: 0 });
      const m = await info(master.port, 'replication');
      expect(m.connected_slaves).toBe('1');
      // REPLCONF listening-port reached the master unchanged.
      expect(m.slave0).toMatch(new RegExp(`^ip=127\\.0\\.0\\.1,port=${replica.port},state=online,`));
    });

    it('incremental: writes made on the master after the sync are followed, byte for byte', async () => {
      await fill(master.port, 'after:', 100, 1000);
      await direct(master.port, ['INCRBY', 'counter', 41], ['INCR', 'counter'], ['RPUSH', 'list', 'a', 'b\r\nc'], ['DEL', 'before:0'], ['SELECT', 3], ['SET', 'in-db3', 'x']);
      await waitInSync(master, replica, [amb]);
      const [counter] = await direct(replica.port, ['GET', 'counter']);
      expect(plain(counter!)).toBe('42');
      expect(await dbsize(replica.port)).toBe(200 + 100 + 2 - 1);
      expect(delta(await syncStats(master.port), before)).toEqual({ full: 1, partialOk: 0, partialErr: 0 });
      await expectNoProtocolErrors(amb);
    });

    it('metrics: psync counted, bytes_total out at least the RDB, no protocol errors', async () => {
      expect(await since('redis_ambassador_commands_total', { cmd: 'psync' })).toBeGreaterThanOrEqual(1);
      expect(await since('redis_ambassador_bytes_total', { direction: 'out' })).toBeGreaterThanOrEqual(valueBytes);
      expect(await since('redis_ambassador_protocol_errors_total')).toBe(0);
      expect(await amb.metric('redis_ambassador_protocol_errors_total')).toBe(0);
    });
  });
}

describe('the replica authenticates first (masteruser/masterauth): AUTH, REPLCONF, PSYNC', () => {
  it('the link comes up through the ambassador and writes are followed', async () => {
    // The default user may not replicate, so only the replica's own AUTH lets it in.
    const master = await startMaster(true, [
      '--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-psync', '-sync',
      '--user', 'repl', 'on', '>repl-pw', '~*', '&*', '+@all',
    ]);
    await fill(master.port, 'auth:', 50, 100);
    const { amb, port } = await ambassadorFor(cleanup, master.port, { ready: true });
    const before = await syncStats(master.port);
    const replica = await startReplica(port, ['--masteruser', 'repl', '--masterauth', 'repl-pw']);
    await waitInSync(master, replica, [amb]);
    await fill(master.port, 'auth-after:', 50, 100);
    await waitInSync(master, replica, [amb]);
    expect(await dbsize(replica.port)).toBe(100);
    expect(delta(await syncStats(master.port), before)).toEqual({ full: 1, partialOk: 0, partialErr: 0 });
    await expectNoProtocolErrors(amb);
  });
});

/**
 * Where the RDB payload ends in what a SYNC/PSYNC client received: keep-alive newlines and
 * +FULLRESYNC before it, then `$<len>\r\n<len bytes>` (no CRLF after them) or
 * `$EOF:<mark>\r\n…<mark>`. Null while incomplete.
 */
function payloadEnd(buf: Buffer): { fullresync: string | null; header: string; start: number; end: number } | null {
  let i = 0;
  let fullresync: string | null = null;
  for (;;) {
    while (i < buf.length && buf[i] === 0x0a) i++;
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return null;
    const line = buf.toString('latin1', i, eol);
    if (line.startsWith('+FULLRESYNC ')) {
      fullresync = line;
      i = eol + 2;
      continue;
    }
    if (!line.startsWith('$')) throw new Error(`not the start of an RDB payload: ${JSON.stringify(buf.toString('latin1', i, i + 80))}`);
    if (line.startsWith('$EOF:')) {
      const at = buf.indexOf(line.slice(5), eol + 2);
      return at < 0 ? null : { fullresync, header: line, start: eol + 2, end: at + 40 };
    }
    const len = Number(line.slice(1));
    return buf.length < eol + 2 + len ? null : { fullresync, header: line, start: eol + 2, end: eol + 2 + len };
  }
}

describe('raw SYNC and PSYNC clients: the bytes through the ambassador are the bytes a direct client gets', () => {
  for (const args of [['SYNC'], ['PSYNC', '?', '-1']]) {
    it(`${args.join(' ')} (disk-based: $<len> payload without CRLF), then REPLCONF ACK (no reply) and the command stream`, async () => {
      const master = await startMaster(false);
      await fill(master.port, 'raw:', 100, 1000);
      const { amb, port } = await ambassadorFor(cleanup, master.port, { ready: true });
      const ref = await openClient(cleanup, master.port);
      const via = await openClient(cleanup, port);
      await Promise.all([ref.write(cmd(...args)), via.write(cmd(...args))]);
      const heads = [];
      for (const c of [ref, via]) {
        await c.waitForBytes((b) => payloadEnd(b) !== null, `the RDB payload (closed: ${c.closed}; ambassador logged: ${logTail(amb)})`, 15_000);
        heads.push(payloadEnd(c.received())!);
      }
      const [h0, h1] = heads;
      expect(h1!.header).toMatch(/^\$\d+$/);
      if (args[0] === 'PSYNC') {
        // Same replication id; the offsets are the master's at each BGSAVE.
        expect(h1!.fullresync?.split(' ')[1]).toBe(h0!.fullresync?.split(' ')[1]);
      } else {
        expect(h0!.fullresync).toBe(null);
        expect(h1!.fullresync).toBe(null);
      }
      // The RDB that came through is a valid one holding the 100 keys.
      const file = path.join(cleanup.tempDir('amb-raw-sync-'), 'via.rdb');
      writeFileSync(file, via.received().subarray(h1!.start, h1!.end));
      const check = await run('redis-check-rdb', [file]);
      expect(check.stdout).toMatch(/RDB looks OK[\s\S]*\[info\] 100 keys read/);

      await Promise.all([ref.write(cmd('REPLCONF', 'ACK', '0')), via.write(cmd('REPLCONF', 'ACK', '0'))]);
      await direct(master.port, ['SET', 'stream-key', 'v\r\n1'], ['INCR', 'stream-counter']);
      const rest = (c: RawClient, h: { end: number }) => c.received().subarray(h.end).toString('latin1');
      await waitUntil(() => rest(ref, h0!).includes('stream-counter') && rest(via, h1!) === rest(ref, h0!), {
        timeoutMs: 10_000,
        intervalMs: 10,
        what: () => `the same stream after the payload; direct: ${JSON.stringify(rest(ref, h0!))}, through the ambassador: ${JSON.stringify(rest(via, h1!))} (closed: ${via.closed})`,
      });
      expect(rest(via, h1!)).toMatch(/SET\r\n\$10\r\nstream-key\r\n\$4\r\nv\r\n1\r\n/);
      expect(await amb.metric('redis_ambassador_commands_total', { cmd: args[0]!.toLowerCase() })).toBe(1);
      await expectNoProtocolErrors(amb);
    });
  }
});

describe('backpressure in a replication stream', () => {
  it('a replica that stops reading: the master buffers the stream, not the ambassador; then every byte arrives', async () => {
    const MB = 1024 * 1024;
    const master = await startMaster(false);
    const { amb, port } = await ambassadorFor(cleanup, master.port, { ready: true });
    const via = await openClient(cleanup, port);
    await via.write(cmd('PSYNC', '?', '-1'));
    await via.waitForBytes((b) => payloadEnd(b) !== null, `the RDB payload (closed: ${via.closed}; ambassador logged: ${logTail(amb)})`, 15_000);
    const afterPayload = payloadEnd(via.received())!.end;
    via.socket.pause();
    const pid = amb.process.pid!;
    const startRss = rssBytes(pid);
    let maxRss = startRss;
    // 48 MB of writes, which the master propagates to this replica.
    const value = pseudoRandomBytes(MB, 7);
    const writer = await RawClient.connect(master.port);
    for (let i = 0; i < 48; i++) {
      void writer.write(cmd('SET', `bp:${i}`, value));
      await writer.until(() => writer.frames.length > i, 'SET reply');
      maxRss = Math.max(maxRss, rssBytes(pid));
    }
    writer.close();
    let omem = 0;
    await waitUntil(
      async () => {
        maxRss = Math.max(maxRss, rssBytes(pid));
        omem = await maxOutputBuffer(master.port, 'TYPE', 'replica');
        return omem >= 16 * MB;
      },
      {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: () => `the master to hold the stream for the replica (omem ${omem}); replica connection closed: ${via.closed}; ambassador logged: ${logTail(amb)}`,
      },
    );
    expect(Math.round((maxRss - startRss) / MB), 'ambassador RSS growth (MB) while the replica did not read').toBeLessThan(24);
    via.socket.resume();
    await via.waitForBytes((b) => b.length >= afterPayload + 48 * MB, 'the whole stream', 30_000);
    expect(via.closed).toBe(false);
  });
});

describe('partial resynchronisation (+CONTINUE) through the ambassador', () => {
  let master: RedisServer;
  let replica: RedisServer;
  let amb: AmbassadorProcess;
  let port: number;

  beforeAll(async () => {
    master = await startMaster(true);
    await fill(master.port, 'base:', 50, 100);
    ({ amb, port } = await ambassadorFor(cleanup, master.port, { ready: true }));
    replica = await startReplica(port);
    await waitInSync(master, replica, [amb]);
  });

  async function expectPartialResync(before: SyncStats, ambs: AmbassadorProcess[]): Promise<void> {
    let now = before;
    await waitUntil(async () => (now = await syncStats(master.port)).partialOk > before.partialOk, {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: () => `a partial resync on the master: counters before ${JSON.stringify(before)}, now ${JSON.stringify(now)}; ambassador logged: ${logTail(...ambs)}`,
    });
    await waitInSync(master, replica, ambs);
    expect(delta(await syncStats(master.port), before), 'syncs the master served').toEqual({ full: 0, partialOk: 1, partialErr: 0 });
  }

  it('the replica drops its master link (CLIENT KILL TYPE master on the replica): it resyncs partially', async () => {
    const before = await syncStats(master.port);
    const [killed] = await direct(replica.port, ['CLIENT', 'KILL', 'TYPE', 'master']);
    expect(plain(killed!)).toBe(1);
    await fill(master.port, 'while-away:', 20, 100); // in the master's backlog, sent after +CONTINUE
    await expectPartialResync(before, [amb]);
    expect(await dbsize(replica.port)).toBe(70);
    await expectNoProtocolErrors(amb);
  });

  it('the ambassador restarted on the same port: the replica reconnects and resyncs partially', async () => {
    const before = await syncStats(master.port);
    await amb.stop('SIGKILL');
    await fill(master.port, 'amb-down:', 20, 100);
    ({ amb } = await ambassadorFor(cleanup, master.port, { port, ready: true }));
    await expectPartialResync(before, [amb]);
    expect(await dbsize(replica.port)).toBe(90);
    expect(await amb.metric('redis_ambassador_commands_total', { cmd: 'psync' })).toBeGreaterThanOrEqual(1);
    await expectNoProtocolErrors(amb);
  });
});

describe('two chained ambassadors (replica → B → A → master), as the seed topology has them', () => {
  it('the link comes up and writes are followed', async () => {
    const master = await startMaster(true);
    await fill(master.port, 'chain:', 100, 1000);
    const a = await ambassadorFor(cleanup, master.port, { ready: true });
    const b = await ambassadorFor(cleanup, a.port, { ready: true });
    const before = await syncStats(master.port);
    const replica = await startReplica(b.port);
    await waitInSync(master, replica, [a.amb, b.amb]);
    await fill(master.port, 'chain-after:', 50, 1000);
    await waitInSync(master, replica, [a.amb, b.amb]);
    expect(await dbsize(replica.port)).toBe(150);
    expect(delta(await syncStats(master.port), before)).toEqual({ full: 1, partialOk: 0, partialErr: 0 });
    for (const x of [a, b]) {
      await expectNoProtocolErrors(x.amb);
      expect(await x.amb.metric('redis_ambassador_commands_total', { cmd: 'psync' })).toBeGreaterThanOrEqual(1);
    }
  });
});

/** redis-check-rdb's report without the aux fields that differ between any two dumps. */
function normalisedCheck(out: string): string {
  return out
    .replace(/^\[offset \d+\] Checking RDB file .*$/m, '[offset 0] Checking RDB file <file>')
    .replace(/AUX FIELD (ctime|used-mem|repl-offset) = '\d+'/g, "AUX FIELD $1 = '<n>'")
    .trim();
}

for (const diskless of [true, false]) {
  describe(`redis-cli --rdb through the ambassador (master repl-diskless-sync ${diskless ? 'yes: $EOF:<mark>' : 'no: $<len>'})`, () => {
    it('writes an RDB that holds what the one redis-cli --rdb gets directly holds', async () => {
      const master = await startMaster(diskless);
      await fill(master.port, 'rdb:', 300, 1000);
      await direct(master.port, ['HSET', 'hash', 'f', 'v\r\n'], ['RPUSH', 'list', '1', '2'], ['SET', 'with-ttl', 'x', 'EX', '3600'], ['SELECT', 2], ['SET', 'db2', 'y']);
      const { amb, port } = await ambassadorFor(cleanup, master.port, { ready: true });
      const since = await baseline(() => amb.metrics());
      const dir = cleanup.tempDir('amb-rdb-');
      const directFile = path.join(dir, 'direct.rdb');
      const viaFile = path.join(dir, 'via.rdb');
      const d = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(master.port), '--rdb', directFile], { timeoutMs: 20_000 });
      expect(d.code, d.stdout + d.stderr).toBe(0);
      const v = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--rdb', viaFile], { timeoutMs: 20_000 });
      expect(`${v.code} ${v.stdout}${v.stderr}`, `redis-cli --rdb through the ambassador; ambassador logged: ${logTail(amb)}`).toMatch(
        /^0 [\s\S]*Transfer finished with success/,
      );

      // The files are not byte-equal: ctime and used-mem differ between any two dumps (and
      // repl-offset moves if the master replicated anything in between). redis-check-rdb's
      // report apart from those fields, and the dataset loaded from each, must be equal.
      const [cd, cv] = await Promise.all([run('redis-check-rdb', [directFile]), run('redis-check-rdb', [viaFile])]);
      expect(cv.stdout).toMatch(/RDB looks OK/);
      expect(cv.stdout).toMatch(/\[info\] 304 keys read/);
      expect(normalisedCheck(cv.stdout)).toBe(normalisedCheck(cd.stdout));
      const want = await digest(master.port);
      for (const file of ['direct.rdb', 'via.rdb']) {
        const loaded = cleanup.track(await startRedis(['--dir', dir, '--dbfilename', file, '--enable-debug-command', 'yes']));
        expect(await digest(loaded.port), `DEBUG DIGEST of the dataset in ${file}`).toBe(want);
        await loaded.stop('SIGKILL');
      }
      expect(await since('redis_ambassador_commands_total', { cmd: 'sync' })).toBe(1);
      await expectNoProtocolErrors(amb);
    });
  });
}

describe('redis-cli --replica through the ambassador', () => {
  it('shows the command stream: a SET made on the master appears in its output', async () => {
    const master = await startMaster(true);
    const { amb, port } = await ambassadorFor(cleanup, master.port, { ready: true });
    const cli = cleanup.track(startChild('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--replica']));
    await waitUntil(() => /Logging commands from master/.test(cli.output()), {
      timeoutMs: 15_000,
      intervalMs: 10,
      what: () => `redis-cli --replica in sync: ${cli.output()} (ambassador logged: ${logTail(amb)})`,
    });
    await direct(master.port, ['SET', 'seen-by-replica', 'v1']);
    await waitUntil(() => /"SET","seen-by-replica","v1"/i.test(cli.output()), { timeoutMs: 15_000, intervalMs: 10, what: () => `the SET in its output: ${cli.output()}` });
    await cli.stop();
    await expectNoProtocolErrors(amb);
  });
});

describe('the upstream lost while replicating', () => {
  it('master SIGKILLed: the replica’s connection is closed (link down), nothing is replayed into the stream', async () => {
    const master = await startMaster(true);
    await fill(master.port, 'k:', 20, 100);
    const { amb, port } = await ambassadorFor(cleanup, master.port, { ready: true });
    // The replica reaches the ambassador through a recording relay, to see every byte it got.
    const tap: Tap = await startTap(port);
    cleanup.add(tap, (t) => void t.close());
    const replica = await startReplica(tap.port);
    await waitInSync(master, replica, [amb]);
    await master.stop('SIGKILL');
    await waitUntil(async () => (await info(replica.port, 'replication')).master_link_status === 'down', {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: () =>
        `master_link_status:down on the replica (its connection through the ambassador closed); the ambassador sent it after the RDB: ` +
        `${JSON.stringify(tap.fromServer().map((b) => b.toString('latin1').slice(-300)))}; ambassador logged: ${logTail(amb)}`,
    });
    for (const bytes of tap.fromServer()) {
      expect(bytes.toString('latin1'), 'an error written into the replication stream').not.toContain('upstream connection lost');
    }
    expect(await amb.metric('redis_ambassador_upstream_reconnects_total')).toBe(0);
  });
});
