/**
 * HealthCheck against real redis-servers: up/down transitions (PING and ROLE probes), the role
 * each ROLE answer reports, which server process a probe connection vouches for (identity), and
 * verify()'s answer to "is the server that closed a client still the same one?" after a CLIENT
 * KILL, a restart on the same port, a role change, nothing listening, and where INFO is refused.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamAddress } from '../../../src/config/address.js';
import { encodeCommand } from '../../../src/resp/commandCodec.js';
import { HealthCheck, type HealthOptions, type UpstreamIdentity } from '../../../src/upstream/healthCheck.js';
import { startRedis, type RedisServer } from '../../support/redisServer.js';
import { RawClient } from '../../support/rawClient.js';
import { cmd } from '../../support/resp.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const addressOf = (port: number): UpstreamAddress => ({ host: '127.0.0.1', port, tls: false, url: `tcp://127.0.0.1:${port}` });

async function redis(args: string[] = [], port?: number): Promise<RedisServer> {
  const r = await startRedis(args, port);
  cleanup.add(r, (x) => {
    // A SIGSTOPped server must be continued before it can exit.
    x.process.kill('SIGCONT');
    return x.stop('SIGKILL');
  });
  return r;
}

/** A health check with its changes recorded, stopped at teardown. */
function check(port: number, opts: Partial<HealthOptions> = {}) {
  const changes: [boolean, string][] = [];
  const hc = new HealthCheck(
    addressOf(port),
    { intervalMs: 50, timeoutMs: 1000, failuresBeforeDown: 1, probe: 'ping', preamble: null, tls: null, ...opts },
    (up, reason) => changes.push([up, reason]),
  );
  cleanup.add(hc, (h) => h.stop());
  hc.start();
  return { hc, changes };
}

/** One command on a fresh connection, its reply as text. */
async function ask(port: number, ...args: string[]): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    await c.write(cmd(...args));
    return (await c.waitForBytes((b) => b.includes('\r\n'), args.join(' '))).toString('latin1');
  } finally {
    c.close();
  }
}

function verify(hc: HealthCheck, before: UpstreamIdentity): Promise<[boolean, string]> {
  return new Promise((resolve) => hc.verify(before, (same, evidence) => resolve([same, evidence])));
}

const up = (hc: HealthCheck) => waitUntil(() => hc.up, { what: () => `up; last error: ${hc.lastError}` });
const down = (hc: HealthCheck) => waitUntil(() => !hc.up, { what: 'down' });

describe('HealthCheck: PING probes', () => {
  it('is up on the first answer, down after the failures allowed, up again when the server is back', async () => {
    const r = await redis();
    const { hc, changes } = check(r.port, { failuresBeforeDown: 2 });
    expect(hc.up).toBe(false);
    await up(hc);
    expect([hc.lastError, changes]).toEqual(['', [[true, 'PING answered']]]);
    await r.stop('SIGKILL');
    await down(hc);
    expect(changes.slice(1)).toEqual([[false, hc.lastError]]);
    expect(hc.lastError).toMatch(/ECONNREFUSED|connection closed|ECONNRESET/);
    const again = await redis([], r.port);
    await up(hc);
    expect(changes.map(([u]) => u)).toEqual([true, false, true]);
    expect(again.port).toBe(r.port);
  });

  it('one failure short of the limit is not down yet, though the error is known', async () => {
    const r = await redis();
    const { hc, changes } = check(r.port, { failuresBeforeDown: 3, intervalMs: 300 });
    await up(hc);
    await r.stop('SIGKILL');
    await waitUntil(() => hc.lastError !== '', { intervalMs: 2, what: 'the first failed probe' });
    expect([hc.up, changes.length]).toEqual([true, 1]);
    await down(hc);
    expect(changes.map(([u]) => u)).toEqual([true, false]);
  });

  it('a probe unanswered within the timeout fails (a stopped server), and the server answering again is up', async () => {
    const r = await redis();
    const { hc } = check(r.port, { timeoutMs: 200 });
    await up(hc);
    r.process.kill('SIGSTOP');
    await down(hc);
    expect(hc.lastError).toBe('no answer to PING within 200 ms');
    r.process.kill('SIGCONT');
    await up(hc);
  });

  it('probeNow checks at once instead of waiting for the interval', async () => {
    const r = await redis();
    const { hc } = check(r.port, { intervalMs: 60_000 });
    await up(hc);
    await r.stop('SIGKILL');
    hc.probeNow();
    await waitUntil(() => !hc.up, { timeoutMs: 5000, what: 'down well before the 60 s interval' });
  });

  it('-NOAUTH proves a live Redis: up, though the ambassador holds no password', async () => {
    const r = await redis(['--requirepass', 'secret']);
    const { hc, changes } = check(r.port);
    await up(hc);
    expect(changes).toEqual([[true, 'PING answered']]);
  });

  it('a refused preamble AUTH is reported as the reason it is down, and it never counts as up', async () => {
    const r = await redis(['--requirepass', 'secret']);
    const { hc, changes } = check(r.port, { preamble: encodeCommand(['AUTH', 'wrong']) });
    await down(hc);
    await waitUntil(() => changes.length > 0, { what: 'the down report' });
    expect(changes).toEqual([[false, "the upstream refused the ambassador's AUTH (WRONGPASS)"]]);
    expect(hc.lastError).toBe("the upstream refused the ambassador's AUTH (WRONGPASS)");
  });

  it('with the right preamble AUTH it is up and INFO tells it which process it reached', async () => {
    const r = await redis(['--requirepass', 'secret']);
    const { hc } = check(r.port, { preamble: encodeCommand(['AUTH', 'secret']) });
    await up(hc);
    await waitUntil(() => hc.identity()?.runId !== null, { what: 'the run_id from INFO' });
    expect(hc.identity()).toMatchObject({ runId: expect.stringMatching(/^[0-9a-f]{40}$/), role: 'master' });
  });

  it('after stop() nothing more is reported, even when the server goes away', async () => {
    const r = await redis();
    const { hc, changes } = check(r.port);
    await up(hc);
    hc.stop();
    await r.stop('SIGKILL');
    // A check on the same schedule reporting three failures shows the time for a report has passed.
    const control = check(r.port, { failuresBeforeDown: 3 });
    await waitUntil(() => control.changes.length > 0, { what: 'the control to report down' });
    expect(changes).toEqual([[true, 'PING answered']]);
    expect(hc.identity()).toBeNull();
  });
});

describe('HealthCheck: ROLE probes', () => {
  it('reports the role each answer gives, and a change of role even while up', async () => {
    const master = await redis();
    const replica = await redis(['--replicaof', '127.0.0.1', String(master.port)]);
    const m = check(master.port, { probe: 'role' });
    const s = check(replica.port, { probe: 'role' });
    await up(m.hc);
    await up(s.hc);
    expect([m.hc.role, m.changes]).toEqual(['master', [[true, 'ROLE is master']]]);
    expect([s.hc.role, s.changes]).toEqual(['replica', [[true, 'ROLE is replica']]]);
    expect(await ask(replica.port, 'REPLICAOF', 'NO', 'ONE')).toBe('+OK\r\n');
    await waitUntil(() => s.hc.role === 'master', { what: 'the promoted replica to say master' });
    expect(s.changes).toEqual([
      [true, 'ROLE is replica'],
      [true, 'ROLE is master'],
    ]);
  });

  it('a sentinel answers ROLE as a sentinel', async () => {
    const port = await freePort();
    const dir = cleanup.add(mkdtempSync(path.join(os.tmpdir(), 'hc-sentinel-')), (d) => rmSync(d, { recursive: true, force: true }));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndaemonize no\ndir ${dir}\n`);
    const child = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
    cleanup.add(child, (c) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      }),
    );
    const { hc } = check(port, { probe: 'role' });
    await up(hc);
    expect(hc.role).toBe('sentinel');
  });
});

describe('HealthCheck: identity and verify()', () => {
  it('has no identity before its probe connection is up; then the run_id and role INFO gave', async () => {
    const master = await redis();
    const replica = await redis(['--replicaof', '127.0.0.1', String(master.port)]);
    const m = check(master.port);
    const s = check(replica.port);
    expect(m.hc.identity()).toBeNull();
    await up(m.hc);
    await up(s.hc);
    await waitUntil(() => m.hc.identity()?.runId != null && s.hc.identity()?.runId != null, { what: 'both run_ids' });
    expect(m.hc.identity()).toEqual({ runId: expect.stringMatching(/^[0-9a-f]{40}$/), role: 'master', connection: 1 });
    expect(s.hc.identity()).toMatchObject({ role: 'slave', connection: 1 });
    expect(s.hc.identity()!.runId).not.toBe(m.hc.identity()!.runId);
  });

  it('verify: true after Redis killed some other client (the same process still answers, in the same role)', async () => {
    const r = await redis();
    const { hc } = check(r.port);
    await up(hc);
    await waitUntil(() => hc.identity()?.runId != null, { what: 'the run_id' });
    const before = hc.identity()!;
    const victim = await RawClient.connect(r.port);
    cleanup.add(victim, (v) => v.close());
    await victim.write(cmd('CLIENT', 'ID'));
    const idReply = (await victim.waitForBytes((b) => b.includes('\r\n'), 'CLIENT ID')).toString('latin1');
    expect(await ask(r.port, 'CLIENT', 'KILL', 'ID', idReply.slice(1, -2))).toBe(':1\r\n');
    await victim.waitClosed();
    const [same, evidence] = await verify(hc, before);
    expect(same).toBe(true);
    expect(evidence).toMatch(/^the same process \(run_id [0-9a-f]{8}…\) still answers as master$/);
  });

  it('verify: false after the server was restarted on the same port (a new run_id)', async () => {
    const r = await redis();
    const { hc } = check(r.port);
    await up(hc);
    await waitUntil(() => hc.identity()?.runId != null, { what: 'the run_id' });
    const before = hc.identity()!;
    await r.stop('SIGKILL');
    await redis([], r.port);
    expect(await verify(hc, before)).toEqual([false, 'the upstream is another process now (its run_id changed)']);
    // Once the check reconnects, it vouches for the new process.
    await waitUntil(() => (hc.identity()?.connection ?? 0) > before.connection && hc.identity()?.runId != null, { what: 'the new probe connection' });
    expect(hc.identity()!.runId).not.toBe(before.runId);
  });

  it('verify: false when the role changed (a master demoted to a replica)', async () => {
    const other = await redis();
    const r = await redis();
    const { hc } = check(r.port);
    await up(hc);
    await waitUntil(() => hc.identity()?.runId != null, { what: 'the run_id' });
    const before = hc.identity()!;
    expect(await ask(r.port, 'REPLICAOF', '127.0.0.1', String(other.port))).toBe('+OK\r\n');
    expect(await verify(hc, before)).toEqual([false, "the upstream's role changed from master to slave"]);
  });

  it('verify: false when nothing listens any more', async () => {
    const r = await redis();
    const { hc } = check(r.port, { intervalMs: 60_000 });
    await up(hc);
    await waitUntil(() => hc.identity()?.runId != null, { what: 'the run_id' });
    const before = hc.identity()!;
    await r.stop('SIGKILL');
    const [same, evidence] = await verify(hc, before);
    expect(same).toBe(false);
    expect(evidence).toMatch(/^the upstream does not answer \((ECONNREFUSED|connection closed before every reply came)\)$/);
  });

  it('where INFO is refused, the probe connection open since before stands in for the run_id', async () => {
    const r = await redis(['--requirepass', 'secret']);
    const { hc } = check(r.port, { intervalMs: 60_000 });
    await up(hc);
    const before = hc.identity()!;
    expect(before).toEqual({ runId: null, role: null, connection: 1 });
    expect(await verify(hc, before)).toEqual([true, 'the probe connection opened before it still answers']);
    // A probe connection that is not the one from before proves nothing.
    expect(await verify(hc, { ...before, connection: 0 })).toEqual([false, 'which server process it was is not known']);
    await r.stop('SIGKILL');
    const [same] = await verify(hc, before);
    expect(same).toBe(false);
  });
});
