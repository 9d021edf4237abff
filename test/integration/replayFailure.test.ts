/**
 * A replay that fails closes the client (issue 10, C).
 *
 * After a reconnect the ambassador replays the client's connection state (AUTH, HELLO, SELECT,
 * CLIENT SETNAME, READONLY, SUBSCRIBE …) before any of the client's own commands. Every one of
 * them must succeed; if one is refused, the client is closed (after the replies it is owed) and
 * never goes on in a state it did not ask for: a client that authenticated as a limited ACL user
 * must not end up running commands as `default`, a client that SELECTed db 5 must not write to
 * db 0, a subscriber must not silently stop receiving.
 *
 * The server is restarted (SIGKILL, then a new redis-server on the same port, with other ACL
 * users, passwords or databases), which is a failure, so the ambassador reconnects and replays;
 * the replay is refused by the new configuration. Real ACL users through `--user` directives.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startProbedStack, type Stack } from '../support/ambassadorPresets.js';
import { Cleanup } from '../support/processes.js';
import { direct, openClient, type RawClient } from '../support/rawClient.js';
import { restartRedis } from '../support/redisServer.js';
import { plain, type RespValue } from '../support/resp.js';
import { eventNamesSince, eventsSince, logMark, REPLAY_FAILED_EVENT, REPLAY_FAILURES_METRIC, SERVER_CLOSE_EVENT } from '../support/sessionCloses.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** The user of the exploit: may read cache:* keys and little else. */
const LIMITED = ['--user', 'limited', 'on', '>pw', '~cache:*', '+get', '+auth', '+ping', '+acl|whoami'];
const LIMITED_OTHER_PASSWORD = ['--user', 'limited', 'on', '>another-pw', '~cache:*', '+get', '+auth', '+ping', '+acl|whoami'];

/**
 * Waits until the ambassador either closed the client or reconnected its session (logged
 * "upstream reconnected"). Today's code reconnects, replays, hides the refusal, and goes on.
 */
async function closedOrReconnected(s: Stack, c: RawClient, mark: number): Promise<void> {
  await waitUntil(() => c.closed || s.amb.logs().slice(mark).some((l) => l.event === 'upstream reconnected'), {
    timeoutMs: 15_000,
    intervalMs: 10,
    what: () => `the client closed or its session reconnected; logged: ${JSON.stringify(eventNamesSince(s.amb, mark))}`,
  });
}

/**
 * Sends `commands` if the client is still open (the ambassador may close it at any moment) and
 * returns the replies it got before the close, as plain values.
 */
async function tryCommands(c: RawClient, ...commands: (string | number)[][]): Promise<unknown[]> {
  if (c.closed) return [];
  const before = c.frames.length;
  for (const args of commands) c.send(...args);
  await c.until(() => c.frames.length >= before + commands.length, 'the replies', 10_000).catch(() => {});
  return c.frames.slice(before).map((f) => plain(f.r));
}

/** The client is closed by the ambassador, and it was logged as a replay that failed. */
async function expectClosedForFailedReplay(s: Stack, c: RawClient, mark: number, what: string, got: unknown[]): Promise<void> {
  try {
    await c.until(() => c.closed, 'the close', 10_000);
  } catch {
    throw new Error(
      `${what}: the replay after the reconnect must fail and close the client, but it is still connected; ` +
        `its commands after the restart were answered ${JSON.stringify(got)}; logged: ${JSON.stringify(eventNamesSince(s.amb, mark))}`,
    );
  }
  await waitUntil(() => eventsSince(s.amb, mark, REPLAY_FAILED_EVENT).length >= 1, {
    timeoutMs: 5000,
    intervalMs: 10,
    what: () => `${what}: a log line matching ${REPLAY_FAILED_EVENT} (see test/support/sessionCloses.ts); logged: ${JSON.stringify(eventNamesSince(s.amb, mark))}`,
  });
  expect(await s.amb.metric(REPLAY_FAILURES_METRIC), REPLAY_FAILURES_METRIC).toBeGreaterThanOrEqual(1);
}

describe('the issue: a limited ACL user must never become default', () => {
  it('ACL DELUSER limited while its client is connected: closed, and never runs SET as default (as directly: disconnected)', async () => {
    const s = await startProbedStack(cleanup, LIMITED);
    const via = await openClient(cleanup, s.port);
    const ref = await openClient(cleanup, s.redis.port);
    for (const c of [via, ref]) {
      expect(plain(await c.call(['AUTH', 'limited', 'pw']))).toBe('OK');
      expect(plain(await c.call(['ACL', 'WHOAMI']))).toBe('limited');
      expect(plain(await c.call(['GET', 'cache:x']))).toBe(null);
      expect(plain(await c.call(['SET', 'secret', 'x']))).toMatchObject({ error: expect.stringMatching(/^NOPERM/) });
    }
    const mark = logMark(s.amb);
    const [deleted] = await direct(s.redis.port, ['ACL', 'DELUSER', 'limited']);
    expect(plain(deleted!)).toBe(1);
    // Redis 7 disconnects the deleted user's clients (an orderly close, no error text).
    await ref.until(() => ref.closed, 'the direct client disconnected by ACL DELUSER', 10_000);
    expect(ref.ended).toBe(true);

    await closedOrReconnected(s, via, mark);
    const got = await tryCommands(via, ['SET', 'secret', 'x'], ['ACL', 'WHOAMI']);
    expect(got, 'commands of the deleted user ran as someone else').not.toContainEqual('OK');
    expect(got).not.toContainEqual('default');
    // This kill is one Redis meant (same server, same run_id): the rule for deliberate closes
    // covers it; a reconnect would have to fail its replayed AUTH. Either log line will do.
    try {
      await via.until(() => via.closed, 'the close', 10_000);
    } catch {
      throw new Error(`ACL DELUSER: the client is still connected; after it, SET secret x and ACL WHOAMI were answered ${JSON.stringify(got)}`);
    }
    await waitUntil(() => eventsSince(s.amb, mark, REPLAY_FAILED_EVENT).length + eventsSince(s.amb, mark, SERVER_CLOSE_EVENT).length >= 1, {
      timeoutMs: 5000,
      intervalMs: 10,
      what: () => `a log line matching ${REPLAY_FAILED_EVENT} or ${SERVER_CLOSE_EVENT}; logged: ${JSON.stringify(eventNamesSince(s.amb, mark))}`,
    });
    const [secret] = await direct(s.redis.port, ['GET', 'secret']);
    expect(plain(secret!)).toBe(null);
  });

  for (const [what, after] of [
    ['no longer exists', []],
    ['has another password', LIMITED_OTHER_PASSWORD],
  ] as const) {
    it(`server restarted (SIGKILL) with an ACL where limited ${what}: the replayed AUTH fails, the client is closed`, async () => {
      const s = await startProbedStack(cleanup, LIMITED);
      const via = await openClient(cleanup, s.port);
      expect(plain(await via.call(['AUTH', 'limited', 'pw']))).toBe('OK');
      expect(plain(await via.call(['ACL', 'WHOAMI']))).toBe('limited');
      const mark = logMark(s.amb);
      s.redis = await restartRedis(cleanup, s.redis, [...after], 'SIGKILL');
      await closedOrReconnected(s, via, mark);
      const got = await tryCommands(via, ['SET', 'secret', 'x'], ['ACL', 'WHOAMI']);
      expect(got, 'a command ran as another user after the replayed AUTH failed').not.toContainEqual('OK');
      expect(got).not.toContainEqual('default');
      await expectClosedForFailedReplay(s, via, mark, `limited ${what}`, got);
      const [secret] = await direct(s.redis.port, ['GET', 'secret']);
      expect(plain(secret!)).toBe(null);
    });
  }
});

describe('other replayed state refused after a restart', () => {
  it('HELLO 3 AUTH default <password>, the password changed across the restart: closed', async () => {
    const s = await startProbedStack(cleanup, ['--requirepass', 'old-pw']);
    const via = await openClient(cleanup, s.port);
    const hello = await via.call(['HELLO', '3', 'AUTH', 'default', 'old-pw']);
    expect(hello.type).toBe('map');
    const mark = logMark(s.amb);
    s.redis = await restartRedis(cleanup, s.redis, ['--requirepass', 'new-pw'], 'SIGKILL');
    await closedOrReconnected(s, via, mark);
    const got = await tryCommands(via, ['PING']);
    expect(got).not.toContainEqual('PONG');
    await expectClosedForFailedReplay(s, via, mark, 'HELLO 3 AUTH with a changed password', got);
  });

  it('SELECT 5, then the server restarted with --databases 2: the replayed SELECT fails, closed; nothing written to db 0', async () => {
    const s = await startProbedStack(cleanup, []);
    const via = await openClient(cleanup, s.port);
    expect(plain(await via.call(['SELECT', 5]))).toBe('OK');
    expect(plain(await via.call(['SET', 'in-db5', 'before']))).toBe('OK');
    const mark = logMark(s.amb);
    s.redis = await restartRedis(cleanup, s.redis, ['--databases', '2'], 'SIGKILL');
    const [refused] = await direct(s.redis.port, ['SELECT', 5]);
    expect(plain(refused!)).toMatchObject({ error: expect.stringMatching(/out of range/) }); // the refusal the replay gets
    await closedOrReconnected(s, via, mark);
    const got = await tryCommands(via, ['SET', 'in-db5', 'after']);
    await expectClosedForFailedReplay(s, via, mark, 'SELECT 5 refused after the restart', got);
    const [inDb0] = await direct(s.redis.port, ['GET', 'in-db5']);
    expect(plain(inDb0!), 'the write meant for db 5 landed in db 0').toBe(null);
  });

  it('SUBSCRIBE to a channel the user may no longer access after the restart (resetchannels): closed, not silently unsubscribed', async () => {
    const before = ['--user', 'sub', 'on', '>pw', '~*', '&news', '+@all'];
    const after = ['--user', 'sub', 'on', '>pw', '~*', 'resetchannels', '+@all'];
    const s = await startProbedStack(cleanup, before);
    const via = await openClient(cleanup, s.port);
    expect(plain(await via.call(['AUTH', 'sub', 'pw']))).toBe('OK');
    via.send('SUBSCRIBE', 'news');
    await via.until(() => via.frames.length >= 2, 'the subscribe confirmation');
    expect(plain(via.frames[1]!.r)).toEqual(['subscribe', 'news', 1]);
    const mark = logMark(s.amb);
    s.redis = await restartRedis(cleanup, s.redis, after, 'SIGKILL');
    // What the replay gets on the new server: the subscription is refused.
    const probe = await openClient(cleanup, s.redis.port);
    expect(plain(await probe.call(['AUTH', 'sub', 'pw']))).toBe('OK');
    const refused: RespValue = await probe.call(['SUBSCRIBE', 'news']);
    expect(plain(refused)).toMatchObject({ error: expect.stringMatching(/^NOPERM/) });
    probe.close();
    await closedOrReconnected(s, via, mark);
    await expectClosedForFailedReplay(s, via, mark, 'SUBSCRIBE refused after the restart', via.frames.slice(2).map((f) => plain(f.r)));
  });
});

describe('control: a replay that succeeds', () => {
  it('same users and password after the restart: the client keeps working, still as limited', async () => {
    const s = await startProbedStack(cleanup, LIMITED);
    const via = await openClient(cleanup, s.port);
    expect(plain(await via.call(['AUTH', 'limited', 'pw']))).toBe('OK');
    const mark = logMark(s.amb);
    s.redis = await restartRedis(cleanup, s.redis, LIMITED, 'SIGKILL');
    expect(plain(await via.call(['ACL', 'WHOAMI']))).toBe('limited');
    expect(plain(await via.call(['GET', 'cache:x']))).toBe(null);
    expect(plain(await via.call(['SET', 'secret', 'x']))).toMatchObject({ error: expect.stringMatching(/^NOPERM/) });
    expect(via.closed).toBe(false);
    expect(s.amb.logs().slice(mark).some((l) => l.event === 'upstream reconnected')).toBe(true);
    expect(eventsSince(s.amb, mark, REPLAY_FAILED_EVENT)).toEqual([]);
    expect(await s.amb.metric(REPLAY_FAILURES_METRIC)).toBe(0);
  });
});
