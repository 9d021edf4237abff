/**
 * The reloadable secrets of one process: what is in force (SecretStore), re-reading it
 * (SecretReloader), and noticing when the files change (FileWatcher). SIGHUP calls reload().
 */
import type { AmbassadorConfig } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { ReloadStats } from '../metrics/reloadStats.js';
import { FileWatcher } from './fileWatcher.js';
import { SecretReloader } from './secretReloader.js';
import { SecretStore } from './secretStore.js';

export class Secrets {
  readonly store: SecretStore;
  private readonly reloader: SecretReloader;
  private watcher: FileWatcher | null = null;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly log: Logger,
    stats: ReloadStats,
    statsOf: (listener: string) => ListenerStats,
  ) {
    this.store = new SecretStore(config);
    this.reloader = new SecretReloader(config, this.store, log, stats, statsOf);
  }

  start(): void {
    this.reloader.publishExpiry();
    const files = [...new Set(this.reloader.files.map((f) => f.path))];
    if (!this.config.watchSecrets || files.length === 0) return;
    this.watcher = new FileWatcher(files, () => this.reloader.reloadChanged('file change'), this.log);
    this.watcher.start();
    this.log.info('watching secret files', { files: files.join(',') });
  }

  /** Re-reads every secret file (SIGHUP). */
  reload(trigger: string): void {
    this.reloader.reloadAll(trigger);
  }

  stop(): void {
    this.watcher?.stop();
  }
}
