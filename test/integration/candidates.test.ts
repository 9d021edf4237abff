/**
 * Candidate-list mode (issue 4, item 4): REDIS_PORT_<p>_TCP=tcp://<master>,tcp://<replica> with
 * AMBASSADOR_HEALTH_INTERVAL_MS=200. The master is SIGKILLed and the replica promoted by hand
 * (REPLICAOF NO ONE, sent directly: the ambassador never promotes anything); writes through the
 * ambassador must succeed on it within 2 health-check intervals of the promotion, and the
 * failover is counted once. Prints `SWITCHOVER candidates ms=...`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/freePort.js';
import {
  checkIncrHistory,
  Conn,
  direct,
  exited,
  IncrWriter,
  infoField,
  now,
  plain,
  Procs,
  sleep,
  startTrackedAmbassador,
  startTrackedRedis,
  waitFor,
  waitReady,
} from './failoverKit.js';

const procs = new Procs();
afterEach(() => procs.killAll());
afterAll(() => procs.killAll());

const INTERVAL_MS = 200;
/** Scheduling slack on top of the 2 intervals, for a 2-core machine shared with other test runs. */
const SLACK_MS = 100;

/**
 * `operatorDelayMs`: how long after the kill the replica is promoted. 0: as soon as the
 * ambassador's /readyz says the listener lost its master (the ambassador noticed).
 */
async function candidateScenario(tag: string, operatorDelayMs: number): Promise<void> {
  const master = await startTrackedRedis(procs, ['--repl-diskless-sync-delay', '0']);
  const replica = await startTrackedRedis(procs, ['--replicaof', '127.0.0.1', String(master.port)]);
  await waitFor(async () => (await infoField(replica.port, 'replication', 'master_link_status')) === 'up', 'replica in sync', 15_000, 50);

  const port = await freePort();
  const listener = `redis:${port}`;
  const amb = await startTrackedAmbassador(procs, {
    env: { [`REDIS_PORT_${port}_TCP`]: `${master.url},${replica.url}`, AMBASSADOR_HEALTH_INTERVAL_MS: String(INTERVAL_MS) },
    waitPorts: [port],
  });
  await waitReady(amb.adminPort);
  const readyz = async (): Promise<{ listeners: Record<string, { master: string | null }> }> =>
    (await fetch(`http://127.0.0.1:${amb.adminPort}/readyz`)).json() as Promise<{ listeners: Record<string, { master: string | null }> }>;
  expect((await readyz()).listeners[listener]!.master).toBe(master.url);

  const writer = new IncrWriter(await Conn.open(port));
  procs.onKill(() => writer.conn.close());
  writer.start();
  await waitFor(() => writer.acks.length >= 30 || writer.crash !== null, 'writer acknowledged 30 INCRs');

  const lostAt = now();
  master.process.kill('SIGKILL');
  await exited(master.process);
  if (operatorDelayMs === 0) {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${amb.adminPort}/readyz`)).status === 503, 'readyz 503 after the kill', 10_000, 10);
  } else {
    await sleep(operatorDelayMs); // the operator's reaction time: part of the scenario, not a wait for a condition
  }

  const promoter = await Conn.open(replica.port);
  procs.onKill(() => promoter.close());
  const promoted = await promoter.callTimed(['REPLICAOF', 'NO', 'ONE']);
  expect(plain(promoted.r)).toBe('OK');
  const promotedAt = promoted.at;
  const promotedWall = Date.now() - (now() - promotedAt);
  promoter.close();

  await waitFor(() => writer.ackAfter(promotedAt) !== undefined || writer.crash !== null, 'an INCR acknowledged on the promoted replica', 20_000, 2);
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
  await waitFor(() => writer.acks.length >= settled + 20, 'writer keeps writing on the new master', 10_000);
  await writer.stop();
  const [final] = await direct(replica.port, ['GET', 'counter']);
  const history = checkIncrHistory(writer, promotedAt, Number(final!.v));
  console.log(`INCR history (${tag}): ${history.summary}`);
  expect(history.problems).toEqual([]);
  expect(writer.conn.closed).toBe(false);
  expect(await amb.metric('redis_ambassador_commands_total', { listener, cmd: 'incr' })).toBe(writer.sent);
  expect(await amb.metric('redis_ambassador_failovers_total', { listener })).toBe(1);
  expect((await readyz()).listeners[listener]!.master).toBe(replica.url);
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
