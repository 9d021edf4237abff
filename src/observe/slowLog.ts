/**
 * The proxy's slow log: commands whose reply took AMBASSADOR_SLOWLOG_MS or longer, from the
 * moment the command was handed to the upstream socket to the moment its reply's last byte was
 * read. That is what Redis's own SLOWLOG cannot see (it times execution only): the network both
 * ways, the wait in the upstream's queue behind other clients' commands, a Redis busy in a fork
 * or a slow script. Blocking commands are not entered: their time is waiting, as in the
 * latency histogram.
 *
 * A ring of AMBASSADOR_SLOWLOG_LEN entries for the whole process (newest first on /slowlog), so
 * its memory is bounded: an entry is ~200 bytes, ~5 KB with arguments (32 × 128 bytes at most).
 * Arguments are kept only with AMBASSADOR_SLOWLOG_ARGS=on: they are data (key names, values),
 * so the admin endpoint must then stay on a private address.
 */
import type { SlowLogSettings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { TRAITS } from '../resp/commandTraits.js';
import { displayBytes } from './displayBytes.js';
import { slowArgs } from './slowArgs.js';

export type { SlowLogSettings };

export interface SlowEntry {
  /** Increasing from 1, as Redis's SLOWLOG ids; kept across /slowlog?reset. */
  readonly id: number;
  /** When the reply arrived (ISO 8601). */
  readonly time: string;
  readonly duration_us: number;
  readonly listener: string;
  /** The client's address as the ambassador sees it. */
  readonly client: string;
  /** CLIENT SETNAME (or HELLO … SETNAME), or null. */
  readonly client_name: string | null;
  /** The command's metric label: "get", "client|setname", "unknown". */
  readonly cmd: string;
  readonly reply_bytes: number;
  /** Only with AMBASSADOR_SLOWLOG_ARGS=on; null when the frame was too large to keep (over 1 MB). */
  readonly args?: string[] | null;
}

/** One session's view of the slow log: who it is, for the entries it adds. */
export interface SlowCommandSink {
  /** Infinity when the slow log is off. */
  readonly thresholdMs: number;
  readonly captureArgs: boolean;
  /** A command took `ms`; `capture` is what the request path kept of its arguments. */
  record(cmd: number, ms: number, replyBytes: number, capture: Buffer | Buffer[] | null): void;
}

/** Log lines per second at most: in an incident every command may be slow, and the log must not add to it. */
const LOG_LINES_PER_SECOND = 100;

export class SlowLog {
  private readonly ring: (SlowEntry | undefined)[];
  private next = 0;
  private count = 0;
  private lastId = 0;
  // Log-line budget of the current second, and the lines not written for want of it.
  private second = 0;
  private lines = 0;
  private suppressed = 0;

  constructor(
    readonly settings: SlowLogSettings,
    private readonly log: Logger,
  ) {
    this.ring = new Array<SlowEntry | undefined>(settings.length);
  }

  /** The sink a session records into. */
  forSession(listener: string, client: () => string, clientName: () => Buffer | null): SlowCommandSink {
    const threshold = this.settings.thresholdMs ?? Infinity;
    const captureArgs = this.settings.args;
    return {
      thresholdMs: threshold,
      captureArgs,
      record: (cmd, ms, replyBytes, capture) => {
        const name = clientName();
        this.add({
          duration_us: Math.round(ms * 1000),
          listener,
          client: client(),
          client_name: name === null || name.length === 0 ? null : displayBytes(name),
          cmd: TRAITS.names[cmd] ?? 'unknown',
          reply_bytes: replyBytes,
          ...(captureArgs ? { args: capture === null ? null : slowArgs(capture) } : {}),
        });
      },
    };
  }

  /** Newest first. */
  entries(): SlowEntry[] {
    const out: SlowEntry[] = [];
    const n = this.ring.length;
    for (let k = 1; k <= this.count; k++) out.push(this.ring[(this.next - k + n) % n]!);
    return out;
  }

  /** Empties the ring (SLOWLOG RESET); ids go on increasing. */
  reset(): void {
    this.ring.fill(undefined);
    this.count = 0;
    this.next = 0;
  }

  private add(fields: Omit<SlowEntry, 'id' | 'time'>): void {
    const entry: SlowEntry = { id: ++this.lastId, time: new Date().toISOString(), ...fields };
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
    this.logLine(entry);
  }

  private logLine(e: SlowEntry): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.second = second;
      this.lines = 0;
    }
    if (this.lines >= LOG_LINES_PER_SECOND) {
      this.suppressed++;
      return;
    }
    this.lines++;
    // Never the arguments: logs carry names, addresses and counts only.
    this.log.warn('slow command', {
      id: e.id,
      listener: e.listener,
      client: e.client,
      client_name: e.client_name,
      cmd: e.cmd,
      duration_ms: e.duration_us / 1000,
      reply_bytes: e.reply_bytes,
      ...(this.suppressed > 0 ? { not_logged_before: this.suppressed } : {}),
    });
    this.suppressed = 0;
  }
}
