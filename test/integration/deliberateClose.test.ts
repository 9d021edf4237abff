/**
 * Closes that Redis meant are passed on to the client; failures still reconnect (issue 10, B).
 *
 * When Redis itself closes a client's upstream connection on purpose — CLIENT KILL, its
 * `timeout` idle limit, `client-output-buffer-limit` — the ambassador delivers the replies it
 * already received and then closes the client, as socat would: the client sees the same EOF a
 * direct client of Redis sees. When the connection is lost by a failure — the process killed or
 * shut down, a reset, a refused reconnect, a new run_id or role — the client stays and its state
 * is replayed on a new connection, as before.
 *
 * Every case shows the reference first or beside it: a direct client of the same redis-server,
 * hit by the same kill, sees an orderly EOF (a FIN; Redis 7.0 sends no error text before it).
 * Real redis-server processes on loopback ports; each test has its own redis and ambassador.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startProbedStack, type Stack } from '../support/ambassadorPresets.js';
import { Cleanup, exited } from '../support/processes.js';
import { direct, openClient, type RawClient } from '../support/rawClient.js';
import { restartRedis, startRedis } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { CLOSED_BY_SERVER, DISCONNECTS_METRIC, eventNamesSince, eventsSince, logMark, LOST, SERVER_CLOSE_EVENT } from '../support/sessionCloses.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** The connection's upstream client id, as Redis numbers it (CLIENT ID). */
async function clientId(c: RawClient): Promise<number> {
  const r = await c.call(['CLIENT', 'ID']);
  expect(r.type).toBe('integer');
  return r.value as number;
}

/** A direct client of Redis closed by Redis: an orderly EOF, as the ambassador's client must see. */
async function expectDirectEof(c: RawClient, what: string): Promise<void> {
  await c.until(() => c.closed, `${what}: the direct client closed by Redis`, 10_000);
  expect(c.error, `${what}: a direct client gets an orderly close from Redis`).toBe(null);
  expect(c.ended, `${what}: a direct client gets a FIN from Redis`).toBe(true);
}

/**
 * The client of the ambassador is closed with an orderly EOF (after whatever it was owed), and
 * the ambassador logged it as a close Redis meant.
 */
async function expectClosedLikeRedis(s: Stack, c: RawClient, mark: number, what: string): Promise<void> {
  try {
    await c.until(() => c.closed, 'the close', 10_000);
  } catch {
    throw new Error(
      `${what}: Redis closed this client's upstream connection on purpose, but the ambassador kept the client ` +
        `connected (10 s later); frames it got: ${c.describe()}; the ambassador logged: ${JSON.stringify(eventNamesSince(s.amb, mark))}`,
    );
  }
  expect(c.error, `${what}: the ambassador's client gets an orderly close (FIN), as from Redis`).toBe(null);
  expect(c.ended, `${what}: the ambassador's client gets a FIN`).toBe(true);
  await waitUntil(() => eventsSince(s.amb, mark, SERVER_CLOSE_EVENT).length >= 1, {
    timeoutMs: 5000,
    intervalMs: 10,
    what: () => `${what}: a log line matching ${SERVER_CLOSE_EVENT} (see test/support/sessionCloses.ts); logged: ${JSON.stringify(eventNamesSince(s.amb, mark))}`,
  });
  expect(await s.amb.metric(DISCONNECTS_METRIC, CLOSED_BY_SERVER), `${DISCONNECTS_METRIC}{cause="closed_by_server"}`).toBeGreaterThanOrEqual(1);
}

/** The ambassador still serves new clients. */
async function expectNewClientWorks(s: Stack): Promise<void> {
  const c = await openClient(cleanup, s.port);
  expect(plain(await c.call(['PING']))).toBe('PONG');
  c.close();
}

/** A client through the ambassador, then one direct to Redis, each answered a PING. */
async function pingedClients(s: Stack): Promise<{ via: RawClient; ref: RawClient }> {
  const via = await openClient(cleanup, s.port);
  expect(plain(await via.call(['PING']))).toBe('PONG');
  const ref = await openClient(cleanup, s.redis.port);
  expect(plain(await ref.call(['PING']))).toBe('PONG');
  return { via, ref };
}

/**
 * A stack whose Redis drops a pub/sub client once 64 KB wait for it, and two subscribers to
 * `channel`, confirmed: one through the ambassador, one direct.
 */
async function subscribersUnderOutputLimit(channel: string): Promise<{ s: Stack; via: RawClient; ref: RawClient }> {
  const s = await startProbedStack(cleanup);
  const [ok] = await direct(s.redis.port, ['CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 64kb 32kb 1']);
  expect(plain(ok!)).toBe('OK');
  const via = await openClient(cleanup, s.port);
  const ref = await openClient(cleanup, s.redis.port);
  for (const c of [via, ref]) {
    c.send('SUBSCRIBE', channel);
    await c.until(() => c.frames.length >= 1, 'the subscribe confirmation');
  }
  return { s, via, ref };
}

/** A failure, not a decision: the client stayed, was reconnected, and no close-by-Redis was logged. */
async function expectSurvived(s: Stack, c: RawClient, mark: number): Promise<void> {
  expect(plain(await c.call(['SET', 'after-restart', 'yes']))).toBe('OK');
  expect(plain(await c.call(['GET', 'after-restart']))).toBe('yes');
  expect(c.closed).toBe(false);
  const [onNew] = await direct(s.redis.port, ['GET', 'after-restart']);
  expect(plain(onNew!), 'the command ran on the new server').toBe('yes');
  expect(s.amb.logs().slice(mark).some((l) => l.event === 'upstream reconnected')).toBe(true);
  expect(eventsSince(s.amb, mark, SERVER_CLOSE_EVENT), 'a failure logged as a close Redis meant').toEqual([]);
  expect(await s.amb.metric(DISCONNECTS_METRIC, CLOSED_BY_SERVER)).toBe(0);
  expect(await s.amb.metric(DISCONNECTS_METRIC, LOST)).toBeGreaterThanOrEqual(1);
}

describe('closes Redis meant are passed on', () => {
  it('CLIENT KILL ID <its upstream id>: the client sees EOF; a new client through the ambassador still works', async () => {
    const s = await startProbedStack(cleanup);
    const via = await openClient(cleanup, s.port);
    const ref = await openClient(cleanup, s.redis.port);
    const viaId = await clientId(via);
    const refId = await clientId(ref);
    expect(viaId).not.toBe(refId);

    const mark = logMark(s.amb);
    const [killedVia] = await direct(s.redis.port, ['CLIENT', 'KILL', 'ID', viaId]);
    const [killedRef] = await direct(s.redis.port, ['CLIENT', 'KILL', 'ID', refId]);
    expect(plain(killedVia!)).toBe(1);
    expect(plain(killedRef!)).toBe(1);

    await expectDirectEof(ref, 'CLIENT KILL ID');
    await expectClosedLikeRedis(s, via, mark, 'CLIENT KILL ID');
    expect(via.frames.map((f) => plain(f.r))).toEqual([viaId]); // nothing after the CLIENT ID reply
    await expectNewClientWorks(s);
  });

  it('CLIENT KILL SKIPME no sent through the ambassador: the client gets the count, then EOF', async () => {
    // Directly, a client that kills itself (and everyone else) gets the reply, then the FIN.
    const refRedis = cleanup.track(await startRedis());
    const self = await openClient(cleanup, refRedis.port);
    const bystander = await openClient(cleanup, refRedis.port);
    expect(plain(await self.call(['CLIENT', 'KILL', 'SKIPME', 'no']))).toBe(2);
    await expectDirectEof(self, 'CLIENT KILL SKIPME no, the killer itself');
    await expectDirectEof(bystander, 'CLIENT KILL SKIPME no, a bystander');

    // Through the ambassador: its upstream connection, the ambassador's health-check connection
    // and a direct bystander are all killed.
    const s = await startProbedStack(cleanup);
    const { via, ref } = await pingedClients(s);
    const mark = logMark(s.amb);
    const count = await via.call(['CLIENT', 'KILL', 'SKIPME', 'no']);
    expect(count.type).toBe('integer');
    expect(count.value as number).toBeGreaterThanOrEqual(3); // itself, the bystander, the health check
    await expectDirectEof(ref, 'CLIENT KILL SKIPME no, a bystander');
    await expectClosedLikeRedis(s, via, mark, 'CLIENT KILL SKIPME no');
    expect(via.frames).toHaveLength(2); // PONG and the count, nothing after
    await expectNewClientWorks(s);
  });

  it('CLIENT KILL TYPE pubsub: the subscriber is closed, not resubscribed', async () => {
    const s = await startProbedStack(cleanup);
    const via = await openClient(cleanup, s.port);
    const ref = await openClient(cleanup, s.redis.port);
    for (const c of [via, ref]) {
      c.send('SUBSCRIBE', 'killed-ch');
      await c.until(() => c.frames.length >= 1, 'the subscribe confirmation');
      expect(plain(c.frames[0]!.r)).toEqual(['subscribe', 'killed-ch', 1]);
    }
    const mark = logMark(s.amb);
    const [killed] = await direct(s.redis.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    expect(plain(killed!)).toBe(2);
    await expectDirectEof(ref, 'CLIENT KILL TYPE pubsub');
    await expectClosedLikeRedis(s, via, mark, 'CLIENT KILL TYPE pubsub');
    const [subs] = await direct(s.redis.port, ['PUBSUB', 'NUMSUB', 'killed-ch']);
    expect(plain(subs!)).toEqual(['killed-ch', 0]);
    expect(via.frames).toHaveLength(1);
  });

  it('CONFIG SET timeout 1: an idle client is closed within seconds, as a direct one is', async () => {
    const s = await startProbedStack(cleanup);
    const via = await openClient(cleanup, s.port);
    const ref = await openClient(cleanup, s.redis.port);
    expect(plain(await via.call(['PING']))).toBe('PONG');
    expect(plain(await ref.call(['PING']))).toBe('PONG');
    const mark = logMark(s.amb);
    const [ok] = await direct(s.redis.port, ['CONFIG', 'SET', 'timeout', '1']);
    expect(plain(ok!)).toBe('OK');
    await expectDirectEof(ref, 'timeout 1');
    await expectClosedLikeRedis(s, via, mark, 'timeout 1');
    await expectNewClientWorks(s);
  });

  it('client-output-buffer-limit pubsub, one message over the hard limit: the subscriber is closed, not resubscribed', async () => {
    // Redis drops the subscriber before writing any byte of the message: the stream ends at a
    // frame boundary, so only the rule for closes Redis meant can tell this from a failure.
    const { s, via, ref } = await subscribersUnderOutputLimit('big');
    const mark = logMark(s.amb);
    const [n] = await direct(s.redis.port, ['PUBLISH', 'big', 'x'.repeat(100 * 1024)]);
    expect(plain(n!)).toBe(2);
    await expectDirectEof(ref, 'client-output-buffer-limit pubsub (one big message)');
    expect(ref.frames).toHaveLength(1); // the confirmation only: nothing of the message was sent
    await expectClosedLikeRedis(s, via, mark, 'client-output-buffer-limit pubsub (one big message)');
    expect(via.frames).toHaveLength(1);
    const [after] = await direct(s.redis.port, ['PUBLISH', 'big', 'small']);
    expect(plain(after!), 'a subscriber got the next message: it was resubscribed').toBe(0);
  });

  it('client-output-buffer-limit pubsub: a subscriber that stops reading is closed (not resubscribed) and sees EOF', async () => {
    const { s, via, ref } = await subscribersUnderOutputLimit('flood');
    for (const c of [via, ref]) c.socket.pause(); // stops reading: the kernel buffers fill, then Redis's output buffer grows
    const mark = logMark(s.amb);

    // Publish 8 KB messages (each below the 64 KB hard limit, so Redis writes them to the socket
    // until the socket is full) until no subscriber is left: Redis dropped both. At most 256 MB.
    const pub = await openClient(cleanup, s.redis.port);
    const payload = 'x'.repeat(8 * 1024);
    const batch = Buffer.concat(Array.from({ length: 64 }, () => cmd('PUBLISH', 'flood', payload)));
    let receivers = 2;
    let published = 0;
    while (receivers > 0 && published < 32 * 1024) {
      const before = pub.frames.length;
      void pub.write(batch);
      await pub.until(() => pub.frames.length >= before + 64, 'PUBLISH replies', 15_000);
      receivers = pub.frames.at(-1)!.r.value as number;
      published += 64;
      pub.frames.length = 0;
    }
    expect(receivers, `subscribers still there after ${published} messages of 8 KB`).toBe(0);

    // Reading again, each gets what was already on its way, then the EOF. Redis's stream ends
    // inside a message (it drops what it had buffered), so the last frame is cut short.
    ref.socket.resume();
    via.socket.resume();
    await expectDirectEof(ref, 'client-output-buffer-limit pubsub');
    await expectClosedLikeRedis(s, via, mark, 'client-output-buffer-limit pubsub');
    const [subs] = await direct(s.redis.port, ['PUBSUB', 'NUMSUB', 'flood']);
    expect(plain(subs!)).toEqual(['flood', 0]);
    // Only the confirmation and messages of the flood reached it: no second confirmation.
    const kinds = via.frames.map((f) => (Array.isArray(f.r.value) ? (plain(f.r) as unknown[])[0] : `${f.r.type} ${JSON.stringify(plain(f.r))}`));
    expect(kinds[0]).toBe('subscribe');
    expect(kinds.slice(1).filter((k) => k !== 'message')).toEqual([]);
  });
});

describe('failures still reconnect (the control cases)', () => {
  it('redis-server SIGKILLed and started again on the same port: the client stays and its next command works', async () => {
    const s = await startProbedStack(cleanup);
    const via = await openClient(cleanup, s.port);
    expect(plain(await via.call(['SET', 'before', '1']))).toBe('OK');
    const mark = logMark(s.amb);
    s.redis = await restartRedis(cleanup, s.redis, [], 'SIGKILL');
    await expectSurvived(s, via, mark);
  });

  it('SHUTDOWN NOSAVE from a direct connection, then redis started again: a failure, the client survives', async () => {
    const s = await startProbedStack(cleanup);
    const { via, ref } = await pingedClients(s);
    const mark = logMark(s.amb);
    const admin = await openClient(cleanup, s.redis.port);
    admin.send('SHUTDOWN', 'NOSAVE');
    await exited(s.redis.process, 10_000);
    await ref.until(() => ref.closed, 'the direct client closed by the shutdown', 10_000);
    s.redis = cleanup.track(await startRedis([], s.redis.port));
    await expectSurvived(s, via, mark);
  });
});
