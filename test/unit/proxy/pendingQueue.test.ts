import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PendingQueue } from '../../../src/proxy/pendingQueue.js';

interface Entry {
  cmd: number;
  start: number;
  replies: number;
  kind: number;
  arg: number;
}

const entry = (n: number): Entry => ({ cmd: n, start: n + 0.5, replies: (n % 7) - 1, kind: n % 11, arg: 1000 - n });

function push(q: PendingQueue, e: Entry): void {
  q.push(e.cmd, e.start, e.replies, e.kind, e.arg);
}

function head(q: PendingQueue): Entry {
  return { cmd: q.headCmd, start: q.headStart, replies: q.headReplies, kind: q.headKind, arg: q.headArg };
}

describe('PendingQueue', () => {
  it('is FIFO', () => {
    const q = new PendingQueue(4);
    for (let i = 1; i <= 3; i++) push(q, entry(i));
    expect(q.length).toBe(3);
    for (let i = 1; i <= 3; i++) {
      expect(head(q)).toEqual(entry(i));
      q.shift();
    }
    expect(q.length).toBe(0);
  });

  it('keeps FIFO order through wrap-around and growth while wrapped', () => {
    const q = new PendingQueue(8);
    let next = 0;
    let expected = 0;
    // Move the head to the middle of the ring, then fill past capacity so grow() runs wrapped.
    for (let i = 0; i < 6; i++) push(q, entry(next++));
    for (let i = 0; i < 5; i++) {
      expect(head(q)).toEqual(entry(expected++));
      q.shift();
    }
    for (let i = 0; i < 200; i++) push(q, entry(next++));
    expect(q.length).toBe(201);
    while (q.length > 0) {
      expect(head(q)).toEqual(entry(expected++));
      q.shift();
    }
    expect(expected).toBe(next);
  });

  it('matches a plain array model under random push/shift sequences (default capacity)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 90 })), { maxLength: 120 }), (ops) => {
        const q = new PendingQueue();
        const model: Entry[] = [];
        let n = 0;
        for (const op of ops) {
          if (op === -1) {
            if (model.length === 0) continue;
            expect(head(q)).toEqual(model.shift());
            q.shift();
          } else {
            for (let i = 0; i < op; i++) {
              const e = entry(n++);
              push(q, e);
              model.push(e);
            }
          }
          expect(q.length).toBe(model.length);
          if (model.length > 0) expect(head(q)).toEqual(model[0]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('headReplies can be rewritten in place', () => {
    const q = new PendingQueue(2);
    push(q, entry(1));
    push(q, entry(2));
    q.headReplies = 5;
    expect(q.headReplies).toBe(5);
    q.shift();
    expect(q.headReplies).toBe(entry(2).replies);
  });

  it('restamp sets the start time of every pending entry (wrapped and grown) and nothing else', () => {
    const q = new PendingQueue(4);
    for (let i = 0; i < 3; i++) push(q, entry(i));
    q.shift();
    q.shift();
    for (let i = 3; i < 9; i++) push(q, entry(i)); // wraps, then grows
    q.restamp(1234.5);
    for (let i = 2; i < 9; i++) {
      expect(head(q)).toEqual({ ...entry(i), start: 1234.5 });
      q.shift();
    }
    push(q, entry(42));
    expect(head(q)).toEqual(entry(42)); // restamp does not affect later pushes
  });

  it('clear empties it and it is usable afterwards', () => {
    const q = new PendingQueue(2);
    for (let i = 0; i < 5; i++) push(q, entry(i));
    q.clear();
    expect(q.length).toBe(0);
    push(q, entry(9));
    expect(head(q)).toEqual(entry(9));
    expect(q.length).toBe(1);
  });
});
