/**
 * Sentinel failover with real processes (issue 4, item 4): master + replica + 3 sentinels on
 * loopback, the ambassador following REDIS_PORT_<p>_SENTINEL=mymaster@..., a writer doing INCR
 * through it every few ms. The master is lost (SIGKILL, and separately SIGSTOP); measured from the
 * first +switch-master a sentinel publishes (our own subscription on all 3 sentinels) to the first
 * INCR acknowledged through the ambassador on the new master: at most 1 s. Also: no acknowledged
 * INCR counted twice, a subscriber keeps its socket and gets messages published on the new
 * master, a client that SELECTed db 3 writes to db 3 of the new master.
 *
 * Prints `SWITCHOVER sentinel-sigkill ms=...` / `SWITCHOVER sentinel-sigstop ms=...`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startAmbassador, waitReady } from '../support/ambassadorProcess.js';
import { checkIncrHistory, IncrWriter } from '../support/incrWriter.js';
import { freePort } from '../support/freePort.js';
import { Cleanup, exited, fdCount, procState } from '../support/processes.js';
import { direct, openClient } from '../support/rawClient.js';
import { plain } from '../support/resp.js';
import { startSentinelCluster } from '../support/sentinel.js';
import { UPSTREAM_ERROR } from '../support/upstreamErrors.js';
import { now, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

/** How long after losing the master acknowledgements can only come from the new one (down-after is 1000 ms). */
const OLD_MASTER_REPLY_WINDOW_MS = 500;

async function sentinelScenario(how: 'SIGKILL' | 'SIGSTOP'): Promise<void> {
  const cluster = await startSentinelCluster(cleanup);
  const port = await freePort();
  const amb = cleanup.track(
    await startAmbassador({ env: { [`REDIS_PORT_${port}_SENTINEL`]: cluster.spec, AMBASSADOR_SENTINEL_POLL_MS: '1000' }, waitPorts: [port] }),
  );
  const listener = `redis:${port}`;
  await waitReady(amb);
  const fail = (msg: string): Error =>
    new Error(`${msg}\n--- ambassador log (last 40) ---\n${amb.logs().slice(-40).map((l) => JSON.stringify(l)).join('\n')}\n--- sentinels ---\n${cluster.output().slice(-4000)}`);

  // A subscriber, connected before the failover.
  const sub = await openClient(cleanup, port);
  sub.send('SUBSCRIBE', 'news');
  await sub.until(() => sub.frames.length >= 1, 'subscribe confirmation');
  expect(plain(sub.frames[0]!.r)).toEqual(['subscribe', 'news', 1]);
  await direct(cluster.master.port, ['PUBLISH', 'news', 'before']);
  await sub.until(() => sub.frames.length >= 2, 'message published before the failover');

  // A client on db 3.
  const db3 = await openClient(cleanup, port);
  expect(plain(await db3.call(['SELECT', 3]))).toBe('OK');
  expect(plain(await db3.call(['SET', 'k3-before', 'x']))).toBe('OK');

  const writer = new IncrWriter(await openClient(cleanup, port));
  writer.start();
  await waitUntil(() => writer.acks.length >= 30 || writer.crash !== null, { timeoutMs: 15_000, intervalMs: 10, what: 'writer acknowledged 30 INCRs' });

  const oldPid = cluster.master.process.pid!;
  const lostAt = now();
  if (how === 'SIGKILL') {
    cluster.master.process.kill('SIGKILL');
    await exited(cluster.master.process);
  } else {
    cluster.master.process.kill('SIGSTOP');
    await waitUntil(() => procState(oldPid) === 'T', { timeoutMs: 5000, intervalMs: 2, what: 'master stopped' });
  }

  await waitUntil(() => cluster.switchAt() > 0, { timeoutMs: 30_000, intervalMs: 5, what: () => fail('+switch-master from a sentinel').message });
  const switchAt = cluster.switchAt();
  const [name, , oldPort, , newPortText] = cluster.switchMessage().split(' ');
  expect(name).toBe('mymaster');
  expect(Number(oldPort)).toBe(cluster.master.port);
  expect(Number(newPortText)).toBe(cluster.replica.port);
  const newMaster = cluster.replica.port;

  const splitAt = lostAt + OLD_MASTER_REPLY_WINDOW_MS;
  try {
    await waitUntil(() => writer.ackAfter(splitAt) !== undefined || writer.crash !== null, {
      timeoutMs: 20_000,
      intervalMs: 2,
      what: 'an INCR acknowledged on the new master',
    });
  } catch (e) {
    throw fail((e as Error).message);
  }
  if (writer.crash) throw fail(`writer: ${writer.crash.message}`);
  const firstNew = writer.ackAfter(splitAt)!;
  const switchoverMs = firstNew.at - switchAt;
  const tag = how === 'SIGKILL' ? 'sentinel-sigkill' : 'sentinel-sigstop';
  console.log(
    `SWITCHOVER ${tag} ms=${switchoverMs.toFixed(1)} (+switch-master ${(switchAt - lostAt).toFixed(0)} ms after ${how}; ` +
      `first acknowledged INCR on the new master ${(firstNew.at - lostAt).toFixed(0)} ms after ${how}, that INCR sent ${(firstNew.sentAt - lostAt).toFixed(0)} ms after it)`,
  );

  // The subscriber: same socket, messages published on the new master arrive.
  const before = sub.frames.length;
  const subStart = now();
  let published = 0;
  await waitUntil(
    async () => {
      published++;
      await direct(newMaster, ['PUBLISH', 'news', `after-${published}`]);
      return sub.frames.length > before || sub.closed;
    },
    {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: () => fail(`a message published on the new master reaching the subscriber; subscriber frames: ${sub.describe()}`).message,
    },
  );
  expect(sub.closed).toBe(false);
  const subFrames = sub.frames.map((f) => plain(f.r));
  // Only our confirmation and messages: the replayed SUBSCRIBE's confirmation is not passed on.
  expect(subFrames[0]).toEqual(['subscribe', 'news', 1]);
  expect(subFrames[1]).toEqual(['message', 'news', 'before']);
  for (const f of subFrames.slice(2)) expect(f).toEqual(['message', 'news', expect.stringMatching(/^after-\d+$/)]);
  console.log(`subscriber (${how}): first message on the new master ${(sub.frames[before]!.at - subStart).toFixed(0)} ms after publishing began, ${published} PUBLISH(es)`);

  // The db 3 client: its next write lands in db 3 of the new master.
  expect(plain(await db3.call(['SET', 'k3-after', 'y']))).toBe('OK');
  expect(db3.closed).toBe(false);
  const [, inDb3, , inDb0] = await direct(newMaster, ['SELECT', 3], ['GET', 'k3-after'], ['SELECT', 0], ['GET', 'k3-after']);
  expect(plain(inDb3!)).toBe('y');
  expect(plain(inDb0!)).toBe(null);

  // Let the writer go on a little on the new master, then stop it and check its history.
  const settled = writer.acks.length;
  await waitUntil(() => writer.acks.length >= settled + 20, { timeoutMs: 10_000, intervalMs: 10, what: 'writer keeps writing on the new master' });
  await writer.stop();
  expect(writer.conn.closed).toBe(false);
  const [finalResp] = await direct(newMaster, ['GET', 'counter']);
  const final = Number(plain(finalResp!));
  const history = checkIncrHistory(writer, splitAt, final);
  console.log(`INCR history (${how}): ${history.summary}`);
  expect(history.problems).toEqual([]);
  // Every error is one of the two honest ones, never a silent retry.
  for (const f of writer.failures) expect(f.error).toMatch(UPSTREAM_ERROR);
  // The ambassador saw exactly the INCRs the writer sent (each answered once, none resent).
  expect(await amb.metric('redis_ambassador_commands_total', { listener, cmd: 'incr' })).toBe(writer.sent);
  expect(await amb.metric('redis_ambassador_failovers_total', { listener })).toBe(1);
  const failoverLog = amb.logs().find((l) => l.event === 'failover');
  expect(failoverLog, 'a "failover" log line').toBeDefined();
  expect(JSON.stringify(failoverLog)).toContain(`127.0.0.1:${newMaster}`);

  expect(switchoverMs, `switch-over ${switchoverMs.toFixed(1)} ms after +switch-master`).toBeLessThanOrEqual(1000);
  expect(fdCount(amb.process.pid!)).toBeGreaterThan(0); // the ambassador is alive
}

describe('Sentinel failover through the ambassador', () => {
  it('master SIGKILLed: writes resume on the new master within 1 s of +switch-master; subscriber, db 3 and INCR history intact', async () => {
    await sentinelScenario('SIGKILL');
  }, 60_000);

  it('master SIGSTOPped: the same switch-over (connections to the frozen master are abandoned, not waited on)', async () => {
    await sentinelScenario('SIGSTOP');
  }, 60_000);
});
