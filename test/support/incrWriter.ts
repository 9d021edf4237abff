/**
 * One client doing INCR through the ambassador while its upstream fails over, recording every
 * reply, and what those replies prove about the counter's history.
 */
import type { RawClient } from './rawClient.js';
import { plain } from './resp.js';
import { now, sleep } from './wait.js';

export interface Ack {
  readonly sentAt: number;
  readonly at: number;
  readonly value: number;
}
export interface Failure {
  readonly sentAt: number;
  readonly at: number;
  readonly error: string;
}

/** INCR <key>, one command at a time (the next `gapMs` after the previous reply); integers are acknowledged INCRs. */
export class IncrWriter {
  sent = 0;
  readonly acks: Ack[] = [];
  readonly failures: Failure[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;
  crash: Error | null = null;

  constructor(
    readonly conn: RawClient,
    private readonly key = 'counter',
    private readonly gapMs = 3,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const sentAt = now();
        this.sent++;
        let f;
        try {
          f = await this.conn.callTimed(['INCR', this.key], 30_000);
        } catch (err) {
          this.crash = err as Error;
          return;
        }
        if (f.r.type === 'integer') this.acks.push({ sentAt, at: f.at, value: f.r.value });
        else this.failures.push({ sentAt, at: f.at, error: f.r.type === 'error' ? f.r.value : JSON.stringify(plain(f.r)) });
        if (this.gapMs > 0) await sleep(this.gapMs);
      }
    })();
  }

  /** Stops after the reply to the command in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.crash) throw this.crash;
  }

  ackAfter(t: number): Ack | undefined {
    return this.acks.find((a) => a.at > t);
  }
}

/**
 * Checks what a sequential INCR writer's replies prove, given the time the master was lost:
 * within each side of the loss, consecutive acknowledged values are exactly one apart (nothing
 * ran in between: no INCR applied twice, no resend); the first value after the loss is at most
 * last-before + 1 + (errored INCRs, which may or may not have run on the old master); the
 * final value on the new master equals the last acknowledged one. Returns a summary line.
 */
export function checkIncrHistory(
  w: IncrWriter,
  splitAt: number,
  finalValue: number,
): { problems: string[]; summary: string; pre: Ack[]; post: Ack[] } {
  const problems: string[] = [];
  const pre = w.acks.filter((a) => a.at <= splitAt);
  const post = w.acks.filter((a) => a.at > splitAt);
  const consecutive = (list: Ack[], name: string): void => {
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.value !== list[i - 1]!.value + 1) {
        problems.push(`${name}: acknowledged ${list[i - 1]!.value} then ${list[i]!.value} (expected +1: something ran in between or twice)`);
        return;
      }
    }
  };
  consecutive(pre, 'before the loss');
  consecutive(post, 'after the loss');
  const lastPre = pre.at(-1)?.value ?? 0;
  const firstPost = post[0]?.value;
  if (firstPost !== undefined && firstPost > lastPre + 1 + w.failures.length) {
    problems.push(`first value after the loss ${firstPost} > last before ${lastPre} + 1 + ${w.failures.length} errored INCRs: an INCR ran without its reply reaching the client`);
  }
  const lastAck = w.acks.at(-1)?.value;
  if (lastAck !== undefined && finalValue !== lastAck) {
    problems.push(`final counter ${finalValue} on the new master != last acknowledged value ${lastAck}`);
  }
  if (w.acks.length + w.failures.length !== w.sent) {
    problems.push(`sent ${w.sent} INCRs but got ${w.acks.length} integer + ${w.failures.length} error replies`);
  }
  const lostByReplication = firstPost !== undefined && firstPost <= lastPre ? lastPre + 1 - firstPost : 0;
  const summary =
    `sent=${w.sent} acked=${w.acks.length} (before=${pre.length} after=${post.length}) errors=${w.failures.length} ` +
    `last-before=${lastPre} first-after=${firstPost} final=${finalValue} acknowledged-lost-by-async-replication=${lostByReplication} ` +
    `error-texts=${JSON.stringify([...new Set(w.failures.map((f) => f.error.replace(/\d+/g, 'N')))])}`;
  return { problems, summary, pre, post };
}
