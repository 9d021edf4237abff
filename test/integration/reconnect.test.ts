/**
 * Reconnect with session state replay (issue 4, items 2 and 4) against one real redis-server
 * restarted on the same port:
 * - 20 restarts in a row under a pipelining writer: the ambassador stays up, /healthz answers,
 *   clients keep their connections, and the process's open fds return to their baseline;
 * - in-flight BLPOP gets "-ERR upstream connection lost; command may or may not have run";
 * - MULTI with a queued command, and WATCH then MULTI/SET/EXEC, spanning the restart: EXEC fails
 *   and nothing runs;
 * - CLIENT SETNAME, SELECT, SUBSCRIBE, AUTH, HELLO 3 (and HELLO 3 AUTH) are replayed on the new
 *   connection;
 * - AMBASSADOR_ON_UPSTREAM_LOSS=close closes the client instead (socat's behaviour).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthz, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { Cleanup, fdCount } from '../support/processes.js';
import { direct, openClient, type RawClient } from '../support/rawClient.js';
import { info } from '../support/redisInfo.js';
import { restartRedis, startRedis, type RedisServer } from '../support/redisServer.js';
import { plain, type RespValue } from '../support/resp.js';
import { CONNECTION_LOST, UPSTREAM_ERROR } from '../support/upstreamErrors.js';
import { now, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/**
 * A client pipelining batches of INCRs through the ambassador: each batch is one write of
 * `batch` commands, the next goes out when all of them are answered (integer or error).
 */
class PipeWriter {
  conn!: RawClient;
  sent = 0;
  acks = 0;
  errors = 0;
  /** Connections the ambassador closed. */
  closures = 0;
  /** Commands of batches given up on by the test (see replaceConnection). */
  abandoned = 0;
  lastAckAt = 0;
  readonly errorTexts = new Set<string>();
  private stopped = false;
  private replacing = false;
  private loop: Promise<void> | null = null;
  crash: Error | null = null;

  constructor(
    private readonly port: number,
    private readonly batch = 20,
  ) {}

  async start(): Promise<void> {
    this.conn = await openClient(cleanup, this.port);
    this.loop = (async () => {
      const cmd = Buffer.from('*2\r\n$4\r\nINCR\r\n$4\r\nload\r\n');
      const bytes = Buffer.concat(Array.from({ length: this.batch }, () => cmd));
      while (!this.stopped) {
        const conn = this.conn;
        void conn.write(bytes);
        this.sent += this.batch;
        let complete = true;
        try {
          await conn.until(() => conn.frames.length >= this.batch, 'replies to a batch', 60_000);
        } catch (err) {
          if (!conn.closed) {
            this.crash = err as Error;
            return;
          }
          complete = false;
        }
        for (const f of conn.frames.slice(0, this.batch)) {
          if (f.r.type === 'integer') {
            this.acks++;
            this.lastAckAt = f.at;
          } else {
            this.errors++;
            this.errorTexts.add(String(f.r.value).replace(/\d+/g, 'N'));
          }
        }
        if (complete) {
          conn.frames.length = 0; // keep memory flat
          continue;
        }
        if (this.replacing) this.abandoned += this.batch - Math.min(this.batch, conn.frames.length);
        else this.closures++;
        this.replacing = false;
        try {
          this.conn = await openClient(cleanup, this.port);
        } catch (e) {
          this.crash = e as Error;
          return;
        }
      }
    })();
  }

  /** Gives up on a connection whose batch is never answered, and goes on with a new one. */
  async replaceConnection(): Promise<void> {
    const old = this.conn;
    this.replacing = true;
    old.close();
    await waitUntil(() => this.conn !== old || this.crash !== null, { timeoutMs: 15_000, intervalMs: 10, what: 'the writer on a new connection' });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.crash) throw this.crash;
  }
}

describe('upstream restarted on the same address 20 times in a row under load', () => {
  it('the ambassador stays up, /healthz answers, clients keep their connections, fds return to the baseline', async () => {
    let redis = cleanup.track(await startRedis());
    const { amb, port, listener } = await ambassadorFor(cleanup, redis.url, { ready: true });
    const pid = amb.process.pid!;
    const baseline = fdCount(pid);

    const writer = new PipeWriter(port);
    await writer.start();
    const idle = await openClient(cleanup, port);
    expect(plain(await idle.call(['PING']))).toBe('PONG');
    await waitUntil(() => writer.acks >= 100 || writer.crash !== null, { timeoutMs: 15_000, intervalMs: 10, what: 'first acknowledged batches' });
    const peakDuringLoad: number[] = [];

    const recovery: number[] = [];
    /** Restarts after which the writer's connection went silent (open, its batch never answered). */
    const hangs: string[] = [];
    for (let i = 1; i <= 20; i++) {
      redis = await restartRedis(cleanup, redis, [], i % 2 === 0 ? 'SIGKILL' : 'SIGTERM');
      const startedAt = now();
      try {
        await waitUntil(() => writer.lastAckAt > startedAt || writer.crash !== null, { timeoutMs: 10_000, intervalMs: 5, what: `restart ${i}: an INCR acknowledged` });
      } catch {
        const lost = amb.logs().filter((l) => l.event === 'upstream connection lost' && Number(l.pending) > 0).at(-1);
        hangs.push(
          `restart ${i}: no reply for 10 s to a batch of 20 INCRs (${writer.conn.frames.length} replies, connection open: ${!writer.conn.closed}); ` +
            `the writer's session last lost its upstream with: ${String(lost?.error)}`,
        );
        await writer.replaceConnection();
        await waitUntil(() => writer.lastAckAt > startedAt || writer.crash !== null, {
          timeoutMs: 20_000,
          intervalMs: 5,
          what: `restart ${i}: an INCR acknowledged on a new connection`,
        });
      }
      if (writer.crash) throw writer.crash;
      recovery.push(writer.lastAckAt - startedAt);
      expect(await healthz(amb), `/healthz after restart ${i}`).toBe(200);
      peakDuringLoad.push(fdCount(pid));
    }
    await writer.stop();
    console.log(
      `restarts: 20 (SIGTERM and SIGKILL alternating); writer sent ${writer.sent}, acked ${writer.acks}, errors ${writer.errors} ` +
        `${JSON.stringify([...writer.errorTexts])}, client connections closed by the ambassador ${writer.closures}, ` +
        `connections that went silent ${hangs.length}; first ack after each restart (ms): ${recovery.map((r) => r.toFixed(0)).join(',')}; ` +
        `fds baseline ${baseline}, during load ${peakDuringLoad.join(',')}` +
        (hangs.length > 0 ? `\n${hangs.join('\n')}` : ''),
    );
    expect(amb.process.exitCode).toBe(null);
    expect(amb.process.signalCode).toBe(null);
    // Every command was answered (an integer or an error), and the clients kept their connections.
    expect(writer.acks + writer.errors + writer.abandoned).toBe(writer.sent);
    expect(writer.closures).toBe(0);
    for (const t of writer.errorTexts) expect(t).toMatch(UPSTREAM_ERROR);
    expect(idle.closed).toBe(false);
    expect(plain(await idle.call(['PING']))).toBe('PONG');
    expect(await amb.metric('redis_ambassador_upstream_reconnects_total', { listener })).toBeGreaterThanOrEqual(20);

    // Clients gone: the sessions end and the fd count returns to where it was.
    writer.conn.close();
    idle.close();
    const problems: string[] = [...hangs];
    let sessions = -1;
    try {
      await waitUntil(async () => (sessions = await amb.metric('redis_ambassador_client_connections', { listener })) === 0, {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: 'no client connections',
      });
    } catch {
      problems.push(`${sessions} session(s) still open 10 s after every client closed its connection`);
    }
    let last = 0;
    try {
      await waitUntil(() => (last = fdCount(pid)) <= baseline + 3, { timeoutMs: 10_000, intervalMs: 50, what: 'fd count back to the baseline' });
    } catch {
      problems.push(`open fds ${last}, baseline ${baseline} (+3 allowed)`);
    }
    console.log(`fds: baseline ${baseline}, after the clients left ${fdCount(pid)}`);
    expect(await healthz(amb)).toBe(200);
    expect(amb.process.exitCode).toBe(null);
    // No client left waiting forever (every batch answered on the connection it was sent on), no session or fd left behind.
    expect(problems).toEqual([]);
  }, 90_000);
});

describe('session state across a restart of the upstream (reconnect mode)', () => {
  let redis: RedisServer;
  let port: number;
  let amb: AmbassadorProcess;
  let closePort: number;
  const c: Record<string, RawClient> = {};
  const NAME = 'ambassador-replay-name';

  beforeAll(async () => {
    redis = cleanup.track(await startRedis());
    ({ amb, port } = await ambassadorFor(cleanup, redis.url, { ready: true }));
    ({ port: closePort } = await ambassadorFor(cleanup, redis.url, { env: { AMBASSADOR_ON_UPSTREAM_LOSS: 'close' }, ready: true }));

    c.blpop = await openClient(cleanup, port);
    c.multi = await openClient(cleanup, port);
    c.watch = await openClient(cleanup, port);
    c.named = await openClient(cleanup, port);
    c.resp3 = await openClient(cleanup, port);
    c.db3 = await openClient(cleanup, port);
    c.sub = await openClient(cleanup, port);
    c.closing = await openClient(cleanup, closePort);

    expect(plain(await c.multi.call(['MULTI']))).toBe('OK');
    expect(plain(await c.multi.call(['SET', 'multi-key', 'v']))).toBe('QUEUED');
    expect(plain(await c.watch.call(['WATCH', 'watch-key']))).toBe('OK');
    expect(plain(await c.named.call(['CLIENT', 'SETNAME', NAME]))).toBe('OK');
    expect((await c.resp3.call(['HELLO', '3'])).type).toBe('map');
    expect(plain(await c.db3.call(['SELECT', 3]))).toBe('OK');
    c.sub.send('SUBSCRIBE', 'replay-ch');
    await c.sub.until(() => c.sub.frames.length >= 1, 'subscribe confirmation');
    expect(plain(await c.closing.call(['PING']))).toBe('PONG');
    c.blpop.send('BLPOP', 'never-filled', 0);
    await waitUntil(async () => Number((await info(redis.port, 'clients')).blocked_clients) >= 1, { timeoutMs: 15_000, intervalMs: 10, what: 'BLPOP blocked upstream' });

    redis = await restartRedis(cleanup, redis, [], 'SIGTERM');
  }, 60_000);

  it('the in-flight BLPOP gets "upstream connection lost"; the same connection works afterwards', async () => {
    await c.blpop.until(() => c.blpop.frames.length >= 1, 'a reply to BLPOP');
    expect(plain(c.blpop.frames[0]!.r)).toEqual({ error: CONNECTION_LOST });
    expect(plain(await c.blpop.call(['PING']))).toBe('PONG');
    expect(c.blpop.closed).toBe(false);
  });

  it('MULTI with a queued command spanning the restart: EXEC answers -EXECABORT and nothing ran', async () => {
    const exec = await c.multi.call(['EXEC']);
    expect(exec.type).toBe('error');
    expect(String(exec.value)).toMatch(/^EXECABORT/);
    const [exists] = await direct(redis.port, ['EXISTS', 'multi-key']);
    expect(plain(exists!)).toBe(0);
    // The connection is usable and out of MULTI.
    expect(plain(await c.multi.call(['SET', 'multi-key-after', '1']))).toBe('OK');
  });

  it('WATCH before the restart, MULTI/SET/EXEC after it: EXEC fails and the key is not set', async () => {
    expect(plain(await c.watch.call(['MULTI']))).toBe('OK');
    expect(plain(await c.watch.call(['SET', 'watch-key', 'must-not-be-set']))).toBe('QUEUED');
    const exec = await c.watch.call(['EXEC']);
    // Either failure form is honest (-EXECABORT, or the null reply of an aborted WATCH); a run transaction is not.
    expect(exec.type === 'error' ? String(exec.value).split(' ')[0] : exec.value, `EXEC reply ${JSON.stringify(plain(exec))}`).toSatisfy(
      (v: unknown) => v === 'EXECABORT' || v === null,
    );
    const [got] = await direct(redis.port, ['GET', 'watch-key']);
    expect(plain(got!)).toBe(null);
  });

  it('CLIENT SETNAME is replayed: the new upstream connection carries the name', async () => {
    expect(plain(await c.named.call(['CLIENT', 'GETNAME']))).toBe(NAME);
    const [list] = await direct(redis.port, ['CLIENT', 'LIST']);
    expect(String(plain(list!))).toContain(`name=${NAME} `);
  });

  it('HELLO 3 is replayed: RESP3 replies (a map for HGETALL) after the restart', async () => {
    expect(plain(await c.resp3.call(['HSET', 'h3', 'f', 'v']))).toBe(1);
    const all = await c.resp3.call(['HGETALL', 'h3']);
    expect(all.type).toBe('map');
    expect(plain(all)).toEqual({ f: 'v' });
  });

  it('SELECT is replayed: writes land in db 3', async () => {
    expect(plain(await c.db3.call(['SET', 'db3-key', 'x']))).toBe('OK');
    const [, in3, , in0] = await direct(redis.port, ['SELECT', 3], ['GET', 'db3-key'], ['SELECT', 0], ['GET', 'db3-key']);
    expect(plain(in3!)).toBe('x');
    expect(plain(in0!)).toBe(null);
  });

  it('SUBSCRIBE is replayed: the subscriber gets messages published after the restart, and no second confirmation', async () => {
    await waitUntil(
      async () => {
        const [n] = await direct(redis.port, ['PUBLISH', 'replay-ch', 'after']);
        return (plain(n!) as number) >= 1 || c.sub.closed;
      },
      { timeoutMs: 15_000, intervalMs: 50, what: 'PUBLISH reaching a subscriber' },
    );
    await c.sub.until(() => c.sub.frames.length >= 2, 'the message');
    expect(c.sub.frames.map((f) => plain(f.r))).toEqual([
      ['subscribe', 'replay-ch', 1],
      ['message', 'replay-ch', 'after'],
    ]);
  });

  it('AMBASSADOR_ON_UPSTREAM_LOSS=close: the client connection is closed instead', async () => {
    await c.closing.until(() => c.closing.closed, 'the connection closed', 15_000);
    expect(c.closing.frames).toHaveLength(1); // only the PONG
  });

  it('the reconnects are counted', async () => {
    expect(await amb.metric('redis_ambassador_upstream_reconnects_total')).toBeGreaterThanOrEqual(6);
  });
});

describe('AUTH and HELLO ... AUTH replay (redis-server --requirepass)', () => {
  it("after a restart the clients' next commands work without authenticating again", async () => {
    const args = ['--requirepass', 'secret'];
    let redis = cleanup.track(await startRedis(args));
    const { port } = await ambassadorFor(cleanup, redis.url, { ready: true });
    const authed = await openClient(cleanup, port);
    const hello = await openClient(cleanup, port);
    expect(plain(await authed.call(['AUTH', 'secret']))).toBe('OK');
    expect(plain(await authed.call(['SET', 'a', '1']))).toBe('OK');
    expect((await hello.call(['HELLO', '3', 'AUTH', 'default', 'secret'])).type).toBe('map');

    redis = await restartRedis(cleanup, redis, args, 'SIGTERM');

    const get: RespValue = await authed.call(['GET', 'a']);
    expect(plain(get)).toBe(null); // no persistence: the key is gone, but the command ran authenticated
    expect(plain(await authed.call(['SET', 'a', '2']))).toBe('OK');
    expect(plain(await hello.call(['HSET', 'h', 'f', 'v']))).toBe(1);
    const all = await hello.call(['HGETALL', 'h']);
    expect(all.type).toBe('map');
    const [check] = await direct(redis.port, ['AUTH', 'secret'], ['GET', 'a']).then((r) => [r[1]]);
    expect(plain(check!)).toBe('2');
  }, 60_000);
});
