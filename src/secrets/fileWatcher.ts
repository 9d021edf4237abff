/**
 * Tells when secret files may have changed, the ways they do change:
 * - Kubernetes swaps its `..data` symlink to a new directory: the directory watch sees it (and
 *   the watch on a file behind the old link ends, so it is set up again);
 * - Docker (a bind mount, `docker cp`) rewrites the file in place: the watch on the file sees it;
 * - an editor or a deploy script replaces it by a rename: both see it.
 * Where inotify sees nothing (some network file systems), a stat of every file every few
 * seconds still does. Events come in bursts (a certificate and its key written one after the
 * other), so the callback runs once the burst has been quiet for a moment.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log/logger.js';

const QUIET_MS = 200;
const POLL_MS = 5000;

export class FileWatcher {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private readonly stamps = new Map<string, string>();
  private quiet: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly files: readonly string[],
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    const dirs = new Set(this.files.map((f) => path.dirname(f)));
    for (const p of [...dirs, ...this.files]) this.watch(p);
    for (const f of this.files) this.stamps.set(f, stamp(f));
    this.poll = setInterval(() => this.checkStamps(), POLL_MS);
    this.poll.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    if (this.quiet) clearTimeout(this.quiet);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private watch(p: string): void {
    if (this.stopped || this.watchers.has(p)) return;
    try {
      const w = fs.watch(p, { persistent: false }, () => this.changed(p));
      w.on('error', () => this.unwatch(p));
      this.watchers.set(p, w);
    } catch (err) {
      // Not there right now (mid-rename): the poll sets the watch up again when it is back.
      this.log.debug('cannot watch a secret file yet', { file: p, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    }
  }

  private unwatch(p: string): void {
    this.watchers.get(p)?.close();
    this.watchers.delete(p);
  }

  private changed(p: string): void {
    // A file replaced by a rename is another inode: the old watch would never fire again.
    if (this.files.includes(p)) {
      this.unwatch(p);
      this.watch(p);
    }
    if (this.quiet) clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.settled(), QUIET_MS);
    this.quiet.unref();
  }

  private settled(): void {
    this.quiet = null;
    if (this.stopped) return;
    for (const f of this.files) this.stamps.set(f, stamp(f));
    this.onChange();
  }

  private checkStamps(): void {
    let moved = false;
    for (const f of this.files) {
      this.watch(f);
      const now = stamp(f);
      if (now !== this.stamps.get(f)) moved = true;
    }
    for (const d of new Set(this.files.map((f) => path.dirname(f)))) this.watch(d);
    if (moved && this.quiet === null) this.changed('');
  }
}

/** What a stat says of the file behind `p` (symlinks followed): it changes when the file does. */
function stamp(p: string): string {
  try {
    const s = fs.statSync(p);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}
