/**
 * TLS on the listeners (AMBASSADOR_TLS_LISTEN_*), against a real redis-server behind, with
 * certificates made by openssl for this run:
 * - redis-cli --tls --cacert and ioredis { tls } connect straight to a TLS listener, and a plain
 *   listener of the same ambassador stays plain (AMBASSADOR_TLS_LISTEN_PORTS);
 * - a client speaking plain RESP to the TLS port is told so and closed, never left hanging; so is
 *   one that says nothing, or stops in the middle of its handshake (the handshake timeout);
 *   TLS 1.1 is refused; each refusal is logged with the listener and the peer, and counted;
 * - the expiry gauge shows the listener certificate's own date, +Inf where there is none;
 * - with AMBASSADOR_WORKERS=2 it all holds, and the primary adds the gauges up right;
 * - bad TLS settings stop the start with exit code 2 and a message naming the variable.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALUE_FLAGS } from '../../src/config/cliArgs.js';
import { runCli, startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { makeCertificates, type Certificates } from '../support/certificates.js';
import { freePort } from '../support/freePort.js';
import { samples } from '../support/metricsText.js';
import { Cleanup, run } from '../support/processes.js';
import { RawClient } from '../support/rawClient.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { TlsClient } from '../support/tlsClient.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
const dir = mkdtempSync(path.join(tmpdir(), 'amb-tls-listen-'));
cleanup.add(dir, (d) => rmSync(d, { recursive: true, force: true }));

let certs: Certificates;
let redis: RedisServer;
let amb: AmbassadorProcess;
let tlsPort: number;
let plainPort: number;

const tlsEnv = (c: Certificates): Record<string, string> => ({
  AMBASSADOR_TLS_LISTEN_CERT_FILE: c.server.cert,
  AMBASSADOR_TLS_LISTEN_KEY_FILE: c.server.key,
});

beforeAll(async () => {
  certs = await makeCertificates(path.join(dir, 'certs'));
  redis = cleanup.add(await startRedis(), (r) => r.stop('SIGKILL'));
  [tlsPort, plainPort] = [await freePort(), await freePort()];
  amb = cleanup.add(
    await startAmbassador({
      env: {
        [`REDIS_PORT_${tlsPort}_TCP`]: redis.url,
        [`REDIS_PORT_${plainPort}_TCP`]: redis.url,
        ...tlsEnv(certs),
        AMBASSADOR_TLS_LISTEN_PORTS: String(tlsPort),
        AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS: '500',
      },
      waitPorts: [tlsPort, plainPort],
    }),
    (a) => a.stop('SIGKILL'),
  );
}, 60_000);
afterAll(() => cleanup.run());

const cli = (port: number, ...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeoutMs: 15_000 });
const tlsCli = (port: number, ...args: string[]) => cli(port, '--tls', '--cacert', certs.ca, ...args);
const failures = (reason: string, listener = `redis:${tlsPort}`) => amb.metric('redis_ambassador_tls_handshake_failures_total', { listener, reason });

describe('clients that speak TLS', () => {
  it('redis-cli --tls --cacert: SET and GET through the TLS listener land on the redis behind it', async () => {
    expect((await tlsCli(tlsPort, 'SET', 'tl:a', 'over-tls')).stdout.trim()).toBe('OK');
    expect((await tlsCli(tlsPort, 'GET', 'tl:a')).stdout.trim()).toBe('over-tls');
    expect((await cli(redis.port, 'GET', 'tl:a')).stdout.trim()).toBe('over-tls');
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `redis:${tlsPort}`, cmd: 'set' })).toBeGreaterThanOrEqual(1);
  });

  it('ioredis with tls: { ca } works, pipelines and all', async () => {
    const c = cleanup.add(
      new Redis({ host: '127.0.0.1', port: tlsPort, tls: { ca: readFileSync(certs.ca) }, maxRetriesPerRequest: 0, retryStrategy: () => null }),
      (x) => x.disconnect(),
    );
    const results = await c.pipeline().set('tl:io', '1').incr('tl:io').get('tl:io').exec();
    expect(results!.map(([err, v]) => err ?? v)).toEqual(['OK', 2, '2']);
    expect(await c.call('CLIENT', 'SETNAME', 'io-tls')).toBe('OK');
    c.disconnect();
  });

  it('the listener not named in AMBASSADOR_TLS_LISTEN_PORTS stays plain TCP, beside the TLS one', async () => {
    expect((await cli(plainPort, 'PING')).stdout.trim()).toBe('PONG');
    const listening = amb.logs().filter((l) => l.event === 'listening');
    expect(listening.find((l) => l.port === plainPort)).toMatchObject({ tls: false });
    expect(listening.find((l) => l.port === tlsPort)).toMatchObject({ tls: true });
  });

  it('the handshake presents the configured certificate, TLS 1.2 or newer', async () => {
    const c = cleanup.add(await TlsClient.connect(tlsPort, { ca: certs.ca }), (x) => x.close());
    expect(c.serverSerial).toBe(certs.server.serial);
    expect(['TLSv1.2', 'TLSv1.3']).toContain(c.socket.getProtocol());
    expect(plain(await c.request('PING'))).toBe('PONG');
    c.close();
  });
});

describe('clients that do not', () => {
  it('plain RESP on the TLS port: told the port speaks TLS, closed (not left hanging), logged with listener and peer, counted', async () => {
    const before = await failures('plaintext');
    const c = cleanup.add(await RawClient.connect(tlsPort), (x) => x.close());
    const local = `${c.socket.localAddress}:${c.socket.localPort}`;
    await c.write(cmd('PING'));
    await c.waitClosed();
    expect(c.text()).toMatch(/^-ERR this port speaks TLS: connect with TLS/);
    expect(c.text()).not.toMatch(/PONG/);
    expect(await failures('plaintext')).toBe(before + 1);
    const line = amb.logs().find((l) => l.event === 'tls client refused' && l.reason === 'plaintext' && String(l.client).endsWith(local.replace(/^::ffff:/, '')));
    expect(line, JSON.stringify(amb.logs().filter((l) => l.event === 'tls client refused'))).toMatchObject({ level: 'warn', listener: `redis:${tlsPort}` });
  });

  it('redis-cli without --tls gets that error, and returns', async () => {
    const r = await cli(tlsPort, 'PING');
    expect(r.stdout + r.stderr).toMatch(/this port speaks TLS/);
    expect(r.code).not.toBeNull(); // it ended by itself, within run()'s own limit
  });

  it('a client that sends nothing is closed at the handshake timeout and counted', async () => {
    const before = await failures('timeout');
    const c = cleanup.add(await RawClient.connect(tlsPort), (x) => x.close());
    await c.waitClosed();
    expect(c.text()).toBe('');
    expect(await failures('timeout')).toBe(before + 1);
  });

  it('a client that stops in the middle of its ClientHello is closed at the handshake timeout and counted', async () => {
    const before = await failures('timeout');
    const c = cleanup.add(await RawClient.connect(tlsPort), (x) => x.close());
    await c.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a record header promising 512 bytes, and one
    await c.waitClosed();
    expect(await failures('timeout')).toBe(before + 1);
  });

  it('TLS 1.1 is refused at the handshake (minimum 1.2), and counted', async () => {
    const before = await failures('protocol');
    const attempt = TlsClient.connect(tlsPort, { ca: certs.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    await expect(attempt).rejects.toThrow(/version|protocol|alert|handshake/i);
    await waitUntil(async () => (await failures('protocol')) === before + 1, { what: 'protocol failure counted' });
  });

  it('a client that does not trust the certificate fails its handshake; the listener counts it as a protocol failure', async () => {
    const before = await failures('protocol');
    await expect(TlsClient.connect(tlsPort, { ca: certs.otherCa })).rejects.toThrow(/certificate|self.signed|issuer/i);
    await waitUntil(async () => (await failures('protocol')) === before + 1, { what: 'protocol failure counted' });
    // The client hung up mid-handshake: the log line still names it.
    const line = amb.logs().filter((l) => l.event === 'tls client refused' && l.reason === 'protocol').pop();
    expect(String(line?.client)).toMatch(/127\.0\.0\.1:\d+$/);
  });

  it('the refusals never reached the upstream: no session was made for them', async () => {
    const sessions = await amb.metric('redis_ambassador_client_connections_total', { listener: `redis:${tlsPort}` });
    const c = cleanup.add(await RawClient.connect(tlsPort), (x) => x.close());
    await c.write(cmd('SET', 'tl:never', 'x'));
    await c.waitClosed();
    expect(await amb.metric('redis_ambassador_client_connections_total', { listener: `redis:${tlsPort}` })).toBe(sessions);
    expect((await cli(redis.port, 'EXISTS', 'tl:never')).stdout.trim()).toBe('0');
  });
});

describe('metrics', () => {
  it('every reason is published per listener, at 0 where nothing happened (plain listeners too)', async () => {
    const s = samples(await amb.metrics()).filter((x) => x.name === 'redis_ambassador_tls_handshake_failures_total');
    expect(s.length).toBe(2 * 9);
    for (const listener of [`redis:${tlsPort}`, `redis:${plainPort}`]) {
      const reasons = s.filter((x) => x.labels.listener === listener).map((x) => x.labels.reason).sort();
      expect(reasons).toEqual(['bad_certificate', 'expired', 'no_certificate', 'not_yet_valid', 'plaintext', 'protocol', 'timeout', 'unknown_ca', 'unknown_identity']);
    }
    expect(s.find((x) => x.labels.listener === `redis:${plainPort}` && x.labels.reason === 'plaintext')!.value).toBe(0);
  });

  it("the expiry gauge is the listener certificate's own notAfter counted down; +Inf where a listener has no certificate", async () => {
    const notAfter = Date.parse(new X509Certificate(readFileSync(certs.server.cert)).validTo);
    const before = Date.now();
    const text = await amb.metrics();
    const after = Date.now();
    const gauge = (listener: string, role: string) => expiryGauge(text, listener, role);
    const v = gauge(`redis:${tlsPort}`, 'listener');
    expect(v).toBeGreaterThanOrEqual((notAfter - after) / 1000);
    expect(v).toBeLessThanOrEqual((notAfter - before) / 1000);
    for (const role of ['ca', 'client', 'upstream_ca']) expect(gauge(`redis:${tlsPort}`, role)).toBe(Infinity);
    for (const role of ['listener', 'ca', 'client', 'upstream_ca']) expect(gauge(`redis:${plainPort}`, role)).toBe(Infinity);
  });
});

describe('AMBASSADOR_WORKERS=2', () => {
  it('every worker speaks TLS on the listener; the primary shows the real expiry (min over workers) and +Inf for none', async () => {
    const [t, p] = [await freePort(), await freePort()];
    const pool = cleanup.add(
      await startAmbassador({
        env: { [`REDIS_PORT_${t}_TCP`]: redis.url, [`REDIS_PORT_${p}_TCP`]: redis.url, ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_PORTS: String(t), AMBASSADOR_WORKERS: '2' },
        waitPorts: [t, p],
      }),
      (a) => a.stop('SIGKILL'),
    );
    for (let i = 0; i < 6; i++) expect((await tlsCli(t, 'PING')).stdout.trim()).toBe('PONG');
    const notAfter = Date.parse(new X509Certificate(readFileSync(certs.server.cert)).validTo);
    await waitUntil(async () => (await pool.metric('redis_ambassador_commands_total', { listener: `redis:${t}`, cmd: 'ping' })) === 6, { what: 'both workers report' });
    const before = Date.now();
    const text = await pool.metrics();
    const after = Date.now();
    const v = expiryGauge(text, `redis:${t}`, 'listener');
    expect(v).toBeGreaterThanOrEqual((notAfter - after) / 1000);
    expect(v).toBeLessThanOrEqual((notAfter - before) / 1000);
    expect(expiryGauge(text, `redis:${p}`, 'listener')).toBe(Infinity);
  });

  it('SIGHUP to the primary reaches every worker: each re-reads its TLS files (the reload counter is the max over workers)', async () => {
    const [t] = [await freePort()];
    const pool = cleanup.add(
      await startAmbassador({ env: { [`REDIS_PORT_${t}_TCP`]: redis.url, ...tlsEnv(certs), AMBASSADOR_WORKERS: '2', AMBASSADOR_LOG_LEVEL: 'info' }, waitPorts: [t] }),
      (a) => a.stop('SIGKILL'),
    );
    // Both workers must be listening before the signal, or a worker forked late reloads nothing.
    await waitUntil(() => pool.logs().filter((l) => l.event === 'started' && l.worker !== undefined).length === 2, { what: 'both workers started' });
    pool.process.kill('SIGHUP');
    await waitUntil(() => pool.logs().filter((l) => l.event === 'secrets reloaded' && l.worker !== undefined && l.trigger === 'SIGHUP').length === 2, {
      what: () => `a reload line from each worker; got ${JSON.stringify(pool.logs().filter((l) => l.event === 'secrets reloaded'))}`,
    });
    await waitUntil(async () => (await pool.metric('redis_ambassador_reloads_total', { material: 'listener_tls' })) === 1, { what: 'the aggregated reload count' });
    expect((await tlsCli(t, 'PING')).stdout.trim()).toBe('PONG');
  });
});

describe('bad TLS settings: exit code 2, naming the variable', () => {
  const base = () => ({ REDIS_PORT_6390_TCP: 'tcp://127.0.0.1:1', AMBASSADOR_ADMIN_ADDR: 'off' });

  it.each([
    ['a certificate without its key', () => ({ AMBASSADOR_TLS_LISTEN_CERT_FILE: certs.server.cert }), /AMBASSADOR_TLS_LISTEN_CERT_FILE is set without AMBASSADOR_TLS_LISTEN_KEY_FILE/],
    ['a key that is not the certificate\'s', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_KEY_FILE: certs.client.key }), /AMBASSADOR_TLS_LISTEN_KEY_FILE: ".*client\.key" is not the key of the certificate in AMBASSADOR_TLS_LISTEN_CERT_FILE/],
    ['a file that is no certificate', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_CERT_FILE: garbage() }), /AMBASSADOR_TLS_LISTEN_CERT_FILE: ".*garbage" holds no PEM certificate/],
    ['a missing file', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_KEY_FILE: path.join(dir, 'nope.key') }), /AMBASSADOR_TLS_LISTEN_KEY_FILE: cannot read ".*nope\.key": ENOENT/],
    ['client auth without a CA', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_CLIENT_AUTH: 'require' }), /AMBASSADOR_TLS_LISTEN_CLIENT_AUTH=require needs AMBASSADOR_TLS_LISTEN_CA_FILE/],
    ['a client auth mode that does not exist', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_CA_FILE: certs.ca, AMBASSADOR_TLS_LISTEN_CLIENT_AUTH: 'maybe' }), /AMBASSADOR_TLS_LISTEN_CLIENT_AUTH: "maybe" is not require/],
    ['a port that is no listener\'s', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_LISTEN_PORTS: '6391' }), /AMBASSADOR_TLS_LISTEN_PORTS: "6391" is not the port of a listener \(the listeners are on 6390/],
    ['listener TLS settings without a certificate', () => ({ AMBASSADOR_TLS_LISTEN_CA_FILE: certs.ca }), /AMBASSADOR_TLS_LISTEN_CA_FILE is set but the listeners have no certificate/],
    ['a users file without client certificates to map', () => ({ ...tlsEnv(certs), AMBASSADOR_TLS_CLIENT_USERS_FILE: certs.ca }), /AMBASSADOR_TLS_CLIENT_USERS_FILE maps verified client certificates.*AMBASSADOR_TLS_LISTEN_CA_FILE/],
    ['an upstream client certificate without its key', () => ({ AMBASSADOR_TLS_CERT_FILE: certs.client.cert }), /AMBASSADOR_TLS_CERT_FILE is set without AMBASSADOR_TLS_KEY_FILE/],
    ['an upstream CA file that is no certificate', () => ({ AMBASSADOR_TLS_CA_FILE: garbage() }), /AMBASSADOR_TLS_CA_FILE: ".*garbage" holds no PEM certificate/],
  ])('%s', async (_what, env, message) => {
    const r = await runCli([], { ...base(), ...env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/PRIVATE KEY-----|this is not PEM/); // what the files hold is never echoed
  });

  it('the same settings as flags', async () => {
    const r = await runCli(['--listen', '6390', '--upstream', 'tcp://127.0.0.1:1', '--tls-listen-cert-file', certs.server.cert, '--tls-listen-ports', '6390'], { AMBASSADOR_ADMIN_ADDR: 'off' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/AMBASSADOR_TLS_LISTEN_CERT_FILE is set without AMBASSADOR_TLS_LISTEN_KEY_FILE/);
  });

  it('every flag is in --help and in the README table', async () => {
    const help = (await runCli(['--help'])).stdout;
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const [flag, env] of Object.entries(VALUE_FLAGS)) {
      expect(help, flag).toContain(flag);
      expect(help.includes(env) || help.includes(env.replace(/_FILE$/, '[_FILE]')), `${env} in --help`).toBe(true);
      expect(readme, `${flag} in the README`).toMatch(new RegExp(`\\| \`${flag}[ \`]`));
      expect(readme, env).toContain(env);
    }
  });
});

/** One sample of the expiry gauge (samples() reads +Inf as NaN). */
function expiryGauge(text: string, listener: string, role: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`redis_ambassador_tls_certificate_expiry_seconds{listener="${listener}",role="${role}"} `));
  if (line === undefined) throw new Error(`no expiry sample for ${listener} ${role}`);
  const v = line.slice(line.lastIndexOf(' ') + 1);
  return v === '+Inf' ? Infinity : Number(v);
}

function garbage(): string {
  const f = path.join(dir, 'garbage');
  writeFileSync(f, 'this is not PEM\n');
  return f;
}
