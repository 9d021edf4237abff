/**
 * Certificates made with openssl at test time: a CA, a second CA, a server certificate for
 * 127.0.0.1/localhost, client certificates by CN, and ones that expired or are not valid yet.
 * Everything is written under `dir` (the caller removes it); each certificate gets its own serial
 * so a test can tell which one a peer presented.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from './processes.js';

export interface Issued {
  readonly cert: string;
  readonly key: string;
  /** As Node's getPeerCertificate().serialNumber gives it: upper-case hex. */
  readonly serial: string;
}

export interface IssueOptions {
  /** Subject CN; omitted: a certificate without a CN. */
  readonly cn?: string;
  /** Signed by the second CA instead of the first. */
  readonly otherCa?: boolean;
  readonly purpose?: 'server' | 'client' | 'both';
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost', 'URI:spiffe://x/y']. */
  readonly sans?: readonly string[];
  /** Its validity: 'expired' (2020), 'future' (from 2099), or valid for two days (the default). */
  readonly validity?: 'valid' | 'expired' | 'future';
}

export interface Certificates {
  readonly dir: string;
  /** The CA's certificate (the trust anchor both sides are given). */
  readonly ca: string;
  /** A second CA's certificate: not trusted unless a test adds it. */
  readonly otherCa: string;
  /** For 127.0.0.1 and localhost, server and client purpose (the server-side ambassador's own). */
  readonly server: Issued;
  /** CN=ambassador-client, client purpose (the consumer-side ambassador's). */
  readonly client: Issued;
  /** Same CN, signed by the second CA. */
  readonly clientOtherCa: Issued;
  /** Same CN, expired in 2020. */
  readonly clientExpired: Issued;
  issue(name: string, opts: IssueOptions): Promise<Issued>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run('sh', ['-c', 'cd "$0" && exec openssl "$@"', cwd, ...args], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    ['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '3', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  // `openssl ca` (needed to set dates in the past or future) keeps a database per CA.
  mkdirSync(path.join(dir, `${name}.db`), { recursive: true });
  writeFileSync(path.join(dir, `${name}.db`, 'index.txt'), '');
  writeFileSync(
    path.join(dir, `${name}.cnf`),
    `[ca]\ndefault_ca=c\n[c]\ndatabase=${name}.db/index.txt\nserial=${name}.db/serial\nnew_certs_dir=${name}.db\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=optional\n`,
  );
}

export async function makeCertificates(dir: string): Promise<Certificates> {
  mkdirSync(dir, { recursive: true });
  await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')]);
  let serial = 0x1000;
  // `openssl ca` runs one at a time: it rewrites the CA's serial file and database.
  let caQueue: Promise<void> = Promise.resolve();
  const issue = async (name: string, opts: IssueOptions): Promise<Issued> => {
    const n = serial++;
    const hex = n.toString(16).toUpperCase();
    const ca = opts.otherCa ? 'other-ca' : 'ca';
    const usage = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[opts.purpose ?? 'client'];
    const ext = [`extendedKeyUsage=${usage}`, ...(opts.sans?.length ? [`subjectAltName=${opts.sans.join(',')}`] : [])].join('\n');
    writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    await openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', opts.cn === undefined ? '/' : `/CN=${opts.cn}`], dir);
    const validity = opts.validity ?? 'valid';
    if (validity === 'valid') {
      await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', String(n), '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
    } else {
      const [start, end] = validity === 'expired' ? ['20200101000000Z', '20200201000000Z'] : ['20990101000000Z', '20990201000000Z'];
      const signed = caQueue.then(async () => {
        writeFileSync(path.join(dir, `${ca}.db`, 'serial'), `${hex.length % 2 ? '0' : ''}${hex}\n`);
        await openssl(['ca', '-batch', '-notext', '-config', `${ca}.cnf`, '-cert', `${ca}.crt`, '-keyfile', `${ca}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`, '-startdate', start, '-enddate', end, '-extfile', `${name}.ext`], dir);
      });
      caQueue = signed.catch(() => {});
      await signed;
    }
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`), serial: hex.length % 2 ? `0${hex}` : hex };
  };
  const [server, client, clientOtherCa, clientExpired] = await Promise.all([
    issue('server', { cn: 'ambassador-server', purpose: 'both', sans: ['IP:127.0.0.1', 'DNS:localhost'] }),
    issue('client', { cn: 'ambassador-client' }),
    issue('client-other-ca', { cn: 'ambassador-client', otherCa: true }),
    issue('client-expired', { cn: 'ambassador-client', validity: 'expired' }),
  ]);
  return { dir, ca: path.join(dir, 'ca.crt'), otherCa: path.join(dir, 'other-ca.crt'), server, client, clientOtherCa, clientExpired, issue };
}
