/**
 * Candidate-list mode (issue 4, item 4): REDIS_PORT_<p>_TCP=tcp://<master>,tcp://<replica> with
 * AMBASSADOR_HEALTH_INTERVAL_MS=200. The master is SIGKILLed and the replica promoted by hand
 * (REPLICAOF NO ONE, sent directly: the ambassador never promotes anything); writes through the
 * ambassador must succeed on it within 2 health-check intervals of the promotion, and the
 * failover is counted once. Prints `SWITCHOVER candidates ms=...`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readyz } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { checkIncrHistory, IncrWriter } from '../support/incrWriter.js';
import { Cleanup, exited } from '../support/processes.js';
import { direct, openClient } from '../support/rawClient.js';
import { info } from '../support/redisInfo.js';
import { startRedis } from '../support/redisServer.js';
import { plain } from '../support/resp.js';
import { now, sleep, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

const INTERVAL_MS = 200;
/** Scheduling slack on top of the 2 intervals, for a 2-core machine shared with other test runs. */
const SLACK_MS = 100;

/**
 * `operatorDelayMs`: how long after the kill the replica is promoted. 0: as soon as the
 * ambassador's /readyz says the listener lost its master (the ambassador noticed).
 */
async function candidateScenario(tag: string, operatorDelayMs: number): Promise<void> {
  const master = cleanup.track(await startRedis(['--repl-diskless-sync-delay', '0']));
  const replica = cleanup.track(await startRedis(['--replicaof', '127.0.0.1', String(master.port)]));
  await waitUntil(async () => (await info(replica.port, 'replication')).master_link_status === 'up', { timeoutMs: 15_000, intervalMs: 50, what: 'replica in sync' });

  const { amb, port, listener } = await ambassadorFor(cleanup, `${master.url},${replica.url}`, {
    env: { AMBASSADOR_HEALTH_INTERVAL_MS: String(INTERVAL_MS) },
    ready: true,
  });
  expect((await readyz(amb)).body.listeners[listener]!.master).toBe(master.url);

  const writer = new IncrWriter(await openClient(cleanup, port));
  writer.start();
  await waitUntil(() => writer.acks.length >= 30 || writer.crash !== null, { timeoutMs: 15_000, intervalMs: 10, what: 'writer acknowledged 30 INCRs' });

  const lostAt = now();
  master.process.kill('SIGKILL');
  await exited(master.process);
  if (operatorDelayMs === 0) {
    await waitUntil(async () => (await readyz(amb)).status === 503, { timeoutMs: 10_000, intervalMs: 10, what: 'readyz 503 after the kill' });
  } else {
    await sleep(operatorDelayMs); // the operator's reaction time: part of the scenario, not a wait for a condition
  }

  const promoter = await openClient(cleanup, replica.port);
  const promoted = await promoter.callTimed(['REPLICAOF', 'NO', 'ONE']);
  expect(plain(promoted.r)).toBe('OK');
  const promotedAt = promoted.at;
  const promotedWall = Date.now() - (now() - promotedAt);
  promoter.close();

  await waitUntil(() => writer.ackAfter(promotedAt) !== undefined || writer.crash !== null, {
    timeoutMs: 20_000,
    intervalMs: 2,
    what: 'an INCR acknowledged on the promoted replica',
  });
  if (writer.crash) throw writer.crash;
  const first = writer.ackAfter(promotedAt)!;
  const ms = first.at - promotedAt;
  const log = amb
    .logs()
    .filter((l) => ['failover', 'candidate down', 'candidate answered', 'upstream reconnected', 'upstream still unavailable'].includes(String(l.event)))
    .map((l): Record<string, unknown> => ({ ms_after_promotion: Math.round(Date.parse(String(l.time)) - promotedWall), ...l }));
  const failoverLine = log.find((l) => l.event === 'failover');
  console.log(
    `SWITCHOVER ${tag} ms=${ms.toFixed(1)} (promotion ${(promotedAt - lostAt).toFixed(0)} ms after SIGKILL; ` +
      `ambassador's "failover" log line ${failoverLine ? `${failoverLine.ms_after_promotion} ms` : 'missing'} after the promotion; ` +
      `limit 2 x ${INTERVAL_MS} ms + ${SLACK_MS} ms slack; the acknowledged INCR was sent ${(first.sentAt - promotedAt).toFixed(0)} ms after the promotion)`,
  );

  const settled = writer.acks.length;
  await waitUntil(() => writer.acks.length >= settled + 20, { timeoutMs: 10_000, intervalMs: 10, what: 'writer keeps writing on the new master' });
  await writer.stop();
  const [final] = await direct(replica.port, ['GET', 'counter']);
  const history = checkIncrHistory(writer, promotedAt, Number(plain(final!)));
  console.log(`INCR history (${tag}): ${history.summary}`);
  expect(history.problems).toEqual([]);
  expect(writer.conn.closed).toBe(false);
  expect(await amb.metric('redis_ambassador_commands_total', { listener, cmd: 'incr' })).toBe(writer.sent);
  expect(await amb.metric('redis_ambassador_failovers_total', { listener })).toBe(1);
  expect((await readyz(amb)).body.listeners[listener]!.master).toBe(replica.url);
  const failover = amb.logs().find((l) => l.event === 'failover');
  expect(failover).toMatchObject({ old_master: master.url, new_master: replica.url });

  expect(ms, `writes on the promoted replica ${ms.toFixed(1)} ms after REPLICAOF NO ONE; log:\n${log.map((l) => JSON.stringify(l)).join('\n')}`).toBeLessThanOrEqual(
    2 * INTERVAL_MS + SLACK_MS,
  );
}

describe('candidate list: traffic follows the candidate whose ROLE is master', () => {
  it('master killed, replica promoted by hand once the ambassador noticed: writes go to it within 2 health-check intervals; failovers_total 1', async () => {
    await candidateScenario('candidates', 0);
  }, 60_000);

  it('the same with the promotion 2 s after the kill (an operator\'s reaction time): still within 2 health-check intervals', async () => {
    await candidateScenario('candidates-late-promotion', 2000);
  }, 60_000);
});
