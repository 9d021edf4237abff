/**
 * Re-reads the secret files and puts what they hold in force: on SIGHUP every material, and
 * after a watched file changed the materials whose files now hold other bytes. Each material is
 * read and checked by the same functions as at start; one that fails (a half-written file, a
 * certificate without its key, an empty password file) leaves the material in force untouched,
 * is logged naming the file (never its contents) and counted. Nothing already running is
 * touched: open connections keep what they were set up with.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readClientUsers } from '../config/clientUsers.js';
import { readPasswordFile, type SecretFile } from '../config/secretSettings.js';
import type { AmbassadorConfig } from '../config/settings.js';
import { readListenTls, readUpstreamTls } from '../config/tlsMaterial.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { Material } from '../metrics/metricTable.js';
import type { ReloadStats } from '../metrics/reloadStats.js';
import { publishExpiry } from './certificateExpiry.js';
import type { SecretStore } from './secretStore.js';

interface Group {
  readonly material: Material;
  readonly files: readonly SecretFile[];
  /** Reads and checks the files, then puts them in force; throws (before anything changes) when they do not parse. */
  load(): void;
}

export class SecretReloader {
  private readonly groups: Group[] = [];
  /** Per material, a digest of its files' bytes as last read: a watch event that changed nothing reloads nothing. */
  private readonly seen = new Map<Material, string>();

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly store: SecretStore,
    private readonly log: Logger,
    private readonly stats: ReloadStats,
    private readonly statsOf: (listener: string) => ListenerStats,
  ) {
    const f = config.secretFiles;
    const listen = config.tlsListen;
    if (listen !== null) {
      const files = [listen.files.cert, listen.files.key, ...(listen.files.ca ? [listen.files.ca] : [])];
      this.add('listener_tls', files, () => {
        store.setListenerTls(readListenTls(listen.files));
        this.publishExpiry();
      });
    }
    const up = f.upstreamTls;
    const upFiles = [up.ca, up.cert, up.key].filter((x): x is SecretFile => x !== null);
    if (upFiles.length > 0) {
      this.add('upstream_tls', upFiles, () => {
        store.setUpstreamTls(readUpstreamTls(up));
        this.publishExpiry();
      });
    }
    const password = f.upstreamPassword;
    if (password !== null) this.add('upstream_password', [password], () => store.setUpstreamPassword(readPasswordFile(password)));
    const requirepass = f.requirepass;
    if (requirepass !== null) this.add('requirepass', [requirepass], () => store.setRequirepass(readPasswordFile(requirepass)));
    const users = f.clientUsers;
    if (users !== null) this.add('client_users', [users], () => store.setClientUsers(readClientUsers(users)));
    for (const g of this.groups) this.seen.set(g.material, fingerprint(g.files));
  }

  /** Every file that holds reloadable material. */
  get files(): readonly SecretFile[] {
    return this.groups.flatMap((g) => g.files);
  }

  /** Publishes the expiry of the certificates read at start. */
  publishExpiry(): void {
    publishExpiry(this.config, this.store, this.statsOf);
  }

  /** SIGHUP: every material is re-read and, where it parses, put in force. */
  reloadAll(trigger: string): void {
    for (const g of this.groups) this.load(g, trigger, fingerprint(g.files));
  }

  /** A watched file changed: the materials whose files hold other bytes than at their last read. */
  reloadChanged(trigger: string): void {
    for (const g of this.groups) {
      const now = fingerprint(g.files);
      if (now !== this.seen.get(g.material)) this.load(g, trigger, now);
    }
  }

  private add(material: Material, files: readonly SecretFile[], load: () => void): void {
    this.groups.push({ material, files, load });
  }

  private load(g: Group, trigger: string, digest: string): void {
    this.seen.set(g.material, digest);
    const fields = { material: g.material, trigger, files: g.files.map((f) => f.path).join(',') };
    try {
      g.load();
    } catch (err) {
      this.stats.refused(g.material);
      // The messages of the config readers name the setting and the file, never the contents.
      this.log.error('secret reload failed; the material in force is kept', { ...fields, error: (err as Error).message });
      return;
    }
    this.stats.reloaded(g.material);
    this.log.info('secrets reloaded', fields);
  }
}

/** A digest of the files' bytes (an unreadable file counts as its error code). */
function fingerprint(files: readonly SecretFile[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    try {
      h.update(readFileSync(f.path));
    } catch (err) {
      h.update(`unreadable:${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    h.update('\0');
  }
  return h.digest('hex');
}
