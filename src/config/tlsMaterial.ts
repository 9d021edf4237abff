/**
 * Reading and checking certificates, keys and CA bundles. The same functions run at start (a bad
 * file is a ConfigError: exit code 2) and on every reload (a bad file keeps the material in
 * force), so what counts as good material is decided in one place. Errors name the setting and
 * the file, and what a good file looks like; never a byte of a key.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from './configError.js';

/** A file the ambassador re-reads on SIGHUP or when it changes: the setting that names it, and its path. */
export interface SecretFile {
  readonly setting: string;
  readonly path: string;
}

/** A listener's certificate and key, and the CA its clients' certificates must chain to. */
export interface ListenTlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
  /** When the certificate expires, and the earliest expiry in the CA bundle (ms since the epoch). */
  readonly certExpires: number;
  readonly caExpires: number | null;
}

/** The material for rediss:// / tls:// upstreams: each part optional. */
export interface UpstreamTlsMaterial {
  readonly ca: Buffer | null;
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  readonly certExpires: number | null;
  readonly caExpires: number | null;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function readSecretBytes(file: SecretFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (err) {
    throw new ConfigError(`${file.setting}: cannot read "${file.path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The earliest notAfter among the PEM certificates in `pem` (ms since the epoch). */
export function earliestExpiry(pem: Buffer, file: SecretFile): number {
  const blocks = pem.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(`${file.setting}: "${file.path}" holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`);
  }
  let earliest = Infinity;
  for (const [i, block] of blocks.entries()) {
    let expires: number;
    try {
      expires = Date.parse(new X509Certificate(block).validTo);
    } catch (err) {
      throw new ConfigError(`${file.setting}: certificate ${i + 1} in "${file.path}" cannot be parsed (${(err as Error).message})`);
    }
    if (Number.isNaN(expires)) throw new ConfigError(`${file.setting}: certificate ${i + 1} in "${file.path}" has no readable expiry date`);
    earliest = Math.min(earliest, expires);
  }
  return earliest;
}

function checkKey(key: Buffer, file: SecretFile): void {
  try {
    createPrivateKey(key);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ERR_MISSING_PASSPHRASE' ? 'it is encrypted; give an unencrypted PEM key' : (err as Error).message;
    throw new ConfigError(`${file.setting}: "${file.path}" is not a usable PEM private key (${why})`);
  }
}

/** A certificate and its key must belong together; OpenSSL says so when they are put in one context. */
function checkPair(cert: Buffer, key: Buffer, certFile: SecretFile, keyFile: SecretFile): void {
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(
      `${keyFile.setting}: "${keyFile.path}" is not the key of the certificate in ${certFile.setting} "${certFile.path}" (${(err as Error).message}); give the pair that was issued together`,
    );
  }
}

function checkCa(ca: Buffer, file: SecretFile): number {
  const expires = earliestExpiry(ca, file);
  try {
    tls.createSecureContext({ ca });
  } catch (err) {
    throw new ConfigError(`${file.setting}: "${file.path}" is not a usable CA bundle (${(err as Error).message})`);
  }
  return expires;
}

export function readListenTls(files: { readonly cert: SecretFile; readonly key: SecretFile; readonly ca: SecretFile | null }): ListenTlsMaterial {
  const cert = readSecretBytes(files.cert);
  const key = readSecretBytes(files.key);
  const ca = files.ca === null ? null : readSecretBytes(files.ca);
  const certExpires = earliestExpiry(cert, files.cert);
  checkKey(key, files.key);
  checkPair(cert, key, files.cert, files.key);
  const caExpires = ca === null ? null : checkCa(ca, files.ca!);
  return { cert, key, ca, certExpires, caExpires };
}

export function readUpstreamTls(files: { readonly ca: SecretFile | null; readonly cert: SecretFile | null; readonly key: SecretFile | null }): UpstreamTlsMaterial {
  const ca = files.ca === null ? null : readSecretBytes(files.ca);
  const cert = files.cert === null ? null : readSecretBytes(files.cert);
  const key = files.key === null ? null : readSecretBytes(files.key);
  const caExpires = ca === null ? null : checkCa(ca, files.ca!);
  const certExpires = cert === null ? null : earliestExpiry(cert, files.cert!);
  if (key !== null) checkKey(key, files.key!);
  if (cert !== null && key !== null) checkPair(cert, key, files.cert!, files.key!);
  return { ca, cert, key, certExpires, caExpires };
}
