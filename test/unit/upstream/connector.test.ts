/**
 * connectUpstream against real loopback sockets: refused attempts are retried with backoff until
 * something listens, the window running out gives UpstreamUnreachable with the last error, the
 * address is asked again before every attempt, a connect that hangs times out, cancel() stops it.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamAddress } from '../../../src/config/address.js';
import { backoffDelay, connectUpstream, UpstreamUnreachable, type ConnectOptions } from '../../../src/upstream/connector.js';
import { freePort } from '../../support/freePort.js';
import { Cleanup } from '../../support/processes.js';
import { waitUntil } from '../../support/wait.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const at = (port: number, useTls = false): UpstreamAddress => ({ host: '127.0.0.1', port, tls: useTls, url: `${useTls ? 'rediss' : 'tcp'}://127.0.0.1:${port}` });

interface Outcome {
  err: UpstreamUnreachable | null;
  socket: net.Socket | null;
  addr: UpstreamAddress | null;
}

/** Starts connectUpstream and records its failed attempts and its one outcome. */
function connect(source: () => UpstreamAddress | null, opts: Partial<ConnectOptions> = {}) {
  const failures: { upstream: string; err: Error }[] = [];
  const outcomes: Outcome[] = [];
  const handle = connectUpstream(
    source,
    { timeoutMs: 1000, windowMs: 10_000, keepaliveMs: 0, tls: null, onAttemptFailed: (upstream, err) => failures.push({ upstream, err }), ...opts },
    (err, socket, addr) => {
      outcomes.push({ err, socket, addr });
      if (socket !== null) cleanup.add(socket, (s) => s.destroy());
    },
  );
  cleanup.add(handle, (h) => h.cancel());
  return { handle, failures, outcomes };
}

/** A server of our own on `port`, closed at teardown; counts the connections it accepts. */
async function listenOn(port: number, onConnection: (s: net.Socket) => void = () => {}): Promise<{ connections: () => number }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    cleanup.add(s, (x) => x.destroy());
    onConnection(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  cleanup.add(server, (s) => new Promise<void>((r) => s.close(() => r())));
  return { connections: () => n };
}

describe('backoffDelay', () => {
  it('is 50 ms doubling after each failed attempt, at most 1 s apart', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(backoffDelay)).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
  });
});

describe('connectUpstream', () => {
  it('connects at once to something listening', async () => {
    const port = await freePort();
    const server = await listenOn(port);
    const c = connect(() => at(port));
    await waitUntil(() => c.outcomes.length > 0, { what: 'the outcome' });
    expect(c.outcomes[0]).toMatchObject({ err: null, addr: at(port) });
    expect(c.outcomes[0]!.socket!.remotePort).toBe(port);
    expect([c.failures, server.connections()]).toEqual([[], 1]);
  });

  it('retries a refused address until it listens, then hands over the connected socket', async () => {
    const port = await freePort();
    const c = connect(() => at(port));
    await waitUntil(() => c.failures.length >= 2, { what: 'two refused attempts' });
    expect(c.outcomes).toEqual([]);
    const server = await listenOn(port);
    await waitUntil(() => c.outcomes.length > 0, { what: 'the connection once the port listens' });
    expect(c.outcomes[0]!.err).toBeNull();
    expect(c.outcomes[0]!.addr).toEqual(at(port));
    expect(c.outcomes[0]!.socket!.readyState).toBe('open');
    expect(c.failures.every((f) => f.upstream === at(port).url && (f.err as NodeJS.ErrnoException).code === 'ECONNREFUSED')).toBe(true);
    await waitUntil(() => server.connections() === 1, { what: 'the server to see the connection' });
    expect(c.outcomes).toHaveLength(1);
  });

  it('gives up when the window runs out: UpstreamUnreachable with the attempts and the last error', async () => {
    const port = await freePort();
    const c = connect(() => at(port), { windowMs: 300 });
    await waitUntil(() => c.outcomes.length > 0, { what: 'the outcome' });
    const { err, socket, addr } = c.outcomes[0]!;
    expect([socket, addr]).toEqual([null, null]);
    expect(err).toBeInstanceOf(UpstreamUnreachable);
    expect(err!.upstream).toBe(at(port).url);
    expect(err!.attempts).toBe(c.failures.length);
    expect(err!.attempts).toBeGreaterThan(1);
    expect((err!.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(err!.message).toMatch(new RegExp(`^upstream tcp://127\\.0\\.0\\.1:${port} unreachable after ${err!.attempts} attempts in ${err!.elapsedMs} ms: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
  });

  it('says "1 attempt" when the window has no room for a second', async () => {
    const port = await freePort();
    const c = connect(() => at(port), { windowMs: 10 });
    await waitUntil(() => c.outcomes.length > 0, { what: 'the outcome' });
    expect(c.outcomes[0]!.err!.message).toMatch(new RegExp(`^upstream tcp://127\\.0\\.0\\.1:${port} unreachable after 1 attempt in \\d+ ms: connect ECONNREFUSED`));
  });

  it('asks for the address before every attempt (a failover may move it)', async () => {
    const dead = await freePort();
    const live = await freePort();
    await listenOn(live);
    const asked: number[] = [];
    const c = connect(() => {
      const port = asked.length < 2 ? dead : live;
      asked.push(port);
      return at(port);
    });
    await waitUntil(() => c.outcomes.length > 0, { what: 'the outcome' });
    expect(asked).toEqual([dead, dead, live]);
    expect(c.outcomes[0]).toMatchObject({ err: null, addr: at(live) });
  });

  it('while no master is known, retries and finally says so', async () => {
    const c = connect(() => null, { windowMs: 10 });
    await waitUntil(() => c.outcomes.length > 0, { what: 'the outcome' });
    expect(c.outcomes[0]!.err!.message).toMatch(/^upstream no master known unreachable after 1 attempt in \d+ ms: no master is known for this listener yet$/);
    // Not an attempt on any address: nothing is counted against one.
    expect(c.failures).toEqual([]);
  });

  it('an attempt that does not complete within the timeout fails with ETIMEDOUT and is retried', async () => {
    // A TCP server that never speaks: the TLS handshake toward it never completes.
    const port = await freePort();
    const server = await listenOn(port);
    const c = connect(() => at(port, true), { timeoutMs: 100, windowMs: 250 });
    await waitUntil(() => c.outcomes.length > 0, { what: 'the outcome' });
    const err = c.outcomes[0]!.err!;
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
    // The error code is named where the message does not already say it.
    expect(err.message).toMatch(/ms: ETIMEDOUT connect timed out after 100 ms$/);
    expect(err.upstream).toBe(at(port, true).url);
    expect(server.connections()).toBe(err.attempts);
  });

  it('cancel() during the backoff wait: no further attempt, no outcome', async () => {
    const port = await freePort();
    const cancelled = connect(() => at(port));
    await waitUntil(() => cancelled.failures.length === 1, { what: 'the first refused attempt' });
    cancelled.handle.cancel();
    // A second attempt on the same schedule shows the time for the cancelled one's retries has passed.
    const control = connect(() => at(port));
    await waitUntil(() => control.failures.length >= 3, { what: 'three attempts of the control' });
    expect([cancelled.failures.length, cancelled.outcomes]).toEqual([1, []]);
  });

  it('cancel() while connecting: the socket is dropped, no outcome', async () => {
    const port = await freePort();
    const server = await listenOn(port);
    const cancelled = connect(() => at(port));
    cancelled.handle.cancel();
    const control = connect(() => at(port));
    await waitUntil(() => control.outcomes.length > 0, { what: 'the control connection' });
    await waitUntil(() => server.connections() >= 1, { what: 'the server to see the control' });
    expect([cancelled.outcomes, cancelled.failures]).toEqual([[], []]);
  });
});
