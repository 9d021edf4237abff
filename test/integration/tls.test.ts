/**
 * Upstream TLS against real redis-server processes listening only on --tls-port, with a CA, server
 * certificates and a client certificate the test makes with openssl:
 * - rediss:// and tls:// with AMBASSADOR_TLS_CA_FILE work (the data lands on the TLS server);
 * - without the CA, verification fails: the client gets -ERR naming the upstream and the
 *   certificate error, /readyz is 503 with that error; AMBASSADOR_TLS_VERIFY=off works;
 * - a server demanding client certificates (--tls-auth-clients yes) works with
 *   AMBASSADOR_TLS_CERT_FILE/_KEY_FILE and not without;
 * - SNI / name check: a certificate for DNS:localhost only fails for rediss://127.0.0.1 and passes
 *   with AMBASSADOR_TLS_SERVERNAME=localhost;
 * - /readyz and upstream_up follow the TLS health checks, per listener.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyz, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorForEach } from '../support/ambassadorPresets.js';
import { freePort } from '../support/freePort.js';
import { Cleanup, run } from '../support/processes.js';
import { openClient } from '../support/rawClient.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { cmd, plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
const dir = cleanup.tempDir('amb-tls-');
const f = (name: string) => path.join(dir, name);

async function openssl(...args: string[]): Promise<void> {
  const r = await run('openssl', args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A key and a certificate signed by the test CA with the given extensions. */
async function issue(name: string, subject: string, extensions: string, serial: number): Promise<void> {
  writeFileSync(f(`${name}.ext`), extensions);
  await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
  await openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', String(serial), '-days', '2', '-out', f(`${name}.crt`), '-extfile', f(`${name}.ext`));
}

/** redis-server with no plain port at all: only TLS on its port. */
async function startTlsRedis(cert: string, authClients: boolean): Promise<RedisServer> {
  const port = await freePort();
  return cleanup.track(
    await startRedis(
      [
        '--port', '0', '--tls-port', String(port),
        '--tls-cert-file', f(`${cert}.crt`), '--tls-key-file', f(`${cert}.key`), '--tls-ca-cert-file', f('ca.crt'),
        '--tls-auth-clients', authClients ? 'yes' : 'no',
      ],
      port,
    ),
  );
}

/** redis-cli over TLS straight to a TLS redis-server (the ambassador's work checked at the source). */
async function tlsCli(r: RedisServer, ...args: string[]): Promise<string> {
  const res = await run('redis-cli', ['--tls', '--cacert', f('ca.crt'), '--cert', f('client.crt'), '--key', f('client.key'), '-h', '127.0.0.1', '-p', String(r.port), ...args]);
  return (res.stdout + res.stderr).trim();
}

let r1: RedisServer; // cert for IP:127.0.0.1 and DNS:localhost
let r2: RedisServer; // same cert, demands client certificates
let r3: RedisServer; // cert for DNS:localhost only

interface Amb {
  amb: AmbassadorProcess;
  /** Listening port per label. */
  ports: Record<string, number>;
}

function ambassador(upstreams: Record<string, string>, env: Record<string, string>): Promise<Amb> {
  return ambassadorForEach(cleanup, upstreams, {
    env: { AMBASSADOR_CONNECT_WINDOW_MS: '600', AMBASSADOR_HEALTH_INTERVAL_MS: '200', AMBASSADOR_LOG_LEVEL: 'info', ...env },
  });
}

let caOnly: Amb;
let noCa: Amb;
let noVerify: Amb;
let withClientCert: Amb;
let withServername: Amb;

beforeAll(async () => {
  expect((await run('openssl', ['version'])).stdout).toMatch(/OpenSSL/);
  await openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'),
    '-days', '2', '-subj', '/CN=ambassador-test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  );
  await Promise.all([
    issue('server', '/CN=redis-test-server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n', 1001),
    issue('localhost', '/CN=localhost-only', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n', 1002),
    issue('client', '/CN=ambassador-client', 'extendedKeyUsage=clientAuth\n', 1003),
  ]);
  [r1, r2, r3] = await Promise.all([startTlsRedis('server', false), startTlsRedis('server', true), startTlsRedis('localhost', false)]);
  const rediss = (r: RedisServer) => `rediss://127.0.0.1:${r.port}`;
  [caOnly, noCa, noVerify, withClientCert, withServername] = await Promise.all([
    ambassador(
      { r1: rediss(r1), r1tls: `tls://127.0.0.1:${r1.port}`, r2: rediss(r2), r3: rediss(r3) },
      { AMBASSADOR_TLS_CA_FILE: f('ca.crt') },
    ),
    ambassador({ r1: rediss(r1) }, {}),
    ambassador({ r1: rediss(r1), r3: rediss(r3) }, { AMBASSADOR_TLS_VERIFY: 'off' }),
    ambassador({ r2: rediss(r2) }, { AMBASSADOR_TLS_CA_FILE: f('ca.crt'), AMBASSADOR_TLS_CERT_FILE: f('client.crt'), AMBASSADOR_TLS_KEY_FILE: f('client.key') }),
    ambassador({ r3: rediss(r3), r1: rediss(r1) }, { AMBASSADOR_TLS_CA_FILE: f('ca.crt'), AMBASSADOR_TLS_SERVERNAME: 'localhost' }),
  ]);
}, 60_000);
afterAll(() => cleanup.run());

/** SET then GET a unique value through the ambassador; returns the replies' plain values. */
async function roundTrip(port: number, key: string): Promise<{ replies: unknown[]; value: string; text: string }> {
  const value = `v-${Math.random().toString(36).slice(2)}`;
  const c = await openClient(cleanup, port);
  await c.write(Buffer.concat([cmd('SET', key, value), cmd('GET', key)]));
  await waitUntil(() => c.replies().length >= 2 || c.closed, { timeoutMs: 15_000, what: () => `2 replies or close; got ${c.text()}` });
  c.close();
  return { replies: c.replies().map(plain), value, text: c.text() };
}

const listenerOf = (a: Amb, label: string) => `redis:${a.ports[label]}`;

describe('verification on (the default) with AMBASSADOR_TLS_CA_FILE', () => {
  it('rediss://127.0.0.1:<tls-port> works, and the data is on the TLS server', async () => {
    const { replies, value } = await roundTrip(caOnly.ports.r1!, 'tls:a');
    expect(replies).toEqual(['OK', value]);
    expect(await tlsCli(r1, 'GET', 'tls:a')).toBe(value);
  });

  it('tls://127.0.0.1:<tls-port> is the same', async () => {
    const { replies, value } = await roundTrip(caOnly.ports.r1tls!, 'tls:b');
    expect(replies).toEqual(['OK', value]);
    expect(await tlsCli(r1, 'GET', 'tls:b')).toBe(value);
  });

  it('a certificate for DNS:localhost only does not match rediss://127.0.0.1: -ERR naming the upstream and the name mismatch', async () => {
    const { replies, text } = await roundTrip(caOnly.ports.r3!, 'tls:c');
    console.log(`name mismatch, the client got: ${JSON.stringify(text)}`);
    expect(text).toMatch(/^-ERR /);
    expect(text).toContain(`rediss://127.0.0.1:${r3.port}`);
    expect(text).toMatch(/ALTNAME|altnames|does not match/i);
    expect(replies).not.toContain('OK');
  });

  it('a server demanding a client certificate refuses an ambassador without one: an error, never a result', async () => {
    const { replies, text } = await roundTrip(caOnly.ports.r2!, 'tls:d');
    console.log(`client certificate missing, the client got: ${JSON.stringify(text)}`);
    expect(text).toMatch(/^-ERR /);
    expect(replies).not.toContain('OK');
    expect(await tlsCli(r2, 'EXISTS', 'tls:d')).toBe('0');
  });

  it('/readyz: the good listeners ready, the two failing ones not, each with its TLS error; upstream_up per listener', async () => {
    await waitUntil(
      async () => {
        const { body } = await readyz(caOnly.amb);
        return body.listeners[listenerOf(caOnly, 'r1')]!.ready && !body.listeners[listenerOf(caOnly, 'r3')]!.ready && !body.listeners[listenerOf(caOnly, 'r2')]!.ready;
      },
      { timeoutMs: 15_000, what: 'readiness per listener' },
    );
    const { status, body } = await readyz(caOnly.amb);
    expect(status).toBe(503);
    expect(body.listeners[listenerOf(caOnly, 'r1tls')]!.ready).toBe(true);
    expect(body.listeners[listenerOf(caOnly, 'r3')]!.upstreams[0]!.error).toMatch(/ALTNAME|altnames/i);
    expect(body.listeners[listenerOf(caOnly, 'r2')]!.upstreams[0]!.error).toMatch(/certificate|alert|closed|reset|CERT/i);
    expect(await caOnly.amb.metric('redis_ambassador_upstream_up', { listener: listenerOf(caOnly, 'r1') })).toBe(1);
    expect(await caOnly.amb.metric('redis_ambassador_upstream_up', { listener: listenerOf(caOnly, 'r3') })).toBe(0);
  });
});

describe('without the CA file', () => {
  it('verification fails: -ERR naming the upstream and the certificate error', async () => {
    const { replies, text } = await roundTrip(noCa.ports.r1!, 'tls:e');
    console.log(`no CA file, the client got: ${JSON.stringify(text)}`);
    expect(text).toMatch(/^-ERR /);
    expect(text).toContain(`rediss://127.0.0.1:${r1.port}`);
    expect(text).toMatch(/certificate|CERT/);
    expect(replies).not.toContain('OK');
    expect(await tlsCli(r1, 'EXISTS', 'tls:e')).toBe('0');
  });

  it('/readyz is 503 with the certificate error', async () => {
    await waitUntil(async () => (await readyz(noCa.amb)).status === 503, { timeoutMs: 15_000, what: '/readyz 503' });
    const { body } = await readyz(noCa.amb);
    expect(body.listeners[listenerOf(noCa, 'r1')]!.upstreams[0]!.error).toMatch(/CERT|certificate/);
  });

  it('AMBASSADOR_TLS_VERIFY=off connects anyway (also to the localhost-only certificate); /readyz 200', async () => {
    for (const label of ['r1', 'r3'] as const) {
      const { replies, value } = await roundTrip(noVerify.ports[label]!, `tls:f-${label}`);
      expect(replies).toEqual(['OK', value]);
    }
    await waitUntil(async () => (await readyz(noVerify.amb)).status === 200, { timeoutMs: 15_000, what: '/readyz 200' });
  });
});

describe('client certificate and SNI', () => {
  it('--tls-auth-clients yes: works with AMBASSADOR_TLS_CERT_FILE / _KEY_FILE; /readyz 200', async () => {
    const { replies, value } = await roundTrip(withClientCert.ports.r2!, 'tls:g');
    expect(replies).toEqual(['OK', value]);
    expect(await tlsCli(r2, 'GET', 'tls:g')).toBe(value);
    await waitUntil(async () => (await readyz(withClientCert.amb)).status === 200, { timeoutMs: 15_000, what: '/readyz 200' });
  });

  it('AMBASSADOR_TLS_SERVERNAME=localhost: rediss://127.0.0.1 passes verification against the DNS:localhost-only certificate; /readyz 200', async () => {
    for (const label of ['r3', 'r1'] as const) {
      const { replies, value } = await roundTrip(withServername.ports[label]!, `tls:h-${label}`);
      expect(replies).toEqual(['OK', value]);
    }
    expect(await tlsCli(r3, 'GET', 'tls:h-r3')).toMatch(/^v-/);
    await waitUntil(async () => (await readyz(withServername.amb)).status === 200, { timeoutMs: 15_000, what: '/readyz 200' });
  });

  it('the ambassadors stayed up throughout', () => {
    for (const a of [caOnly, noCa, noVerify, withClientCert, withServername]) expect(a.amb.process.exitCode).toBeNull();
  });
});
