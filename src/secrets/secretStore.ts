/**
 * The secrets in force now: the listeners' certificate, key and client CA, the upstream TLS
 * material, the upstream password, the password clients must AUTH with, and the client-users
 * map. Everything that uses a secret asks here at the moment it needs it (a handshake, a new
 * upstream connection, an AUTH), so a reload reaches new work at once and never touches what is
 * already running. Starts with what the configuration read (and checked) at start.
 */
import type { ClientUser, ClientUsers, ListenTlsMaterial, UpstreamTlsMaterial } from '../config/secretSettings.js';
import type { AmbassadorConfig, TlsSettings } from '../config/settings.js';
import { earliestExpiry } from '../config/tlsMaterial.js';
import { encodeCommand } from '../resp/commandCodec.js';

export class SecretStore {
  /** Always the upstream TLS material in force: read at every upstream connect (see openUpstream). */
  readonly upstreamTls: TlsSettings;
  private listen: ListenTlsMaterial | null;
  private upstream: UpstreamTlsMaterial;
  private preamble: Buffer | null;
  private clientPassword: Buffer | null;
  private users: ClientUsers | null;
  private readonly listenWatchers: ((m: ListenTlsMaterial) => void)[] = [];

  constructor(private readonly config: AmbassadorConfig) {
    this.listen = config.tlsListen?.material ?? null;
    const t = config.tls;
    const f = config.secretFiles.upstreamTls;
    this.upstream = {
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      // Checked at start already: these read the dates of files known to parse.
      certExpires: t.cert !== null && f.cert !== null ? earliestExpiry(t.cert, f.cert) : null,
      caExpires: t.ca !== null && f.ca !== null ? earliestExpiry(t.ca, f.ca) : null,
    };
    this.preamble = authCommand(config.upstreamCredentials?.username ?? null, config.upstreamCredentials?.password ?? null);
    this.clientPassword = config.requirepass;
    this.users = config.clientUsers;
    const store = this;
    this.upstreamTls = {
      get ca() {
        return store.upstream.ca;
      },
      get cert() {
        return store.upstream.cert;
      },
      get key() {
        return store.upstream.key;
      },
      servername: t.servername,
      verify: t.verify,
    };
  }

  upstreamTlsMaterial(): UpstreamTlsMaterial {
    return this.upstream;
  }

  listenerTls(): ListenTlsMaterial | null {
    return this.listen;
  }

  /** `fn` runs with the new material after every listener TLS reload (to renew the handshake context). */
  onListenerTls(fn: (m: ListenTlsMaterial) => void): void {
    this.listenWatchers.push(fn);
  }

  /** The ambassador's own AUTH for upstream connections with AMBASSADOR_UPSTREAM_USERNAME/_PASSWORD, or null. */
  upstreamPreamble(): Buffer | null {
    return this.preamble;
  }

  /** The password clients must AUTH with (AMBASSADOR_REQUIREPASS), or null. */
  requirepass(): Buffer | null {
    return this.clientPassword;
  }

  /** The ACL user a verified identity's upstream connections AUTH as, or undefined when the users file does not name it. */
  clientUser(identity: string): ClientUser | undefined {
    return this.users?.get(identity);
  }

  clientUsers(): ClientUsers | null {
    return this.users;
  }

  // --- what a reload puts in force --------------------------------------------------------

  setListenerTls(m: ListenTlsMaterial): void {
    this.listen = m;
    for (const fn of this.listenWatchers) fn(m);
  }

  setUpstreamTls(m: UpstreamTlsMaterial): void {
    this.upstream = m;
  }

  setUpstreamPassword(password: Buffer): void {
    this.preamble = authCommand(this.config.upstreamCredentials?.username ?? null, password);
  }

  setRequirepass(password: Buffer): void {
    this.clientPassword = password;
  }

  setClientUsers(users: ClientUsers): void {
    this.users = users;
  }
}

/** AUTH <password>, or AUTH <user> <password> for an ACL user; null without a password. */
export function authCommand(user: string | null, password: Buffer | null): Buffer | null {
  if (password === null) return null;
  return encodeCommand(user === null ? ['AUTH', password] : ['AUTH', user, password]);
}
