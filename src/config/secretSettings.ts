/**
 * The settings of secrets that can change while the ambassador runs: TLS on the listeners
 * (certificate, key, client CA, client-certificate policy), the upstream TLS files, the password
 * files and the client-users file. Config carries where each lives (to be re-read) and its first
 * contents, checked here so that a bad file at start stops the start with exit code 2.
 */
import { ConfigError } from './configError.js';
import { parsePort } from './address.js';
import { readClientUsers, type ClientUsers } from './clientUsers.js';
import type { ListenerSpec } from './listenerSpec.js';
import { readSecretFile, type SettingReader } from './settingReader.js';
import { readListenTls, readUpstreamTls, type ListenTlsMaterial, type SecretFile, type UpstreamTlsMaterial } from './tlsMaterial.js';

export type { ClientUser, ClientUsers } from './clientUsers.js';
export type { ListenTlsMaterial, SecretFile, UpstreamTlsMaterial } from './tlsMaterial.js';

/** What a TLS listener asks of its clients' certificates. */
export type ClientAuth = 'require' | 'optional' | 'off';

export interface ListenTlsFiles {
  readonly cert: SecretFile;
  readonly key: SecretFile;
  readonly ca: SecretFile | null;
}

export interface TlsListenSettings {
  readonly files: ListenTlsFiles;
  /** As read at start. */
  readonly material: ListenTlsMaterial;
  readonly clientAuth: ClientAuth;
  /** The listener ports that speak TLS (every listener's, unless AMBASSADOR_TLS_LISTEN_PORTS names some). */
  readonly ports: ReadonlySet<number>;
  /** A connection that has not finished its handshake this long is closed. */
  readonly handshakeTimeoutMs: number;
}

export interface UpstreamTlsFiles {
  readonly ca: SecretFile | null;
  readonly cert: SecretFile | null;
  readonly key: SecretFile | null;
}

/** Every file of reloadable material besides the listener TLS files (in TlsListenSettings). */
export interface SecretFiles {
  readonly upstreamTls: UpstreamTlsFiles;
  /** AMBASSADOR_UPSTREAM_PASSWORD_FILE (a password given directly in the variable cannot change). */
  readonly upstreamPassword: SecretFile | null;
  readonly requirepass: SecretFile | null;
  readonly clientUsers: SecretFile | null;
}

const CLIENT_AUTH: readonly ClientAuth[] = ['require', 'optional', 'off'];

function fileSetting(s: SettingReader, setting: string): SecretFile | null {
  const path = s.text(setting);
  return path === undefined ? null : { setting, path };
}

export function readSecretFiles(s: SettingReader): SecretFiles {
  return {
    upstreamTls: {
      ca: fileSetting(s, 'AMBASSADOR_TLS_CA_FILE'),
      cert: fileSetting(s, 'AMBASSADOR_TLS_CERT_FILE'),
      key: fileSetting(s, 'AMBASSADOR_TLS_KEY_FILE'),
    },
    upstreamPassword: fileSetting(s, 'AMBASSADOR_UPSTREAM_PASSWORD_FILE'),
    requirepass: fileSetting(s, 'AMBASSADOR_REQUIREPASS_FILE'),
    clientUsers: fileSetting(s, 'AMBASSADOR_TLS_CLIENT_USERS_FILE'),
  };
}

/** The upstream TLS files as read at start (checked: a certificate needs its key, and they must match). */
export function readUpstreamTlsSetting(files: UpstreamTlsFiles): UpstreamTlsMaterial {
  if ((files.cert === null) !== (files.key === null)) {
    const [set, unset] = files.cert !== null ? [files.cert.setting, 'AMBASSADOR_TLS_KEY_FILE'] : [files.key!.setting, 'AMBASSADOR_TLS_CERT_FILE'];
    throw new ConfigError(`${set} is set without ${unset}; a client certificate needs its key (set both, or neither)`);
  }
  return readUpstreamTls(files);
}

/** A password file as the reload reads it (same rules as at start: trailing newline dropped, not empty). */
export function readPasswordFile(file: SecretFile): Buffer {
  return readSecretFile(file.path, file.setting);
}

export function readTlsListen(s: SettingReader, listeners: readonly ListenerSpec[]): TlsListenSettings | null {
  const cert = fileSetting(s, 'AMBASSADOR_TLS_LISTEN_CERT_FILE');
  const key = fileSetting(s, 'AMBASSADOR_TLS_LISTEN_KEY_FILE');
  const ca = fileSetting(s, 'AMBASSADOR_TLS_LISTEN_CA_FILE');
  const needsCert = ['AMBASSADOR_TLS_LISTEN_CA_FILE', 'AMBASSADOR_TLS_LISTEN_CLIENT_AUTH', 'AMBASSADOR_TLS_LISTEN_PORTS', 'AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS'];
  if (cert === null && key === null) {
    const stray = needsCert.find((n) => s.text(n) !== undefined);
    if (stray !== undefined) {
      throw new ConfigError(`${stray} is set but the listeners have no certificate: set AMBASSADOR_TLS_LISTEN_CERT_FILE and AMBASSADOR_TLS_LISTEN_KEY_FILE too`);
    }
    return null;
  }
  if (cert === null || key === null) {
    const [set, unset] = cert !== null ? ['AMBASSADOR_TLS_LISTEN_CERT_FILE', 'AMBASSADOR_TLS_LISTEN_KEY_FILE'] : ['AMBASSADOR_TLS_LISTEN_KEY_FILE', 'AMBASSADOR_TLS_LISTEN_CERT_FILE'];
    throw new ConfigError(`${set} is set without ${unset}; a TLS listener needs its certificate and its key`);
  }
  const clientAuth = s.choice<ClientAuth>(
    'AMBASSADOR_TLS_LISTEN_CLIENT_AUTH',
    CLIENT_AUTH,
    ca !== null ? 'require' : 'off',
    'require (clients must present a certificate signed by AMBASSADOR_TLS_LISTEN_CA_FILE), optional (a certificate, if presented, must be) or off',
  );
  if (clientAuth !== 'off' && ca === null) {
    throw new ConfigError(`AMBASSADOR_TLS_LISTEN_CLIENT_AUTH=${clientAuth} needs AMBASSADOR_TLS_LISTEN_CA_FILE: the CA the clients' certificates must be signed by`);
  }
  if (clientAuth === 'off' && ca !== null) {
    throw new ConfigError('AMBASSADOR_TLS_LISTEN_CA_FILE is set but AMBASSADOR_TLS_LISTEN_CLIENT_AUTH=off verifies no client certificate; unset one of them');
  }
  const files = { cert, key, ca };
  return {
    files,
    material: readListenTls(files),
    clientAuth,
    ports: readTlsPorts(s.text('AMBASSADOR_TLS_LISTEN_PORTS'), listeners),
    handshakeTimeoutMs: s.positiveInt('AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS', 10_000),
  };
}

function readTlsPorts(text: string | undefined, listeners: readonly ListenerSpec[]): ReadonlySet<number> {
  const all = listeners.map((l) => l.port);
  if (text === undefined) return new Set(all);
  const ports = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const port = parsePort(part);
    if (port === null || !all.includes(port)) {
      throw new ConfigError(`AMBASSADOR_TLS_LISTEN_PORTS: "${part}" is not the port of a listener (the listeners are on ${all.join(', ')}; for example AMBASSADOR_TLS_LISTEN_PORTS=${all[0]})`);
    }
    ports.add(port);
  }
  if (ports.size === 0) throw new ConfigError(`AMBASSADOR_TLS_LISTEN_PORTS is empty; name the listener ports that speak TLS (for example ${all[0]}), or unset it for all`);
  return ports;
}

export function readClientUsersSetting(file: SecretFile | null, tlsListen: TlsListenSettings | null): ClientUsers | null {
  if (file === null) return null;
  if (tlsListen === null || tlsListen.clientAuth === 'off') {
    throw new ConfigError(
      `${file.setting} maps verified client certificates to ACL users, but no listener verifies client certificates: set AMBASSADOR_TLS_LISTEN_CERT_FILE, AMBASSADOR_TLS_LISTEN_KEY_FILE and AMBASSADOR_TLS_LISTEN_CA_FILE`,
    );
  }
  return readClientUsers(file);
}
