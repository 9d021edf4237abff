/**
 * Where, inside a transaction, a reply names cluster nodes. EXEC's reply is an array of the
 * replies of the commands queued since MULTI, in order, so a cluster listener that rewrites a
 * CLUSTER SLOTS or ROLE reply when it stands alone must rewrite it there too; it needs to know,
 * per EXEC, which positions to rewrite and how. The pending queue's entry for an EXEC carries a
 * serial (its `arg`) under which its positions wait here until the reply comes; 0 when nothing
 * queued in it names nodes, the common case, which costs nothing more.
 */
import { TRAITS, type NodeNaming } from '../resp/commandTraits.js';

export interface QueuedNaming {
  /** Position in EXEC's array. */
  readonly at: number;
  readonly naming: NodeNaming;
}

export class TransactionNamings {
  /** Commands queued in the open transaction so far. */
  private count = 0;
  private open: QueuedNaming[] = [];
  private serial = 0;
  /** EXECs sent and not yet answered whose transactions hold a naming command, oldest first. */
  private readonly sent = new Map<number, readonly QueuedNaming[]>();

  /** MULTI was sent (also DISCARD: what was queued is dropped). */
  begin(): void {
    this.count = 0;
    if (this.open.length > 0) this.open = [];
  }

  /** Command `id` was queued (answered +QUEUED when Redis accepts it). */
  queued(id: number): void {
    const naming = TRAITS.naming[id];
    if (naming !== null && naming !== undefined) this.open.push({ at: this.count, naming });
    this.count++;
  }

  /** EXEC was sent: the serial its queue entry carries (0: nothing in the transaction names nodes). */
  exec(): number {
    const open = this.open;
    this.begin();
    if (open.length === 0) return 0;
    this.serial = this.serial === 0x7fffffff ? 1 : this.serial + 1;
    this.sent.set(this.serial, open);
    return this.serial;
  }

  /**
   * EXEC `serial` was answered: its positions, forgotten here together with any older EXEC's
   * (one whose connection was lost before its reply came); null for serial 0.
   */
  take(serial: number): readonly QueuedNaming[] | null {
    if (serial === 0) return null;
    const found = this.sent.get(serial) ?? null;
    if (found === null) return null;
    for (const k of this.sent.keys()) {
      this.sent.delete(k);
      if (k === serial) break;
    }
    return found;
  }
}
