/**
 * Mutual TLS between ambassadors, the seed topology on loopback:
 *
 *   redis-cli → consumer-side ambassador (plain) ──tls:// + client certificate──▶ server-side
 *   ambassador (TLS listener, AMBASSADOR_TLS_LISTEN_CA_FILE) → redis-server
 *
 * - the chain carries commands; the server side logs the verified identity;
 * - no certificate, one from another CA, an expired one: refused as the handshake completes,
 *   told why, counted by reason, and nothing reaches the session or Redis — whether the peer is
 *   redis-cli, ioredis or an ambassador without (or with a bad) client certificate;
 * - AMBASSADOR_TLS_LISTEN_CLIENT_AUTH=optional lets a client without a certificate in, never one
 *   with a bad certificate;
 * - AMBASSADOR_TLS_CLIENT_USERS_FILE against a real redis-server with ACL users: each identity's
 *   upstream connections run as its user (CN, or a SAN where there is no CN); an identity the
 *   file does not name is refused; a rotated password is used by new and reconnecting upstream
 *   connections while open ones go on; a changed mapping never applies to an open client: at its
 *   next reconnect it is closed instead.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { makeCertificates, type Certificates, type Issued } from '../support/certificates.js';
import { freePort } from '../support/freePort.js';
import { Cleanup, run } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';
import { plain } from '../support/resp.js';
import { TlsClient } from '../support/tlsClient.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
const dir = mkdtempSync(path.join(tmpdir(), 'amb-mtls-'));
cleanup.add(dir, (d) => rmSync(d, { recursive: true, force: true }));

let certs: Certificates;
let redis: RedisServer;

interface Amb {
  amb: AmbassadorProcess;
  port: number;
  listener: string;
}

async function ambassador(upstream: string, env: Record<string, string>): Promise<Amb> {
  const port = await freePort();
  const amb = cleanup.add(
    await startAmbassador({
      env: { [`REDIS_PORT_${port}_TCP`]: upstream, AMBASSADOR_HEALTH_INTERVAL_MS: '200', AMBASSADOR_CONNECT_WINDOW_MS: '1000', ...env },
      waitPorts: [port],
    }),
    (a) => a.stop('SIGKILL'),
  );
  return { amb, port, listener: `redis:${port}` };
}

const serverSide = (upstream: string, env: Record<string, string> = {}) =>
  ambassador(upstream, {
    AMBASSADOR_TLS_LISTEN_CERT_FILE: certs.server.cert,
    AMBASSADOR_TLS_LISTEN_KEY_FILE: certs.server.key,
    AMBASSADOR_TLS_LISTEN_CA_FILE: certs.ca,
    ...env,
  });

const consumerSide = (server: Amb, client: Issued | null) =>
  ambassador(`tls://127.0.0.1:${server.port}`, {
    AMBASSADOR_TLS_CA_FILE: certs.ca,
    ...(client ? { AMBASSADOR_TLS_CERT_FILE: client.cert, AMBASSADOR_TLS_KEY_FILE: client.key } : {}),
  });

const cli = (port: number, ...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeoutMs: 15_000 });
const out = async (p: Promise<{ stdout: string; stderr: string }>) => {
  const r = await p;
  return (r.stdout + r.stderr).trim();
};
const failures = (a: Amb, reason: string) => a.amb.metric('redis_ambassador_tls_handshake_failures_total', { listener: a.listener, reason });
const sessions = (a: Amb) => a.amb.metric('redis_ambassador_client_connections_total', { listener: a.listener });
/** Until the ambassador has seen the other clients go: a client closed just before a restart may otherwise still reconnect. */
const onlyOpen = (a: Amb, n: number) =>
  waitUntil(async () => (await a.amb.metric('redis_ambassador_client_connections', { listener: a.listener })) === n, { timeoutMs: 10_000, what: `${n} client(s) left on ${a.listener}` });

let server: Amb;
let consumer: Amb;

beforeAll(async () => {
  certs = await makeCertificates(path.join(dir, 'certs'));
  redis = cleanup.add(await startRedis(), (r) => r.stop('SIGKILL'));
  server = await serverSide(redis.url);
  consumer = await consumerSide(server, certs.client);
}, 60_000);
afterAll(() => cleanup.run());

describe('consumer → ambassador ══mTLS══▶ ambassador → redis', () => {
  it('redis-cli through the chain: SET and GET, the value on the real redis, the peer verified', async () => {
    expect(await out(cli(consumer.port, 'SET', 'mt:a', 'through-mtls'))).toBe('OK');
    expect(await out(cli(consumer.port, 'GET', 'mt:a'))).toBe('through-mtls');
    expect(await out(cli(redis.port, 'GET', 'mt:a'))).toBe('through-mtls');
    const verified = server.amb.logs().filter((l) => l.event === 'tls client verified');
    expect(verified.length).toBeGreaterThan(0);
    expect(verified[0]).toMatchObject({ level: 'debug', listener: server.listener, identity: 'CN=ambassador-client' });
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${consumer.amb.adminPort}/readyz`)).status === 200, { what: 'consumer side ready' });
  });

  it('redis-cli --tls with the client certificate, and ioredis with tls { ca, cert, key }, connect to the server side directly', async () => {
    expect(await out(cli(server.port, '--tls', '--cacert', certs.ca, '--cert', certs.client.cert, '--key', certs.client.key, 'GET', 'mt:a'))).toBe('through-mtls');
    const io = cleanup.add(
      new Redis({
        host: '127.0.0.1',
        port: server.port,
        tls: { ca: readFileSync(certs.ca), cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) },
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      }),
      (c) => c.disconnect(),
    );
    expect(await io.get('mt:a')).toBe('through-mtls');
    io.disconnect();
  });
});

describe('refused at the handshake, counted, never reaching Redis', () => {
  const cases: [string, () => Issued | null, string, RegExp][] = [
    ['no certificate', () => null, 'no_certificate', /requires a client certificate/],
    ['a certificate from another CA', () => certs.clientOtherCa, 'unknown_ca', /not signed by a CA this port trusts/],
    ['an expired certificate', () => certs.clientExpired, 'expired', /has expired/],
  ];

  it.each(cases)('%s: told why and closed; no session, no key written', async (_what, client, reason, told) => {
    const [before, made] = [await failures(server, reason), await sessions(server)];
    const id = client();
    const c = cleanup.add(await TlsClient.connect(server.port, { ca: certs.ca, ...(id ? { cert: id.cert, key: id.key } : {}) }), (x) => x.close());
    await c.write('*3\r\n$3\r\nSET\r\n$10\r\nmt:refused\r\n$1\r\nx\r\n').catch(() => {});
    await c.waitClosed();
    expect(c.text()).toMatch(told);
    expect(c.text()).not.toMatch(/\+OK/);
    expect(await failures(server, reason)).toBe(before + 1);
    expect(await sessions(server)).toBe(made);
    expect(await out(cli(redis.port, 'EXISTS', 'mt:refused'))).toBe('0');
    const line = server.amb.logs().filter((l) => l.event === 'tls client refused' && l.reason === reason).pop();
    expect(line).toMatchObject({ level: 'warn', listener: server.listener });
    expect(String(line!.client)).toMatch(/127\.0\.0\.1:\d+$/);
  });

  it('redis-cli --tls without a certificate gets the error, not a result', async () => {
    const text = await out(cli(server.port, '--tls', '--cacert', certs.ca, 'SET', 'mt:refused', 'x'));
    expect(text).toMatch(/requires a client certificate/);
    expect(await out(cli(redis.port, 'EXISTS', 'mt:refused'))).toBe('0');
  });

  it.each([
    ['without a client certificate', () => null, 'no_certificate', /requires a client certificate/],
    ['with an expired client certificate', () => certs.clientExpired, 'expired', /has expired/],
  ] as [string, () => Issued | null, string, RegExp][])('a consumer-side ambassador %s: its consumer gets an error, never a result; it is not ready', async (_what, client, reason, told) => {
    const before = await failures(server, reason);
    const bad = await consumerSide(server, client());
    const text = await out(cli(bad.port, 'SET', 'mt:refused', 'x'));
    expect(text).toMatch(told);
    expect(await out(cli(redis.port, 'EXISTS', 'mt:refused'))).toBe('0');
    expect(await failures(server, reason)).toBeGreaterThan(before);
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${bad.amb.adminPort}/readyz`)).status === 503, { what: '/readyz 503' });
  });
});

describe('AMBASSADOR_TLS_LISTEN_CLIENT_AUTH=optional', () => {
  let optional: Amb;
  beforeAll(async () => {
    optional = await serverSide(redis.url, { AMBASSADOR_TLS_LISTEN_CLIENT_AUTH: 'optional' });
  });

  it('a client without a certificate is let in; one with a good certificate too', async () => {
    expect(await out(cli(optional.port, '--tls', '--cacert', certs.ca, 'PING'))).toBe('PONG');
    expect(await out(cli(optional.port, '--tls', '--cacert', certs.ca, '--cert', certs.client.cert, '--key', certs.client.key, 'PING'))).toBe('PONG');
  });

  it('a certificate that is presented must still verify: another CA is refused', async () => {
    const before = await failures(optional, 'unknown_ca');
    expect(await out(cli(optional.port, '--tls', '--cacert', certs.ca, '--cert', certs.clientOtherCa.cert, '--key', certs.clientOtherCa.key, 'PING'))).toMatch(/not signed by a CA/);
    expect(await failures(optional, 'unknown_ca')).toBe(before + 1);
  });
});

describe('AMBASSADOR_TLS_CLIENT_USERS_FILE against redis-server ACL users', () => {
  let aclRedis: RedisServer;
  let aclFile: string;
  let usersFile: string;
  let mapped: Amb;
  const ids: Record<string, Issued> = {};
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const writeAcl = (alicePasswords: string[]) =>
    writeFileSync(
      aclFile,
      [
        'user default off',
        'user admin on >admin-pw ~* &* +@all',
        `user alice on ${alicePasswords.map((p) => `>${p}`).join(' ')} ~a:* &* +@all`,
        // A password with a blank: the ACL file cannot quote it, but takes its SHA-256.
        `user bob on #${sha('bob secret')} ~b:* &* +@all`,
      ].join('\n') + '\n',
    );
  const startAclRedis = async (port?: number) => cleanup.add(await startRedis(['--aclfile', aclFile], port), (r) => r.stop('SIGKILL'));
  const admin = async (...args: string[]) => out(run('redis-cli', ['-h', '127.0.0.1', '-p', String(aclRedis.port), '--user', 'admin', '--pass', 'admin-pw', '--no-auth-warning', ...args]));
  const as = async (name: string) => cleanup.add(await TlsClient.connect(mapped.port, { ca: certs.ca, cert: ids[name]!.cert, key: ids[name]!.key }), (c) => c.close());
  const whoami = async (c: TlsClient) => plain(await c.request('ACL', 'WHOAMI'));
  const reloads = () => mapped.amb.metric('redis_ambassador_reloads_total', { material: 'client_users' });
  const reloadUsers = async (text: string) => {
    const before = await reloads();
    writeFileSync(usersFile, text);
    mapped.amb.process.kill('SIGHUP');
    await waitUntil(async () => (await reloads()) > before, { what: 'the users file reloaded' });
  };
  const restartRedis = async () => {
    const port = aclRedis.port;
    await aclRedis.stop('SIGKILL');
    aclRedis = await startAclRedis(port);
  };

  beforeAll(async () => {
    aclFile = path.join(dir, 'users.acl');
    usersFile = path.join(dir, 'client-users');
    writeAcl(['alice-pw']);
    writeFileSync(usersFile, '# identity  acl-user  password\napp-a alice alice-pw\napp-b bob bob secret\n\nspiffe://test/svc-d alice alice-pw\n');
    const [a, b, c, d] = await Promise.all([
      certs.issue('app-a', { cn: 'app-a' }),
      certs.issue('app-b', { cn: 'app-b' }),
      certs.issue('app-c', { cn: 'app-c' }),
      certs.issue('svc-d', { sans: ['URI:spiffe://test/svc-d'] }),
    ]);
    Object.assign(ids, { 'app-a': a, 'app-b': b, 'app-c': c, 'svc-d': d });
    aclRedis = await startAclRedis();
    mapped = await serverSide(aclRedis.url, { AMBASSADOR_TLS_CLIENT_USERS_FILE: usersFile });
  }, 60_000);

  it("each identity's commands run as its ACL user, with that user's key permissions", async () => {
    const a = await as('app-a');
    expect(await whoami(a)).toBe('alice');
    expect(plain(await a.request('SET', 'a:1', 'x'))).toBe('OK');
    expect(await a.request('SET', 'b:1', 'x')).toMatchObject({ type: 'error', value: expect.stringMatching(/^NOPERM/) });
    const b = await as('app-b');
    expect(await whoami(b)).toBe('bob');
    expect(plain(await b.request('SET', 'b:1', 'x'))).toBe('OK');
    a.close();
    b.close();
    const mappedLine = mapped.amb.logs().find((l) => l.event === 'tls client mapped to an ACL user' && l.identity === 'app-b');
    expect(mappedLine).toMatchObject({ level: 'debug', user: 'bob' });
  });

  it('a certificate without a CN is matched by its URI SAN', async () => {
    const d = await as('svc-d');
    expect(await whoami(d)).toBe('alice');
    d.close();
  });

  it('in shared mode a mapped identity is pinned from its first byte, authenticated as its own user', async () => {
    const shared = await serverSide(aclRedis.url, { AMBASSADOR_TLS_CLIENT_USERS_FILE: usersFile, AMBASSADOR_UPSTREAM_MODE: 'shared' });
    const pinned = () => shared.amb.metric('redis_ambassador_pinned_clients_total', { listener: shared.listener, reason: 'identity' });
    expect(await pinned()).toBe(0);
    const connect = async (name: string) =>
      cleanup.add(await TlsClient.connect(shared.port, { ca: certs.ca, cert: ids[name]!.cert, key: ids[name]!.key }), (c) => c.close());
    const a = await connect('app-a');
    const b = await connect('app-b');
    expect(await whoami(a)).toBe('alice');
    expect(await whoami(b)).toBe('bob');
    expect(await a.request('SET', 'b:1', 'x')).toMatchObject({ type: 'error', value: expect.stringMatching(/^NOPERM/) });
    expect(await pinned()).toBe(2);
    // Each is on a connection of its own: Redis sees one for alice and one for bob.
    const list = await admin('CLIENT', 'LIST');
    expect(list.split('\n').filter((l) => / user=alice /.test(l))).toHaveLength(1);
    expect(list.split('\n').filter((l) => / user=bob /.test(l))).toHaveLength(1);
    a.close();
    b.close();
  });

  it('a verified identity the file does not name is refused at the handshake and counted', async () => {
    const before = await failures(mapped, 'unknown_identity');
    const made = await sessions(mapped);
    const c = await as('app-c');
    await c.write('*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n').catch(() => {});
    await c.waitClosed();
    expect(c.text()).toMatch(/identity is not allowed/);
    expect(await failures(mapped, 'unknown_identity')).toBe(before + 1);
    expect(await sessions(mapped)).toBe(made);
    const line = mapped.amb.logs().filter((l) => l.event === 'tls client refused' && l.reason === 'unknown_identity').pop();
    expect(String(line?.error)).toMatch(/CN=app-c not named in AMBASSADOR_TLS_CLIENT_USERS_FILE/);
  });

  it('the passwords appear in no log line and no metric', async () => {
    const text = JSON.stringify(mapped.amb.logs()) + (await mapped.amb.metrics());
    for (const secret of ['alice-pw', 'bob secret', 'admin-pw']) expect(text).not.toContain(secret);
  });

  it('a rotated password: open clients go on, new and reconnecting upstream connections use the new one', async () => {
    const open = await as('app-a');
    expect(await whoami(open)).toBe('alice');
    // Rotation as Redis allows it: the new password beside the old, switch, then drop the old.
    expect(await admin('ACL', 'SETUSER', 'alice', '>alice-pw2')).toBe('OK');
    await reloadUsers('app-a alice alice-pw2\napp-b bob bob secret\nspiffe://test/svc-d alice alice-pw2\n');
    expect(await admin('ACL', 'SETUSER', 'alice', '<alice-pw')).toBe('OK');
    writeAcl(['alice-pw2']);
    expect(await whoami(open)).toBe('alice');
    const fresh = await as('app-a');
    expect(await whoami(fresh)).toBe('alice');
    fresh.close();
    await onlyOpen(mapped, 1);
    const reconnects = await mapped.amb.metric('redis_ambassador_upstream_reconnects_total', { listener: mapped.listener });
    await restartRedis();
    expect(await whoami(open)).toBe('alice'); // after a reconnect that authenticated with alice-pw2
    expect(await mapped.amb.metric('redis_ambassador_upstream_reconnects_total', { listener: mapped.listener })).toBe(reconnects + 1);
    open.close();
  });

  it('a changed mapping: the open client stays who it was until its next reconnect, which closes it; new clients get the new user', async () => {
    const open = await as('app-a');
    expect(await whoami(open)).toBe('alice');
    await reloadUsers('app-a bob bob secret\napp-b bob bob secret\nspiffe://test/svc-d alice alice-pw2\n');
    expect(await whoami(open)).toBe('alice');
    const fresh = await as('app-a');
    expect(await whoami(fresh)).toBe('bob');
    fresh.close();
    await onlyOpen(mapped, 1);
    const failed = await mapped.amb.metric('redis_ambassador_replay_failures_total', { listener: mapped.listener });
    await restartRedis();
    // The session reconnects as soon as Redis is back (with or without a command waiting).
    await open.request('ACL', 'WHOAMI').catch(() => {});
    await open.waitClosed();
    expect(open.text()).toMatch(/-ERR this connection's client certificate no longer maps to the ACL user it was accepted as/);
    expect(open.text()).not.toMatch(/bob/);
    expect(await mapped.amb.metric('redis_ambassador_replay_failures_total', { listener: mapped.listener })).toBe(failed + 1);
    expect(mapped.amb.logs().some((l) => l.event === "the client's certificate identity no longer maps to its ACL user; closing the client")).toBe(true);
  });

  it('a users file that does not parse is refused: the mapping in force stays, the error names the file and line, not its text', async () => {
    const before = await mapped.amb.metric('redis_ambassador_reload_failures_total', { material: 'client_users' });
    writeFileSync(usersFile, 'app-a bob\n');
    mapped.amb.process.kill('SIGHUP');
    await waitUntil(async () => (await mapped.amb.metric('redis_ambassador_reload_failures_total', { material: 'client_users' })) === before + 1, { what: 'the failure counted' });
    const line = mapped.amb.logs().filter((l) => l.event === 'secret reload failed; the material in force is kept').pop();
    expect(line).toMatchObject({ level: 'error', material: 'client_users' });
    expect(String(line!.error)).toMatch(/AMBASSADOR_TLS_CLIENT_USERS_FILE: ".*client-users" line 1 is not "<identity> <acl-user> <password>"/);
    const c = await as('app-a');
    expect(await whoami(c)).toBe('bob');
    c.close();
  });
});
