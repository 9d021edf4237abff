/**
 * ConnectionState on its own: the effects of commands as they are sent and once Redis accepted
 * them, CLIENT REPLY's modes as networking.c applies them, RESET, a lost connection, and the
 * commands that rebuild the state on a fresh connection, in the order they must run.
 * (How replies reach these methods is replyMatcher.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { ConnectionState, REPLY_OFF, REPLY_ON, REPLY_SKIP_NEXT, TRANSACTION_POISON } from '../../../src/proxy/connectionState.js';
import type { ReplayCommand } from '../../../src/upstream/replayCommand.js';
import { decodeCommand } from '../../../src/resp/commandCodec.js';
import { ROLE, TRAITS } from '../../../src/resp/commandTraits.js';

const args = (...words: string[]): Buffer[] => words.map((w) => Buffer.from(w, 'latin1'));

/** A replay command as [words, command label, replies, expectError]. */
function show(c: ReplayCommand): [string, string, number, boolean] {
  return [decodeCommand(c.bytes)!.map((b) => b.toString('latin1')).join(' '), TRAITS.names[c.cmd]!, c.replies, c.expectError === true];
}

const words = (st: ConnectionState): string[] => st.replay().map((c) => show(c)[0]);

/** A state with something of everything set, as accepted commands set it. */
function busy(): ConnectionState {
  const st = new ConnectionState();
  st.onAccepted(ROLE.AUTH, args('AUTH', 'app', 'pw'), 0);
  st.onAccepted(ROLE.HELLO, args('HELLO', '3', 'SETNAME', 'h'), 3);
  st.onAccepted(ROLE.SELECT, args('SELECT', '4'), 0);
  st.onAccepted(ROLE.CLIENT_SETNAME, args('CLIENT', 'SETNAME', 'worker'), 0);
  st.onAccepted(ROLE.READONLY, null, 0);
  st.onAccepted(ROLE.MONITOR, null, 0);
  st.onAccepted(ROLE.CLIENT_TRACKING, null, 1);
  st.subscriptions.add('channel', Buffer.from('c1'));
  st.subscriptions.add('pattern', Buffer.from('p*'));
  st.subscriptions.add('shard', Buffer.from('s1'));
  st.onSent(ROLE.WATCH);
  st.inMulti = true;
  st.silences('off', false);
  return st;
}

describe('ConnectionState: a fresh connection', () => {
  it('speaks RESP2, replies on, nothing held, nothing to replay', () => {
    const st = new ConnectionState();
    expect([st.protocol, st.inMulti, st.watching, st.watchLost, st.monitoring, st.replyMode, st.tracking, st.quitSent, st.replicating, st.subscribed]).toEqual([
      2,
      false,
      false,
      false,
      false,
      REPLY_ON,
      false,
      false,
      false,
      false,
    ]);
    expect(st.replay()).toEqual([]);
    expect(st.replayedProtocol).toBe(0);
  });
});

describe('ConnectionState.onSent', () => {
  it('WATCH holds from the moment it is sent; UNWATCH, EXEC, DISCARD and RESET clear it and a lost WATCH', () => {
    for (const clear of [ROLE.UNWATCH, ROLE.EXEC, ROLE.DISCARD, ROLE.RESET]) {
      const st = new ConnectionState();
      st.onSent(ROLE.WATCH);
      expect(st.watching).toBe(true);
      st.connectionLost();
      expect(st.watchLost).toBe(true);
      st.onSent(clear);
      expect([clear, st.watching, st.watchLost]).toEqual([clear, false, false]);
    }
  });

  it('QUIT marks the close that follows as its answer; other commands change nothing', () => {
    const st = new ConnectionState();
    for (const role of [ROLE.PLAIN, ROLE.MULTI, ROLE.SUBSCRIBE, ROLE.AUTH]) st.onSent(role);
    expect([st.quitSent, st.watching, st.inMulti]).toEqual([false, false, false]);
    st.onSent(ROLE.QUIT);
    expect(st.quitSent).toBe(true);
  });
});

describe('ConnectionState.onAccepted', () => {
  it('HELLO sets the protocol it asked for and is kept for replay with its arguments (not its name)', () => {
    const st = new ConnectionState();
    st.onAccepted(ROLE.HELLO, args('HELLO', '3', 'SETNAME', 'x'), 3);
    expect([st.protocol, st.replayedProtocol, words(st)]).toEqual([3, 3, ['HELLO 3 SETNAME x']]);
    // HELLO without a version answers in the current protocol and changes it not.
    st.onAccepted(ROLE.HELLO, args('HELLO'), 0);
    expect([st.protocol, st.replayedProtocol, words(st)]).toEqual([3, 0, ['HELLO']]);
    st.onAccepted(ROLE.HELLO, args('HELLO', '2'), 2);
    expect([st.protocol, st.replayedProtocol]).toEqual([2, 2]);
  });

  it('HELLO inside MULTI (no arguments kept) changes the protocol but records nothing to replay', () => {
    const st = new ConnectionState();
    st.onAccepted(ROLE.HELLO, null, 3);
    expect([st.protocol, st.replay()]).toEqual([3, []]);
  });

  it('AUTH, SELECT and CLIENT SETNAME are kept as their last accepted arguments', () => {
    const st = new ConnectionState();
    st.onAccepted(ROLE.AUTH, args('AUTH', 'old'), 0);
    st.onAccepted(ROLE.AUTH, args('AUTH', 'user', 'new'), 0);
    st.onAccepted(ROLE.SELECT, args('SELECT', '2'), 0);
    st.onAccepted(ROLE.SELECT, args('SELECT', '7'), 0);
    st.onAccepted(ROLE.CLIENT_SETNAME, args('CLIENT', 'SETNAME', 'a'), 0);
    st.onAccepted(ROLE.CLIENT_SETNAME, args('CLIENT', 'SETNAME', 'b'), 0);
    expect(words(st)).toEqual(['AUTH user new', 'SELECT 7', 'CLIENT SETNAME b']);
  });

  it('SELECT 0 needs no replay (a new connection starts there); malformed arguments change nothing', () => {
    const st = new ConnectionState();
    st.onAccepted(ROLE.SELECT, args('SELECT', '3'), 0);
    st.onAccepted(ROLE.SELECT, args('SELECT', '0'), 0);
    expect(words(st)).toEqual([]);
    st.onAccepted(ROLE.SELECT, args('SELECT', '5'), 0);
    st.onAccepted(ROLE.SELECT, args('SELECT'), 0);
    st.onAccepted(ROLE.SELECT, null, 0);
    st.onAccepted(ROLE.CLIENT_SETNAME, args('CLIENT', 'SETNAME'), 0);
    st.onAccepted(ROLE.CLIENT_SETNAME, null, 0);
    st.onAccepted(ROLE.AUTH, null, 0);
    expect(words(st)).toEqual(['SELECT 5']);
  });

  it('a binary client name is replayed byte for byte', () => {
    const st = new ConnectionState();
    const name = Buffer.from([0xff, 0x00, 0x41]);
    st.onAccepted(ROLE.CLIENT_SETNAME, [Buffer.from('CLIENT'), Buffer.from('SETNAME'), name], 0);
    expect(decodeCommand(st.replay()[0]!.bytes)![2]).toEqual(name);
  });

  it('READONLY is replayed until READWRITE', () => {
    const st = new ConnectionState();
    st.onAccepted(ROLE.READONLY, null, 0);
    expect(words(st)).toEqual(['READONLY']);
    st.onAccepted(ROLE.READWRITE, null, 0);
    expect(words(st)).toEqual([]);
  });

  it('MONITOR and CLIENT TRACKING on/off set their modes', () => {
    const st = new ConnectionState();
    st.onAccepted(ROLE.MONITOR, null, 0);
    st.onAccepted(ROLE.CLIENT_TRACKING, null, 1);
    expect([st.monitoring, st.tracking]).toEqual([true, true]);
    st.onAccepted(ROLE.CLIENT_TRACKING, null, 0);
    expect(st.tracking).toBe(false);
  });

  it('ordinary replies change nothing', () => {
    const st = busy();
    const before = words(st);
    for (const role of [ROLE.PLAIN, ROLE.BLOCKING, ROLE.MULTI, ROLE.EXEC, ROLE.SUBSCRIBE, ROLE.QUIT]) st.onAccepted(role, args('X', 'y'), 0);
    expect(words(st)).toEqual(before);
    expect([st.protocol, st.monitoring, st.tracking]).toEqual([3, true, true]);
  });

  it('an accepted RESET is a fresh connection again', () => {
    const st = busy();
    st.onAccepted(ROLE.RESET, null, 0);
    expect([st.protocol, st.inMulti, st.watching, st.monitoring, st.tracking, st.replyMode, st.subscribed]).toEqual([2, false, false, false, false, REPLY_ON, false]);
    expect(st.replay()).toEqual([]);
  });
});

describe('ConnectionState: subscribe-family commands queued in MULTI', () => {
  const queued = (): ConnectionState => {
    const st = new ConnectionState();
    st.subscriptions.add('channel', Buffer.from('old'));
    st.subscriptions.add('pattern', Buffer.from('p*'));
    st.onSent(ROLE.MULTI);
    st.queueSubscription(ROLE.SUBSCRIBE, args('SUBSCRIBE', 'a', 'b'));
    st.queueSubscription(ROLE.UNSUBSCRIBE, args('UNSUBSCRIBE', 'old'));
    st.queueSubscription(ROLE.SSUBSCRIBE, args('SSUBSCRIBE', 's'));
    return st;
  };

  it('take effect, in order, when EXEC commits', () => {
    const st = queued();
    expect(words(st)).toEqual(['SUBSCRIBE old', 'PSUBSCRIBE p*']);
    st.transactionDone(true);
    expect(words(st)).toEqual(['SUBSCRIBE a b', 'PSUBSCRIBE p*', 'SSUBSCRIBE s']);
    // Done once: a later commit does not apply them again.
    st.subscriptions.remove('channel', Buffer.from('a'));
    st.transactionDone(true);
    expect(words(st)[0]).toBe('SUBSCRIBE b');
  });

  it('an argument-less UNSUBSCRIBE queued drops every one of its kind', () => {
    const st = queued();
    st.queueSubscription(ROLE.PUNSUBSCRIBE, args('PUNSUBSCRIBE'));
    st.transactionDone(true);
    expect(words(st)).toEqual(['SUBSCRIBE a b', 'SSUBSCRIBE s']);
  });

  it('take no effect when the transaction did not commit', () => {
    const st = queued();
    st.transactionDone(false);
    expect(words(st)).toEqual(['SUBSCRIBE old', 'PSUBSCRIBE p*']);
  });

  it('are forgotten by a new MULTI, a lost connection and RESET', () => {
    for (const forget of [(st: ConnectionState) => st.onSent(ROLE.MULTI), (st: ConnectionState) => st.connectionLost(), (st: ConnectionState) => st.reset()]) {
      const st = queued();
      forget(st);
      st.transactionDone(true);
      expect(st.subscriptions.size('shard')).toBe(0);
    }
  });
});

describe('ConnectionState.silences: CLIENT REPLY as networking.c applies it', () => {
  /** [mode before, command, silenced, mode after]. */
  const table: [number, 'on' | 'off' | 'skip' | null | 'reset', boolean, number][] = [
    [REPLY_ON, null, false, REPLY_ON],
    [REPLY_ON, 'on', false, REPLY_ON],
    [REPLY_ON, 'off', true, REPLY_OFF],
    [REPLY_ON, 'skip', true, REPLY_SKIP_NEXT],
    [REPLY_ON, 'reset', false, REPLY_ON],
    [REPLY_OFF, null, true, REPLY_OFF],
    [REPLY_OFF, 'off', true, REPLY_OFF],
    [REPLY_OFF, 'skip', true, REPLY_OFF], // SKIP is ignored while OFF
    [REPLY_OFF, 'on', false, REPLY_ON],
    [REPLY_OFF, 'reset', false, REPLY_ON],
    [REPLY_SKIP_NEXT, null, true, REPLY_ON], // the skipped command
    [REPLY_SKIP_NEXT, 'on', false, REPLY_ON], // ON clears the skip and is answered
    [REPLY_SKIP_NEXT, 'off', true, REPLY_OFF],
    [REPLY_SKIP_NEXT, 'skip', true, REPLY_SKIP_NEXT],
    [REPLY_SKIP_NEXT, 'reset', true, REPLY_ON], // RESET is the skipped command, and still runs
  ];
  const enter = (st: ConnectionState, mode: number): void => {
    if (mode === REPLY_OFF) st.silences('off', false);
    if (mode === REPLY_SKIP_NEXT) st.silences('skip', false);
    expect(st.replyMode).toBe(mode);
  };
  for (const [before, command, silenced, after] of table) {
    it(`mode ${before}, ${command ?? 'any other command'}: ${silenced ? 'no reply' : 'a reply'}, then mode ${after}`, () => {
      const st = new ConnectionState();
      enter(st, before);
      expect(st.silences(command === 'reset' ? null : command, command === 'reset')).toBe(silenced);
      expect(st.replyMode).toBe(after);
    });
  }

  it('a RESET silenced by SKIP still resets the state', () => {
    const st = busy();
    st.silences('on', false);
    st.silences('skip', false);
    expect(st.silences(null, true)).toBe(true);
    expect([st.protocol, st.subscribed, st.replay()]).toEqual([2, false, []]);
  });

  it('an empty command uses up a SKIP, and leaves OFF alone', () => {
    const st = new ConnectionState();
    st.silences('skip', false);
    st.onEmptyCommand();
    expect(st.replyMode).toBe(REPLY_ON);
    st.silences('off', false);
    st.onEmptyCommand();
    expect(st.replyMode).toBe(REPLY_OFF);
  });
});

describe('ConnectionState.connectionLost', () => {
  it('the server side is new (RESP2, no MONITOR), a WATCH is lost; what the client set is kept for the replay', () => {
    const st = busy();
    const before = words(st);
    st.connectionLost();
    expect([st.protocol, st.monitoring, st.watching, st.watchLost, st.inMulti, st.tracking, st.replyMode]).toEqual([2, false, true, true, true, true, REPLY_OFF]);
    expect(words(st)).toEqual(before);
    expect(st.replayedProtocol).toBe(3);
  });

  it('without a WATCH nothing is marked lost', () => {
    const st = new ConnectionState();
    st.connectionLost();
    expect(st.watchLost).toBe(false);
  });
});

describe('ConnectionState.replay', () => {
  it('runs AUTH, HELLO, SELECT, CLIENT SETNAME, READONLY, the subscriptions, then MULTI and its poison, each with its id and replies', () => {
    const st = busy();
    st.subscriptions.add('channel', Buffer.from('c2'));
    expect(st.replay().map(show)).toEqual([
      ['AUTH app pw', 'auth', 1, false],
      ['HELLO 3 SETNAME h', 'hello', 1, false],
      ['SELECT 4', 'select', 1, false],
      ['CLIENT SETNAME worker', 'client|setname', 1, false],
      ['READONLY', 'readonly', 1, false],
      ['SUBSCRIBE c1 c2', 'subscribe', 2, false],
      ['PSUBSCRIBE p*', 'psubscribe', 1, false],
      ['SSUBSCRIBE s1', 'ssubscribe', 1, false],
      ['MULTI', 'multi', 1, false],
      ['ambassador-upstream-was-lost-transaction-aborted', 'unknown', 1, true],
    ]);
  });

  it('a transaction open at the loss is poisoned, so the client\'s EXEC fails rather than half-runs', () => {
    const st = new ConnectionState();
    st.inMulti = true;
    const replay = st.replay();
    expect(replay.map((c) => show(c)[0])).toEqual(['MULTI', 'ambassador-upstream-was-lost-transaction-aborted']);
    expect(replay[1]!.bytes).toEqual(TRANSACTION_POISON);
    // The poison is a command Redis does not know: refused, it marks the transaction.
    expect(replay[1]!.cmd).toBe(0);
  });

  it('is the same list each time it is asked (it describes the state, it does not consume it)', () => {
    const st = busy();
    expect(st.replay().map(show)).toEqual(st.replay().map(show));
  });
});
