import { ConfigError } from './configError.js';

export interface UpstreamAddress {
  readonly host: string;
  readonly port: number;
  /** Connect with TLS (rediss:// or tls://). */
  readonly tls: boolean;
  /** How it is shown in logs, errors and the `upstream` metric label: tcp://host:port or rediss://host:port. */
  readonly url: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A TCP port written in decimal, 1..65535; null when it is anything else. */
export function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/** "[::1]" → "::1"; other hosts unchanged. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `host:port`, with an IPv6 host in brackets: `[::1]:6379`. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function formatUpstream(host: string, port: number, tls = false): string {
  return `${tls ? 'rediss' : 'tcp'}://${formatHostPort(host, port)}`;
}

/**
 * Parses `tcp://host:port` the way socat's sed does (host is everything up to the last colon)
 * and names `what` in the error so the user sees which variable or flag to fix.
 */
export function parseUpstreamUrl(value: string, what: string): UpstreamAddress {
  const example = 'tcp://10.0.0.5:6379';
  // tcp:// as socat reads it; rediss:// and tls:// (TLS to the upstream) are ours.
  if (value.includes('@')) {
    // Never echo the value: it holds a password.
    throw new ConfigError(
      `${what}: credentials in the URL (user:password@host) are not accepted; set AMBASSADOR_UPSTREAM_USERNAME and AMBASSADOR_UPSTREAM_PASSWORD (or _FILE) instead`,
    );
  }
  const m = /^(tcp|rediss|tls):\/\/(.*):(.*)$/.exec(value);
  if (!m) {
    throw new ConfigError(`${what}: "${value}" is not tcp://<host>:<port> (for example ${example}; rediss://<host>:<port> for TLS)`);
  }
  const tls = m[1] !== 'tcp';
  m.splice(1, 1);
  const host = unbracket(m[1]!);
  if (host === '') throw new ConfigError(`${what}: "${value}" has an empty host (for example ${example})`);
  const port = parsePort(m[2]!);
  if (port === null) {
    throw new ConfigError(`${what}: "${value}" has port "${m[2]}", expected 1-65535 (for example ${example})`);
  }
  return { host, port, tls, url: formatUpstream(host, port, tls) };
}

/** Parses `host:port`, `:port` or `[v6]:port` for the admin endpoint. */
export function parseHostPort(value: string, what: string, defaultHost: string): HostPort {
  const i = value.lastIndexOf(':');
  const example = '0.0.0.0:9736';
  if (i < 0) throw new ConfigError(`${what}: "${value}" is not <host>:<port> (for example ${example}, or "off")`);
  const port = parsePort(value.slice(i + 1));
  if (port === null) {
    throw new ConfigError(`${what}: "${value}" has a bad port, expected 1-65535 (for example ${example})`);
  }
  const host = unbracket(value.slice(0, i)) || defaultHost;
  return { host, port };
}
