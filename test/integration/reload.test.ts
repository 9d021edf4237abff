/**
 * Secrets reloaded without a restart, under load, against a real redis-server with ACL users:
 * - SIGHUP while redis-benchmark runs over TLS (a new handshake per request with -k 0, and
 *   long-lived connections beside it): the listener certificate and key and the upstream password
 *   rotate, and not one command is lost or answered with an error; new handshakes present the new
 *   certificate, an open connection keeps the one it was set up with;
 * - the same through a file change alone, the Kubernetes way (the `..data` symlink swapped to a
 *   new directory);
 * - the password clients AUTH with, rewritten in place (Docker's way), applies to every AUTH
 *   from then on; clients already authenticated go on;
 * - a file that does not parse (garbage, a key of another certificate, an empty password file)
 *   keeps the material in force, serving goes on under load, the error names the file (never its
 *   contents) and is counted;
 * - the upstream client certificate of a consumer-side ambassador: new upstream connections use
 *   the reloaded one (refused when it is expired), open ones go on; its expiry gauge follows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { makeCertificates, type Certificates, type Issued } from '../support/certificates.js';
import { freePort } from '../support/freePort.js';
import { Cleanup, run } from '../support/processes.js';
import { RawClient } from '../support/rawClient.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { plain } from '../support/resp.js';
import { TlsClient } from '../support/tlsClient.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
const dir = mkdtempSync(path.join(tmpdir(), 'amb-reload-'));
cleanup.add(dir, (d) => rmSync(d, { recursive: true, force: true }));
const f = (...p: string[]) => path.join(dir, ...p);

const CLIENT_PASS = 'client-pass-1';
let certs: Certificates;
let redis: RedisServer;
const issued: Record<string, Issued> = {};

const admin = async (...args: string[]) => {
  const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), '--user', 'admin', '--pass', 'admin-pw', '--no-auth-warning', ...args]);
  return (r.stdout + r.stderr).trim();
};

/** Redis's own count of a command since the last CONFIG RESETSTAT. */
async function calls(command: string): Promise<number> {
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await admin('INFO', 'commandstats'));
  return m ? Number(m[1]) : 0;
}

interface Bench {
  child: ChildProcess;
  done: Promise<{ code: number | null; output: string }>;
}

/** redis-benchmark over TLS, SET only (it prints any error reply, and stops at it). */
function bench(port: number, n: number, opts: { clients: number; keepalive: boolean; password?: string }): Bench {
  const args = ['--tls', '--cacert', certs.ca, '-h', '127.0.0.1', '-p', String(port), '-t', 'set', '-n', String(n), '-c', String(opts.clients), '-k', opts.keepalive ? '1' : '0', '-q', '-r', '1000'];
  if (opts.password) args.push('-a', opts.password);
  const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  cleanup.add(child, (c) => c.exitCode === null && c.kill('SIGKILL'));
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.once('exit', (code) => resolve({ code, output })));
  return { child, done };
}

const metric = (a: AmbassadorProcess, name: string, labels: Record<string, string> = {}) => a.metric(name, labels);
const reloads = (a: AmbassadorProcess, material: string) => metric(a, 'redis_ambassador_reloads_total', { material });
const refusals = (a: AmbassadorProcess, material: string) => metric(a, 'redis_ambassador_reload_failures_total', { material });

async function waitMetric(a: AmbassadorProcess, read: () => Promise<number>, atLeast: number, what: string): Promise<void> {
  await waitUntil(async () => (await read()) >= atLeast, { timeoutMs: 15_000, what: () => `${what}; log: ${JSON.stringify(a.logs().filter((l) => l.level !== 'debug').slice(-5))}` });
}

/** A certificate and key put where a running ambassador reads them, in place (truncate and write: Docker's way). */
function writeInPlace(to: { cert: string; key: string }, from: Issued): void {
  writeFileSync(to.cert, readFileSync(from.cert));
  writeFileSync(to.key, readFileSync(from.key));
}

const newHandshakeSerial = async (port: number): Promise<string> => {
  const c = await TlsClient.connect(port, { ca: certs.ca });
  try {
    return c.serverSerial;
  } finally {
    c.close();
  }
};

beforeAll(async () => {
  certs = await makeCertificates(f('certs'));
  const names = ['server-2', 'server-3', 'server-4'];
  const made = await Promise.all(names.map((n) => certs.issue(n, { cn: n, purpose: 'server', sans: ['IP:127.0.0.1'] })));
  names.forEach((n, i) => (issued[n] = made[i]!));
  issued['client-2'] = await certs.issue('client-2', { cn: 'ambassador-client' });
  writeFileSync(f('users.acl'), 'user default off\nuser admin on >admin-pw ~* &* +@all\nuser app on >app-pw-1 ~* &* +@all\n');
  redis = cleanup.add(await startRedis(['--aclfile', f('users.acl')]), (r) => r.stop('SIGKILL'));
}, 60_000);
afterAll(() => cleanup.run());

describe('files rewritten in place, and SIGHUP', () => {
  let amb: AmbassadorProcess;
  let tlsPort: number;
  let plainPort: number;
  const live = { cert: f('live', 'tls.crt'), key: f('live', 'tls.key') };
  const upstreamPassword = f('live', 'upstream-password');
  const requirepass = f('live', 'requirepass');

  beforeAll(async () => {
    mkdirSync(f('live'));
    writeInPlace(live, certs.server);
    writeFileSync(upstreamPassword, 'app-pw-1\n');
    writeFileSync(requirepass, `${CLIENT_PASS}\n`);
    [tlsPort, plainPort] = [await freePort(), await freePort()];
    amb = cleanup.add(
      await startAmbassador({
        env: {
          [`REDIS_PORT_${tlsPort}_TCP`]: redis.url,
          [`REDIS_PORT_${plainPort}_TCP`]: redis.url,
          AMBASSADOR_TLS_LISTEN_CERT_FILE: live.cert,
          AMBASSADOR_TLS_LISTEN_KEY_FILE: live.key,
          AMBASSADOR_TLS_LISTEN_PORTS: String(tlsPort),
          AMBASSADOR_UPSTREAM_USERNAME: 'app',
          AMBASSADOR_UPSTREAM_PASSWORD_FILE: upstreamPassword,
          AMBASSADOR_REQUIREPASS_FILE: requirepass,
          AMBASSADOR_LOG_LEVEL: 'info',
        },
        waitPorts: [tlsPort, plainPort],
      }),
      (a) => a.stop('SIGKILL'),
    );
  });

  it('SIGHUP under load: certificate, key and upstream password rotate; redis-benchmark loses no command and sees no error', async () => {
    expect(await admin('CONFIG', 'RESETSTAT')).toBe('OK');
    const before = await metric(amb, 'redis_ambassador_commands_total', { listener: `redis:${tlsPort}`, cmd: 'set' });
    const opened = await TlsClient.connect(tlsPort, { ca: certs.ca });
    cleanup.add(opened, (c) => c.close());
    expect(plain(await opened.request('AUTH', CLIENT_PASS))).toBe('OK');
    const [N1, N2] = [2000, 15000];
    const handshakes = bench(tlsPort, N1, { clients: 4, keepalive: false, password: CLIENT_PASS });
    const steady = bench(tlsPort, N2, { clients: 10, keepalive: true, password: CLIENT_PASS });
    await waitUntil(async () => (await calls('set')) > 200, { what: 'the benchmarks under way' });

    // Rotation as Redis allows it: the new password beside the old, switch, then drop the old.
    expect(await admin('ACL', 'SETUSER', 'app', '>app-pw-2')).toBe('OK');
    writeInPlace(live, issued['server-2']!);
    writeFileSync(upstreamPassword, 'app-pw-2\n');
    const [tlsBefore, pwBefore] = [await reloads(amb, 'listener_tls'), await reloads(amb, 'upstream_password')];
    expect(handshakes.child.exitCode, 'the benchmark ended before the reload: make it longer').toBeNull();
    amb.process.kill('SIGHUP');
    await waitMetric(amb, () => reloads(amb, 'listener_tls'), tlsBefore + 1, 'listener TLS reloaded');
    await waitMetric(amb, () => reloads(amb, 'upstream_password'), pwBefore + 1, 'upstream password reloaded');
    expect(await admin('ACL', 'SETUSER', 'app', '<app-pw-1')).toBe('OK');
    expect(await newHandshakeSerial(tlsPort)).toBe(issued['server-2']!.serial);
    expect(handshakes.child.exitCode, 'the benchmark ended before the old password was dropped: make it longer').toBeNull();

    const [a, b] = await Promise.all([handshakes.done, steady.done]);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    expect(a.output + b.output).not.toMatch(/error|ERR/i);
    expect(await calls('set')).toBe(N1 + N2);
    expect(await metric(amb, 'redis_ambassador_commands_total', { listener: `redis:${tlsPort}`, cmd: 'set' })).toBe(before + N1 + N2);
    expect(await refusals(amb, 'listener_tls')).toBe(0);

    // The connection opened before keeps its handshake, and works; new sessions AUTH upstream with app-pw-2.
    expect(opened.serverSerial).toBe(certs.server.serial);
    expect(plain(await opened.request('PING'))).toBe('PONG');
    const r = await run('redis-cli', ['-p', String(plainPort), '-a', CLIENT_PASS, '--no-auth-warning', 'ACL', 'WHOAMI']);
    expect(r.stdout.trim()).toBe('app');
    expect(amb.logs().some((l) => l.event === 'secrets reloaded' && l.material === 'listener_tls' && l.trigger === 'SIGHUP')).toBe(true);
  }, 90_000);

  it("the clients' password rewritten in place applies to every AUTH from then on, without SIGHUP; authenticated clients go on", async () => {
    const authed = cleanup.add(await RawClient.connect(plainPort), (c) => c.close());
    expect(plain(await authed.call(['AUTH', CLIENT_PASS]))).toBe('OK');
    const waiting = cleanup.add(await RawClient.connect(plainPort), (c) => c.close());
    const before = await reloads(amb, 'requirepass');
    writeFileSync(requirepass, 'client-pass-2\n');
    await waitMetric(amb, () => reloads(amb, 'requirepass'), before + 1, 'requirepass reloaded on the file change');
    expect(amb.logs().some((l) => l.event === 'secrets reloaded' && l.material === 'requirepass' && l.trigger === 'file change')).toBe(true);
    expect(plain(await authed.call(['PING']))).toBe('PONG');
    expect(await waiting.call(['AUTH', CLIENT_PASS])).toMatchObject({ type: 'error', value: expect.stringMatching(/^WRONGPASS/) });
    expect(plain(await waiting.call(['AUTH', 'client-pass-2']))).toBe('OK');
    const fresh = cleanup.add(await RawClient.connect(plainPort), (c) => c.close());
    expect(String((await fresh.call(['AUTH', CLIENT_PASS])).value)).toMatch(/^WRONGPASS/);
    expect(plain(await fresh.call(['AUTH', 'client-pass-2']))).toBe('OK');
    for (const c of [authed, waiting, fresh]) c.close();
  });

  it('files that do not parse keep the material in force, under load; the errors name the files and are counted', async () => {
    expect(await admin('CONFIG', 'RESETSTAT')).toBe('OK');
    const N = 2000;
    const load = bench(tlsPort, N, { clients: 4, keepalive: false, password: 'client-pass-2' });
    await waitUntil(async () => (await calls('set')) > 100, { what: 'the benchmark under way' });
    const [tls0, pw0] = [await refusals(amb, 'listener_tls'), await refusals(amb, 'upstream_password')];
    const refusedWith = async (error: RegExp, trigger: string, what: string): Promise<void> => {
      await waitUntil(() => amb.logs().some((l) => l.event === 'secret reload failed; the material in force is kept' && l.trigger === trigger && error.test(String(l.error))), {
        timeoutMs: 15_000,
        what: () => `${what}; errors: ${amb.logs().filter((l) => l.level === 'error').map((l) => String(l.error)).join(' | ')}`,
      });
    };

    writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n');
    await refusedWith(/^AMBASSADOR_TLS_LISTEN_CERT_FILE: certificate 1 in ".*tls\.crt" cannot be parsed/, 'file change', 'the garbage certificate refused');
    expect(await newHandshakeSerial(tlsPort)).toBe(issued['server-2']!.serial);
    amb.process.kill('SIGHUP');
    await refusedWith(/^AMBASSADOR_TLS_LISTEN_CERT_FILE: certificate 1 in ".*tls\.crt" cannot be parsed/, 'SIGHUP', 'refused again on SIGHUP');

    writeFileSync(live.cert, readFileSync(issued['server-3']!.cert)); // its key is still server-2's
    await refusedWith(/^AMBASSADOR_TLS_LISTEN_KEY_FILE: ".*tls\.key" is not the key of the certificate in AMBASSADOR_TLS_LISTEN_CERT_FILE/, 'file change', 'a certificate without its key refused');
    writeFileSync(upstreamPassword, '');
    await refusedWith(/^AMBASSADOR_UPSTREAM_PASSWORD_FILE: ".*upstream-password" is empty/, 'file change', 'the empty password file refused');
    expect(load.child.exitCode, 'the benchmark ended before the broken reloads: make it longer').toBeNull();
    expect(await refusals(amb, 'listener_tls')).toBeGreaterThanOrEqual(tls0 + 3);
    expect(await refusals(amb, 'upstream_password')).toBeGreaterThanOrEqual(pw0 + 1);
    const logText = JSON.stringify(amb.logs());
    for (const secret of ['not really', 'PRIVATE KEY', 'app-pw-2', 'client-pass-2', 'app-pw-1']) expect(logText).not.toContain(secret);

    const { code, output } = await load.done;
    expect(code, output).toBe(0);
    expect(output).not.toMatch(/error|ERR/i);
    expect(await calls('set')).toBe(N);
    // Still the material in force before: server-2 on new handshakes, app-pw-2 upstream.
    expect(await newHandshakeSerial(tlsPort)).toBe(issued['server-2']!.serial);
    const r = await run('redis-cli', ['-p', String(plainPort), '-a', 'client-pass-2', '--no-auth-warning', 'ACL', 'WHOAMI']);
    expect(r.stdout.trim()).toBe('app');

    // Fixed files are taken again.
    const ok = await reloads(amb, 'listener_tls');
    writeInPlace(live, issued['server-3']!);
    writeFileSync(upstreamPassword, 'app-pw-2\n');
    await waitMetric(amb, () => reloads(amb, 'listener_tls'), ok + 1, 'the good pair taken');
    expect(await newHandshakeSerial(tlsPort)).toBe(issued['server-3']!.serial);
  }, 90_000);
});

describe('a file change alone, the Kubernetes way (..data swapped)', () => {
  it('under load: the new certificate is taken, redis-benchmark loses nothing', async () => {
    // As the kubelet lays out a secret volume: files are links through ..data to a timestamped directory.
    const vol = f('k8s');
    mkdirSync(path.join(vol, '..2026_01'), { recursive: true });
    copyFileSync(certs.server.cert, path.join(vol, '..2026_01', 'tls.crt'));
    copyFileSync(certs.server.key, path.join(vol, '..2026_01', 'tls.key'));
    symlinkSync('..2026_01', path.join(vol, '..data'));
    symlinkSync('..data/tls.crt', path.join(vol, 'tls.crt'));
    symlinkSync('..data/tls.key', path.join(vol, 'tls.key'));
    const open = await redisPlain();
    const port = await freePort();
    const amb = cleanup.add(
      await startAmbassador({
        env: { [`REDIS_PORT_${port}_TCP`]: open.url, AMBASSADOR_TLS_LISTEN_CERT_FILE: path.join(vol, 'tls.crt'), AMBASSADOR_TLS_LISTEN_KEY_FILE: path.join(vol, 'tls.key'), AMBASSADOR_LOG_LEVEL: 'info' },
        waitPorts: [port],
      }),
      (a) => a.stop('SIGKILL'),
    );
    expect(await newHandshakeSerial(port)).toBe(certs.server.serial);
    const N = 2500;
    const load = bench(port, N, { clients: 4, keepalive: false });
    await waitUntil(async () => (await metric(amb, 'redis_ambassador_commands_total', { cmd: 'set' })) > 100, { what: 'the benchmark under way' });

    const before = await reloads(amb, 'listener_tls');
    mkdirSync(path.join(vol, '..2026_02'));
    copyFileSync(issued['server-4']!.cert, path.join(vol, '..2026_02', 'tls.crt'));
    copyFileSync(issued['server-4']!.key, path.join(vol, '..2026_02', 'tls.key'));
    symlinkSync('..2026_02', path.join(vol, '..data_tmp'));
    renameSync(path.join(vol, '..data_tmp'), path.join(vol, '..data'));
    rmSync(path.join(vol, '..2026_01'), { recursive: true });
    expect(load.child.exitCode, 'the benchmark ended before the swap: make it longer').toBeNull();
    await waitMetric(amb, () => reloads(amb, 'listener_tls'), before + 1, 'the swap noticed');
    expect(amb.logs().some((l) => l.event === 'secrets reloaded' && l.trigger === 'file change')).toBe(true);
    expect(await newHandshakeSerial(port)).toBe(issued['server-4']!.serial);

    const { code, output } = await load.done;
    expect(code, output).toBe(0);
    expect(output).not.toMatch(/error|ERR/i);
    expect(await metric(amb, 'redis_ambassador_commands_total', { cmd: 'set' })).toBe(N);
    expect(await refusals(amb, 'listener_tls')).toBe(0);
  }, 90_000);
});

describe("the upstream side: a consumer-side ambassador's client certificate", () => {
  it('new upstream connections use the reloaded certificate (an expired one is refused by the server side), open ones go on; the expiry gauge follows', async () => {
    const target = await redisPlain();
    const sPort = await freePort();
    const server = cleanup.add(
      await startAmbassador({
        env: { [`REDIS_PORT_${sPort}_TCP`]: target.url, AMBASSADOR_TLS_LISTEN_CERT_FILE: certs.server.cert, AMBASSADOR_TLS_LISTEN_KEY_FILE: certs.server.key, AMBASSADOR_TLS_LISTEN_CA_FILE: certs.ca },
        waitPorts: [sPort],
      }),
      (a) => a.stop('SIGKILL'),
    );
    mkdirSync(f('client'));
    const live = { cert: f('client', 'tls.crt'), key: f('client', 'tls.key') };
    writeInPlace(live, certs.client);
    const cPort = await freePort();
    const consumer = cleanup.add(
      await startAmbassador({
        env: {
          [`REDIS_PORT_${cPort}_TCP`]: `tls://127.0.0.1:${sPort}`,
          AMBASSADOR_TLS_CA_FILE: certs.ca,
          AMBASSADOR_TLS_CERT_FILE: live.cert,
          AMBASSADOR_TLS_KEY_FILE: live.key,
          AMBASSADOR_WATCH_SECRETS: 'off',
        },
        waitPorts: [cPort],
      }),
      (a) => a.stop('SIGKILL'),
    );
    expect(consumer.logs().some((l) => l.event === 'watching secret files')).toBe(false);
    const open = cleanup.add(await RawClient.connect(cPort), (c) => c.close());
    expect(plain(await open.call(['SET', 'up:k', 'v']))).toBe('OK');

    const refused = await server.metric('redis_ambassador_tls_handshake_failures_total', { reason: 'expired' });
    writeInPlace(live, certs.clientExpired);
    const before = await reloads(consumer, 'upstream_tls');
    consumer.process.kill('SIGHUP');
    await waitMetric(consumer, () => reloads(consumer, 'upstream_tls'), before + 1, 'upstream TLS reloaded');
    expect(await consumerExpiry(consumer, `redis:${cPort}`)).toBeLessThan(0);
    expect(plain(await open.call(['GET', 'up:k']))).toBe('v'); // its upstream connection was made before
    const fresh = cleanup.add(await RawClient.connect(cPort), (c) => c.close());
    const reply = await fresh.call(['GET', 'up:k']);
    expect(reply).toMatchObject({ type: 'error', value: expect.stringMatching(/has expired/) });
    expect(await server.metric('redis_ambassador_tls_handshake_failures_total', { reason: 'expired' })).toBeGreaterThan(refused);

    writeInPlace(live, issued['client-2']!);
    consumer.process.kill('SIGHUP');
    await waitMetric(consumer, () => reloads(consumer, 'upstream_tls'), before + 2, 'upstream TLS reloaded again');
    const notAfter = Date.parse(new X509Certificate(readFileSync(issued['client-2']!.cert)).validTo);
    expect(await consumerExpiry(consumer, `redis:${cPort}`)).toBeGreaterThan((notAfter - Date.now()) / 1000 - 60);
    const again = cleanup.add(await RawClient.connect(cPort), (c) => c.close());
    expect(plain(await again.call(['GET', 'up:k']))).toBe('v');
    for (const c of [open, fresh, again]) c.close();
  });
});

async function redisPlain(): Promise<RedisServer> {
  return cleanup.add(await startRedis(), (r) => r.stop('SIGKILL'));
}

async function consumerExpiry(a: AmbassadorProcess, listener: string): Promise<number> {
  const line = (await a.metrics()).split('\n').find((l) => l.startsWith(`redis_ambassador_tls_certificate_expiry_seconds{listener="${listener}",role="client"} `));
  return Number(line?.split(' ').pop());
}
