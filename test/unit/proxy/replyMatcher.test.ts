import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandIndex } from '../../../src/resp/commandIndex.js';
import { RespScanner } from '../../../src/resp/scanner.js';
import { ReplyMatcher, specialIds } from '../../../src/proxy/replyMatcher.js';
import { BUCKET_SLOTS, ListenerStats, type Histograms } from '../../../src/metrics/listenerStats.js';
import { MetricsRegistry } from '../../../src/metrics/metricsRegistry.js';
import { ERROR_CODES, PUSH_KINDS } from '../../../src/metrics/metricTable.js';
import { RawConnection, sleep, startRedis, type RedisServer } from '../realRedis.js';

const index = new CommandIndex();
const ids = specialIds(index);

/*
 * The matcher's API is being extended in the working tree (SessionState for replay after a
 * reconnect): the constructor becomes (ids, stats, state, onTrouble) and onRequest takes the
 * command id and decoded arguments, as session.ts computes them. The harness drives either API
 * the way the session does, so these tests pin the matching behaviour across that change.
 */
type AnyMatcher = ReplyMatcher & { onRequest(...args: unknown[]): void };
const EXTENDED_API = ReplyMatcher.length >= 4;
const extended = EXTENDED_API ? await loadExtendedApi() : null;

async function loadExtendedApi() {
  const statePath = '../../../src/proxy/sessionState.js';
  const codecPath = '../../../src/resp/commandCodec.js';
  const state = (await import(/* @vite-ignore */ statePath)) as {
    SessionState: new (ids: unknown) => { needsArgs(cmd: number): boolean };
    stateIds: (index: CommandIndex) => unknown;
  };
  const codec = (await import(/* @vite-ignore */ codecPath)) as { decodeCommand(frame: Buffer): Buffer[] | null };
  return { ...state, ...codec };
}

/** One client connection as the session sees it: request and reply scanners feeding a matcher. */
class Conn {
  readonly matcher: ReplyMatcher;
  now = 0;
  /** Error codes the matcher reported as upstream trouble (extended API only). */
  readonly trouble: string[] = [];
  private readonly requests: RespScanner;
  private readonly replies: RespScanner;
  private chunk = Buffer.alloc(0);
  private frameStart = 0;

  constructor(readonly stats: ListenerStats | null = new ListenerStats('test', index.size)) {
    let onRequest: (s: RespScanner, end: number) => void;
    if (extended !== null) {
      const state = new extended.SessionState(extended.stateIds(index));
      const Ctor = ReplyMatcher as unknown as new (...a: unknown[]) => ReplyMatcher;
      this.matcher = new Ctor(ids, stats, state, (code: string) => this.trouble.push(code));
      onRequest = (s, end) => {
        const id = s.frameCount > 0 ? index.lookup(s) : 0;
        const frame = this.chunk.subarray(this.frameStart, end);
        const args = s.frameCount > 0 && !this.matcher.inMulti && state.needsArgs(id) ? extended.decodeCommand(frame) : null;
        (this.matcher as AnyMatcher).onRequest(s, id, this.now, args);
      };
    } else {
      const Ctor = ReplyMatcher as unknown as new (...a: unknown[]) => ReplyMatcher;
      this.matcher = new Ctor(index, ids, stats);
      onRequest = (s) => (this.matcher as AnyMatcher).onRequest(s, this.now);
    }
    this.requests = new RespScanner('request', {
      onFrame: (s, end) => {
        onRequest(s, end);
        this.frameStart = end;
      },
      onProtocolError: (m) => expect.fail(`request stream: ${m}`),
    });
    this.replies = new RespScanner('reply', {
      onFrame: (s) => this.matcher.onReply(s, this.now),
      onProtocolError: (m) => expect.fail(`reply stream: ${m}`),
    });
  }

  /** Sends whole frames (the harness decodes arguments from the chunk, as the session does). */
  send(bytes: string, at?: number): this {
    if (at !== undefined) this.now = at;
    this.chunk = Buffer.from(bytes, 'latin1');
    this.frameStart = 0;
    this.requests.feed(this.chunk);
    return this;
  }

  recv(bytes: string, at?: number): this {
    if (at !== undefined) this.now = at;
    this.replies.feed(Buffer.from(bytes, 'latin1'));
    return this;
  }

  get s(): ListenerStats {
    if (this.stats === null) throw new Error('no stats');
    return this.stats;
  }

  commands(label: string): number {
    return this.s.commands[index.idOf(label)]!;
  }

  /** Observations of `label` in the ordinary latency histogram. */
  observed(label: string): number {
    return count(this.s.durations, index.idOf(label));
  }

  blockingObserved(label: string): number {
    return count(this.s.blockingDurations, index.idOf(label));
  }

  /** Sum of the observed latencies of `label`, in milliseconds. */
  latencyMs(label: string): number {
    return Math.round(this.s.durations.sums[index.idOf(label)]! * 1e6) / 1e3;
  }

  errors(label: string, code: string): number {
    const c = ERROR_CODES.indexOf(code);
    expect(c).toBeGreaterThanOrEqual(0);
    return this.s.errors[index.idOf(label) * ERROR_CODES.length + c]!;
  }

  totalErrors(): number {
    return this.s.errors.reduce((a, b) => a + b, 0);
  }

  push(kind: string): number {
    const k = PUSH_KINDS.indexOf(kind);
    expect(k).toBeGreaterThanOrEqual(0);
    return this.s.push[k]!;
  }

  totalObserved(): number {
    return this.s.durations.buckets.reduce((a, b) => a + b, 0) + this.s.blockingDurations.buckets.reduce((a, b) => a + b, 0);
  }
}

function count(h: Histograms, id: number): number {
  let n = 0;
  for (let b = 0; b < BUCKET_SLOTS; b++) n += h.buckets[id * BUCKET_SLOTS + b]!;
  return n;
}

// --- reply builders --------------------------------------------------------------------------

const bulk = (s: string | null): string => (s === null ? '$-1\r\n' : `$${Buffer.byteLength(s, 'latin1')}\r\n${s}\r\n`);
const conf = (kind: string, channel: string | null, n: number, resp3 = false): string => `${resp3 ? '>' : '*'}3\r\n${bulk(kind)}${bulk(channel)}:${n}\r\n`;
const message = (channel: string, payload: string, resp3 = false): string => `${resp3 ? '>' : '*'}3\r\n${bulk('message')}${bulk(channel)}${bulk(payload)}`;
const pmessage = (pattern: string, channel: string, payload: string): string => `*4\r\n${bulk('pmessage')}${bulk(pattern)}${bulk(channel)}${bulk(payload)}`;
const array = (...items: string[]): string => `*${items.length}\r\n${items.join('')}`;
const HELLO3_REPLY =
  '%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n' +
  '$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n';
const SUBSCRIBED_PONG = array(bulk('pong'), bulk(''));

// --- scenarios: what the client sends, what the server answers -------------------------------

interface Step {
  /** Bytes the client sends. */
  send?: string;
  /** Bytes another client sends (PUBLISH, commands seen by MONITOR); its replies are ignored. */
  other?: string;
  /** What the client receives after this step, as redis-server 7 sends it. Alternatives: any order Redis may pick. */
  reply?: string | string[];
  at?: number;
}

/** Feeds a scenario through a Conn (send, then the first alternative of the reply). */
function drive(c: Conn, steps: Step[], check?: (c: Conn, step: number) => void): Conn {
  steps.forEach((st, i) => {
    if (st.at !== undefined) c.now = st.at;
    if (st.send !== undefined) c.send(st.send);
    const r = Array.isArray(st.reply) ? st.reply[0] : st.reply;
    if (r !== undefined) c.recv(r);
    check?.(c, i);
  });
  return c;
}

/** Volatile parts of replies (client ids, versions, MONITOR timestamps and ports). */
function normalize(text: string): string {
  return text
    .replace(/\$2\r\nid\r\n:\d+\r\n/g, '$2\r\nid\r\n:ID\r\n')
    .replace(/\$7\r\nversion\r\n\$\d+\r\n[^\r]*\r\n/g, '$7\r\nversion\r\nVERSION\r\n')
    .replace(/\+\d+\.\d+ \[0 127\.0\.0\.1:\d+\]/g, '+TIME [0 ADDR]');
}

const SCENARIOS: Record<string, Step[]> = {
  pipelining: [
    { send: 'GET pipe:a\r\n', at: 0 },
    { send: 'SET pipe:b 1\r\n', at: 1 },
    { send: 'INCR pipe:c\r\n', at: 2 },
    { reply: '$-1\r\n', at: 10 },
    { reply: '+OK\r\n', at: 20 },
    { reply: ':1\r\n', at: 30 },
  ],
  subscribe: [
    { send: 'SUBSCRIBE a b c\r\n', at: 0 },
    { reply: conf('subscribe', 'a', 1), at: 1 },
    { reply: conf('subscribe', 'b', 2), at: 2 },
    { reply: conf('subscribe', 'c', 3), at: 3 },
    { other: 'PUBLISH a hello\r\n', reply: message('a', 'hello'), at: 4 },
    { other: 'PUBLISH c x\r\n', reply: message('c', 'x'), at: 5 },
    { send: 'PING\r\n', reply: SUBSCRIBED_PONG, at: 6 },
  ],
  psubscribe: [
    { send: 'PSUBSCRIBE n*\r\n', reply: conf('psubscribe', 'n*', 1) },
    { other: 'PUBLISH news x\r\n', reply: pmessage('n*', 'news', 'x') },
    { send: 'PUNSUBSCRIBE\r\n', reply: conf('punsubscribe', 'n*', 0) },
    { send: 'GET psub:k\r\n', reply: '$-1\r\n' },
  ],
  ssubscribe: [
    { send: 'SSUBSCRIBE s1 s2\r\n', reply: conf('ssubscribe', 's1', 1) + conf('ssubscribe', 's2', 2) },
    { other: 'SPUBLISH s1 hi\r\n', reply: array(bulk('smessage'), bulk('s1'), bulk('hi')) },
    { send: 'SUNSUBSCRIBE s1 s2\r\n', reply: conf('sunsubscribe', 's1', 1) + conf('sunsubscribe', 's2', 0) },
    { send: 'PING\r\n', reply: '+PONG\r\n' },
  ],
  unsubscribeAll: [
    { send: 'SUBSCRIBE a b\r\n', reply: conf('subscribe', 'a', 1) + conf('subscribe', 'b', 2) },
    { send: 'UNSUBSCRIBE\r\nPING\r\n' },
    { reply: [conf('unsubscribe', 'a', 1), conf('unsubscribe', 'b', 1)] },
    { reply: [conf('unsubscribe', 'b', 0), conf('unsubscribe', 'a', 0)] },
    { reply: '+PONG\r\n' },
  ],
  unsubscribeNothing: [
    { send: 'UNSUBSCRIBE\r\nPING\r\n' },
    { reply: conf('unsubscribe', null, 0) },
    { reply: '+PONG\r\n' },
  ],
  resp3: [
    { send: 'HELLO 3\r\n', reply: HELLO3_REPLY },
    { send: 'SUBSCRIBE a b\r\n', reply: conf('subscribe', 'a', 1, true) + conf('subscribe', 'b', 2, true) },
    { other: 'PUBLISH a hi\r\n', reply: message('a', 'hi', true) },
    { send: 'RPUSH r3:l message x y\r\n', reply: ':3\r\n' },
    { send: 'LRANGE r3:l 0 -1\r\n', reply: array(bulk('message'), bulk('x'), bulk('y')) },
    { send: 'UNSUBSCRIBE a b\r\n', reply: conf('unsubscribe', 'a', 1, true) + conf('unsubscribe', 'b', 0, true) },
    { send: 'PING\r\n', reply: '+PONG\r\n' },
  ],
  arrayLikeMessageInResp2: [
    { send: 'RPUSH r2:l message x y\r\n', reply: ':3\r\n' },
    { send: 'LRANGE r2:l 0 -1\r\n', reply: array(bulk('message'), bulk('x'), bulk('y')) },
    { send: 'RPUSH r2:m subscribe a 1\r\n', reply: ':3\r\n' },
    { send: 'LRANGE r2:m 0 -1\r\n', reply: array(bulk('subscribe'), bulk('a'), bulk('1')) },
  ],
  monitor: [
    { send: 'MONITOR\r\n', reply: '+OK\r\n' },
    { other: 'SET mon:k v\r\n', reply: '+1795566345.793941 [0 127.0.0.1:44976] "SET" "mon:k" "v"\r\n' },
    // Redis 7 feeds monitors after running the command: the client's own PING follows its +PONG.
    { send: 'PING\r\n', reply: '+PONG\r\n+1795566345.848785 [0 127.0.0.1:44964] "PING"\r\n' },
  ],
  replyOff: [
    { send: 'CLIENT REPLY OFF\r\nSET ro:k 1\r\nGET ro:k\r\nCLIENT REPLY ON\r\n', reply: '+OK\r\n' },
    { send: 'GET ro:k\r\n', reply: bulk('1') },
  ],
  replySkip: [{ send: 'CLIENT REPLY SKIP\r\nSET rs:k 2\r\nGET rs:k\r\n', reply: bulk('2') }],
  replySkipEmptyMultibulk: [{ send: 'CLIENT REPLY SKIP\r\n*0\r\nPING\r\n', reply: '+PONG\r\n' }],
  replySkipEmptyInline: [{ send: 'CLIENT REPLY SKIP\r\n\r\nPING\r\n', reply: '+PONG\r\n' }],
  replySkipThenOn: [{ send: 'CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n', reply: '+OK\r\n+PONG\r\n' }],
  replySkipWhileOff: [{ send: 'CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY ON\r\nPING\r\n', reply: '+OK\r\n+PONG\r\n' }],
  replySkipThenReset: [{ send: 'CLIENT REPLY SKIP\r\nRESET\r\nPING\r\n', reply: '+PONG\r\n' }],
  replyOffThenReset: [{ send: 'CLIENT REPLY OFF\r\nPING\r\nRESET\r\nPING\r\n', reply: '+RESET\r\n+PONG\r\n' }],
  multiExec: [
    { send: 'MULTI\r\nSET mx:k 1\r\nINCR mx:k\r\nEXEC\r\n', reply: '+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n' },
    { send: 'MULTI\r\nNOSUCHCMD a\r\nEXEC\r\n', reply: "+OK\r\n-ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' \r\n-EXECABORT Transaction discarded because of previous errors.\r\n" },
    { send: 'MULTI\r\nGET mx:k\r\nDISCARD\r\n', reply: '+OK\r\n+QUEUED\r\n+OK\r\n' },
  ],
  resetLeavesSubscribedMode: [
    { send: 'SUBSCRIBE rr\r\n', reply: conf('subscribe', 'rr', 1) },
    { send: 'RESET\r\n', reply: '+RESET\r\n' },
    { send: 'RPUSH rst:l message x y\r\nLRANGE rst:l 0 -1\r\n', reply: ':3\r\n' + array(bulk('message'), bulk('x'), bulk('y')) },
  ],
  resetAfterHello3: [
    { send: 'HELLO 3\r\n', reply: HELLO3_REPLY },
    { send: 'RESET\r\n', reply: '+RESET\r\n' },
    { send: 'PING\r\n', reply: '+PONG\r\n' },
  ],
  resetInsideMulti: [
    { send: 'MULTI\r\n', reply: '+OK\r\n' },
    { send: 'RESET\r\n', reply: '+RESET\r\n' },
    { send: 'SUBSCRIBE a b\r\n', reply: conf('subscribe', 'a', 1) + conf('subscribe', 'b', 2) },
    { send: 'PING\r\n', reply: SUBSCRIBED_PONG },
  ],
  errors: [
    { send: 'SET er:k x\r\nLPUSH er:k y\r\n', reply: '+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n' },
    { send: 'NOSUCHCMD\r\n', reply: "-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n" },
    { send: 'HELLO 4\r\n', reply: '-NOPROTO unsupported protocol version\r\n' },
  ],
  xread: [
    { send: 'XADD xr:s 1-1 f v\r\n', reply: bulk('1-1') },
    { send: 'XREAD STREAMS xr:s 0\r\n', reply: array(array(bulk('xr:s'), array(array(bulk('1-1'), array(bulk('f'), bulk('v')))))) },
    { send: 'XREAD COUNT 1 BLOCK 10 STREAMS xr:s $\r\n', reply: '*-1\r\n' },
  ],
  blocking: [
    { send: 'BLPOP bl:none 0.01\r\n', reply: '*-1\r\n' },
    { send: 'WAIT 0 0\r\n', reply: ':0\r\n' },
  ],
  quit: [{ send: 'QUIT\r\n', reply: '+OK\r\n' }],
};

// --- the matcher, driven by these streams ----------------------------------------------------

describe('ReplyMatcher', () => {
  it('pipelining: each reply answers the oldest command, with its own latency', () => {
    const c = drive(new Conn(), SCENARIOS.pipelining!, (c, i) => expect(c.matcher.pending).toBe([1, 2, 3, 2, 1, 0][i]));
    expect([c.commands('get'), c.commands('set'), c.commands('incr')]).toEqual([1, 1, 1]);
    expect([c.latencyMs('get'), c.latencyMs('set'), c.latencyMs('incr')]).toEqual([10, 19, 28]);
    expect(c.totalErrors()).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('SUBSCRIBE a b c: answered by the third confirmation; messages are pushes', () => {
    const c = drive(new Conn(), SCENARIOS.subscribe!, (c, i) => {
      expect([i, c.matcher.pending]).toEqual([i, [1, 1, 1, 0, 0, 0, 0][i]]);
    });
    expect(c.matcher.channels).toBe(3);
    expect(c.matcher.subscribed).toBe(true);
    expect(c.observed('subscribe')).toBe(1);
    expect(c.latencyMs('subscribe')).toBe(3);
    expect(c.push('message')).toBe(2);
    expect(c.observed('ping')).toBe(1);
    expect(c.push('other')).toBe(0);
  });

  it('PSUBSCRIBE then pmessage, PUNSUBSCRIBE leaves subscribed mode', () => {
    const c = drive(new Conn(), SCENARIOS.psubscribe!, (c, i) => {
      if (i === 0) expect(c.matcher.patterns).toBe(1);
    });
    expect(c.push('pmessage')).toBe(1);
    expect(c.matcher.patterns).toBe(0);
    expect(c.matcher.subscribed).toBe(false);
    expect([c.observed('psubscribe'), c.observed('punsubscribe'), c.observed('get')]).toEqual([1, 1, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('SSUBSCRIBE then smessage, SUNSUBSCRIBE', () => {
    const c = drive(new Conn(), SCENARIOS.ssubscribe!, (c, i) => {
      if (i === 0) expect([c.matcher.shardChannels, c.matcher.pending]).toEqual([2, 0]);
    });
    expect(c.push('smessage')).toBe(1);
    expect(c.matcher.shardChannels).toBe(0);
    expect([c.observed('ssubscribe'), c.observed('sunsubscribe'), c.observed('ping')]).toEqual([1, 1, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('UNSUBSCRIBE without arguments, two channels subscribed: waits for exactly two confirmations', () => {
    const c = drive(new Conn(), SCENARIOS.unsubscribeAll!, (c, i) => {
      expect([i, c.matcher.pending]).toEqual([i, [0, 2, 2, 1, 0][i]]);
    });
    expect(c.observed('unsubscribe')).toBe(1);
    expect(c.observed('ping')).toBe(1);
    expect(c.matcher.subscribed).toBe(false);
    expect(c.push('other')).toBe(0);
  });

  it('UNSUBSCRIBE with nothing subscribed: one confirmation answers it', () => {
    const c = drive(new Conn(), SCENARIOS.unsubscribeNothing!, (c, i) => {
      expect([i, c.matcher.pending]).toEqual([i, [2, 1, 0][i]]);
    });
    expect([c.observed('unsubscribe'), c.observed('ping')]).toEqual([1, 1]);
    expect(c.push('other')).toBe(0);
  });

  it('RESP3 after HELLO 3: push confirmations and messages; an array reply with "message" is a reply', () => {
    const c = drive(new Conn(), SCENARIOS.resp3!, (c, i) => {
      if (i === 0) expect(c.matcher.protocol).toBe(3);
      if (i === 1) expect([c.matcher.channels, c.matcher.pending]).toEqual([2, 0]);
    });
    expect(c.push('message')).toBe(1);
    expect([c.observed('hello'), c.observed('subscribe'), c.observed('rpush'), c.observed('lrange'), c.observed('unsubscribe'), c.observed('ping')]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.matcher.subscribed).toBe(false);
    expect(c.push('other')).toBe(0);
  });

  it('RESP3 pushes of other kinds: invalidate, unknown, and a confirmation nobody asked for', () => {
    const c = new Conn();
    c.send('HELLO 3\r\n').recv(HELLO3_REPLY);
    c.send('GET k\r\n');
    c.recv(`>2\r\n${bulk('invalidate')}${array(bulk('k'))}`);
    c.recv(`>2\r\n${bulk('something-new')}:1\r\n`);
    c.recv(conf('sunsubscribe', 'moved-slot', 0, true));
    expect(c.matcher.pending).toBe(1);
    c.recv(bulk(null));
    expect([c.push('invalidate'), c.push('other'), c.observed('get'), c.matcher.pending]).toEqual([1, 2, 1, 0]);
  });

  it('RESP2, not subscribed: an array reply ["message","x","y"] (or ["subscribe","a","1"]) answers LRANGE', () => {
    const c = drive(new Conn(), SCENARIOS.arrayLikeMessageInResp2!);
    expect(c.observed('lrange')).toBe(2);
    expect(c.push('message')).toBe(0);
    expect(c.push('other')).toBe(0);
    expect(c.matcher.channels).toBe(0);
    expect(c.matcher.pending).toBe(0);
  });

  it('MONITOR: monitor lines are pushes; PING is still answered by +PONG', () => {
    const c = drive(new Conn(), SCENARIOS.monitor!, (c, i) => {
      if (i === 0) expect(c.matcher.monitoring).toBe(true);
    });
    expect(c.push('monitor')).toBe(2);
    expect([c.observed('monitor'), c.observed('ping')]).toEqual([1, 1]);
    expect(c.matcher.pending).toBe(0);
    // A +1700000000.1 line from before MONITOR's +OK is not a monitor line.
    const d = new Conn().send('PING\r\n').recv('+1700000000.123 not monitoring\r\n');
    expect([d.observed('ping'), d.push('monitor')]).toEqual([1, 0]);
  });

  it('CLIENT REPLY OFF silences commands until ON, which gets its +OK', () => {
    const c = drive(new Conn(), SCENARIOS.replyOff!);
    expect([c.commands('client|reply'), c.commands('set'), c.commands('get')]).toEqual([2, 1, 2]);
    expect([c.observed('client|reply'), c.observed('set'), c.observed('get')]).toEqual([1, 0, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('CLIENT REPLY SKIP silences exactly the next command', () => {
    const c = drive(new Conn(), SCENARIOS.replySkip!);
    expect([c.observed('client|reply'), c.observed('set'), c.observed('get')]).toEqual([0, 0, 1]);
    expect(c.matcher.pending).toBe(0);
  });

  it('an empty command (*0 or an empty line) uses up a CLIENT REPLY SKIP', () => {
    for (const name of ['replySkipEmptyMultibulk', 'replySkipEmptyInline']) {
      const c = drive(new Conn(), SCENARIOS[name]!);
      expect([name, c.observed('ping'), c.matcher.pending, c.push('other')]).toEqual([name, 1, 0, 0]);
    }
  });

  it('CLIENT REPLY ON right after SKIP gets its +OK', () => {
    const c = drive(new Conn(), SCENARIOS.replySkipThenOn!);
    expect([c.observed('client|reply'), c.observed('ping'), c.matcher.pending]).toEqual([1, 1, 0]);
  });

  it('CLIENT REPLY SKIP while OFF is ignored', () => {
    const c = drive(new Conn(), SCENARIOS.replySkipWhileOff!);
    expect([c.observed('client|reply'), c.observed('ping'), c.matcher.pending]).toEqual([1, 1, 0]);
    expect(c.push('other')).toBe(0);
  });

  it('RESET after SKIP is itself skipped; RESET while OFF is answered', () => {
    const a = drive(new Conn(), SCENARIOS.replySkipThenReset!);
    expect([a.observed('reset'), a.observed('ping'), a.matcher.pending]).toEqual([0, 1, 0]);
    const b = drive(new Conn(), SCENARIOS.replyOffThenReset!);
    expect([b.observed('reset'), b.observed('ping'), b.matcher.pending, b.push('other')]).toEqual([1, 1, 0, 0]);
  });

  it('MULTI/QUEUED/EXEC, EXECABORT and DISCARD: one reply per command', () => {
    const c = drive(new Conn(), SCENARIOS.multiExec!, (c, i) => {
      if (i === 0) expect(c.matcher.inMulti).toBe(false);
    });
    expect([c.observed('multi'), c.observed('set'), c.observed('incr'), c.observed('exec'), c.observed('discard'), c.observed('get')]).toEqual([3, 1, 1, 2, 1, 1]);
    expect(c.errors('unknown', 'ERR')).toBe(1);
    expect(c.errors('exec', 'EXECABORT')).toBe(1);
    expect(c.totalErrors()).toBe(2);
    expect(c.matcher.pending).toBe(0);
    expect(c.matcher.inMulti).toBe(false);
  });

  it('RESET leaves subscribed mode: an array like a message is then a reply', () => {
    const c = drive(new Conn(), SCENARIOS.resetLeavesSubscribedMode!, (c, i) => {
      if (i === 0) expect(c.matcher.subscribed).toBe(true);
      if (i === 1) expect(c.matcher.subscribed).toBe(false);
    });
    expect([c.observed('reset'), c.observed('lrange'), c.push('message'), c.matcher.pending]).toEqual([1, 1, 0, 0]);
  });

  it('RESET returns the protocol to 2 and ends MONITOR', () => {
    const c = drive(new Conn(), SCENARIOS.resetAfterHello3!, (c, i) => {
      expect([i, c.matcher.protocol]).toEqual([i, [3, 2, 2][i]]);
    });
    expect(c.matcher.pending).toBe(0);
    const m = new Conn().send('MONITOR\r\n').recv('+OK\r\n').send('RESET\r\n').recv('+RESET\r\n');
    expect(m.matcher.monitoring).toBe(false);
  });

  it('a failed HELLO 3 does not change the protocol', () => {
    const c = new Conn().send('HELLO 3 AUTH nosuchuser x\r\n').recv('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect(c.matcher.protocol).toBe(2);
    expect(c.errors('hello', 'WRONGPASS')).toBe(1);
  });

  it('RESET inside MULTI ends the transaction (Redis runs RESET at once, not queued)', () => {
    // replyMatcher.ts onRequest(): while inMulti only EXEC/DISCARD are looked at, so RESET gets
    // kind K_PLAIN and its +RESET never calls resetModes(); inMulti stays true and the following
    // SUBSCRIBE a b is a plain one-reply command.
    const c = drive(new Conn(), SCENARIOS.resetInsideMulti!, (c, i) => {
      if (i === 1) expect(c.matcher.inMulti).toBe(false);
    });
    expect(c.observed('subscribe')).toBe(1);
    expect(c.matcher.channels).toBe(2);
    expect(c.observed('ping')).toBe(1);
    expect(c.push('other')).toBe(0);
    expect(c.matcher.pending).toBe(0);
  });

  it('classifies errors by their first word: WRONGTYPE, ERR, NOPROTO, MOVED, ASK; unknown codes are "other"', () => {
    const c = drive(new Conn(), SCENARIOS.errors!);
    expect(c.errors('lpush', 'WRONGTYPE')).toBe(1);
    expect(c.errors('unknown', 'ERR')).toBe(1);
    expect(c.errors('hello', 'NOPROTO')).toBe(1);
    c.send('GET k\r\nGET j\r\nGET l\r\nGET m\r\nGET n\r\n');
    c.recv('-MOVED 3999 127.0.0.1:6381\r\n-ASK 3999 127.0.0.1:6381\r\n-FOO bar\r\n-NOSPACE\r\n!21\r\nBUSYKEY Target exists\r\n');
    expect([c.errors('get', 'MOVED'), c.errors('get', 'ASK'), c.errors('get', 'other'), c.errors('get', 'BUSYKEY')]).toEqual([1, 1, 2, 1]);
    expect(c.errors('set', 'ERR')).toBe(0);
    expect(c.totalErrors()).toBe(8);
    expect(c.observed('get')).toBe(5); // errors are answers too
  });

  it('XREAD with BLOCK is observed in blockingDurations, BLPOP and WAIT too', () => {
    const c = new Conn();
    drive(c, [SCENARIOS.xread![0]!, SCENARIOS.xread![2]!]);
    drive(c, SCENARIOS.blocking!);
    expect(c.blockingObserved('xread')).toBe(1);
    expect([c.blockingObserved('blpop'), c.blockingObserved('wait')]).toEqual([1, 1]);
    expect([c.observed('xread'), c.observed('blpop'), c.observed('wait'), c.observed('xadd')]).toEqual([0, 0, 0, 1]);
  });

  it('XREAD without BLOCK is observed in durations, not blockingDurations', () => {
    // commandTable.ts marks xread/xreadgroup blocking: true (Redis's "blocking" flag means "may
    // block"), so onRequest's `this.index.blocking[id] === 1 ||` short-circuits isBlockingRead().
    const c = drive(new Conn(), SCENARIOS.xread!.slice(0, 2));
    expect([c.observed('xread'), c.blockingObserved('xread')]).toEqual([1, 0]);
  });

  it('XREAD/XREADGROUP: a key, group or consumer named "block" is not the BLOCK option', () => {
    // isBlockingRead() looks for "block" in every captured token, also after STREAMS and as
    // XREADGROUP's group/consumer name, though its comment says BLOCK comes before STREAMS.
    const c = new Conn();
    c.send('XREAD STREAMS block 0\r\n').recv('*-1\r\n');
    c.send('XREADGROUP GROUP block c1 STREAMS s >\r\n').recv('*-1\r\n');
    expect([c.observed('xread'), c.observed('xreadgroup')]).toEqual([1, 1]);
  });

  it('a reply with nothing pending is counted as push "other", without a crash', () => {
    const c = new Conn();
    c.recv('+OK\r\n:1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n-ERR x\r\n');
    expect(c.push('other')).toBe(4);
    expect(c.matcher.pending).toBe(0);
    expect(c.totalObserved()).toBe(0);
    expect(c.totalErrors()).toBe(0);
    // and a later command is still matched normally
    c.send('PING\r\n').recv('+PONG\r\n');
    expect(c.observed('ping')).toBe(1);
  });

  it('QUIT is answered by +OK like any command', () => {
    const c = drive(new Conn(), SCENARIOS.quit!);
    expect([c.observed('quit'), c.matcher.pending]).toEqual([1, 0]);
  });

  it('counts unknown commands as "unknown" and empty commands not at all', () => {
    const c = new Conn().send('FOO bar\r\n*0\r\n\r\n').recv("-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n");
    expect(c.commands('unknown')).toBe(1);
    expect(c.s.commands.reduce((a, b) => a + b, 0)).toBe(1);
    expect(c.matcher.pending).toBe(0);
  });

  it('keeps modes right with metrics off (stats null)', () => {
    const c = drive(new Conn(null), SCENARIOS.subscribe!);
    expect([c.matcher.channels, c.matcher.pending]).toEqual([3, 0]);
    drive(c, [{ send: 'UNSUBSCRIBE\r\n', reply: conf('unsubscribe', 'a', 2) + conf('unsubscribe', 'b', 1) }]);
    expect(c.matcher.pending).toBe(1);
    c.recv(conf('unsubscribe', 'c', 0));
    expect([c.matcher.channels, c.matcher.pending, c.matcher.subscribed]).toEqual([0, 0, false]);
  });

  it('works with ListenerStats from MetricsRegistry.forListener', () => {
    const registry = new MetricsRegistry(index.names);
    const c = drive(new Conn(registry.forListener('redis')), SCENARIOS.pipelining!);
    expect(c.observed('get')).toBe(1);
  });

  it('abandonPending empties the queue and says how many; restamp restarts the clocks', () => {
    const c = new Conn();
    c.send('GET a\r\nGET b\r\n', 0);
    c.matcher.restamp(100);
    c.recv('$-1\r\n', 105);
    expect(c.latencyMs('get')).toBe(5);
    expect(c.matcher.abandonPending()).toBe(1);
    expect(c.matcher.pending).toBe(0);
  });
});

// --- the reply streams above are what a real redis-server 7 sends --------------------------

describe('the scenarios’ reply bytes match a real redis-server', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function replay(steps: Step[]): Promise<string> {
    const main = await RawConnection.open(redis.port);
    const other = await RawConnection.open(redis.port);
    try {
      let expected = 0;
      for (const st of steps) {
        if (st.send !== undefined) main.write(st.send);
        if (st.other !== undefined) other.write(st.other);
        // Wait for this step's replies before the next step (a PUBLISH must follow the SUBSCRIBE).
        expected += normalize(Array.isArray(st.reply) ? st.reply[0]! : st.reply ?? '').length;
        const deadline = Date.now() + 1500;
        while (normalize(main.bytes.toString('latin1')).length < expected && Date.now() < deadline) await sleep(2);
      }
      await sleep(60); // anything extra would arrive now
      return normalize(main.bytes.toString('latin1'));
    } finally {
      main.close();
      other.close();
    }
  }

  /** Every combination of the steps' reply alternatives, as full transcripts. */
  function transcripts(steps: Step[]): string[] {
    let out = [''];
    for (const st of steps) {
      const alts = st.reply === undefined ? [''] : Array.isArray(st.reply) ? st.reply : [st.reply];
      out = out.flatMap((prefix) => alts.map((a) => prefix + a));
    }
    return out.map(normalize);
  }

  for (const [name, steps] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      const real = await replay(steps);
      const allowed = transcripts(steps);
      if (!allowed.includes(real)) expect(real).toBe(allowed[0]);
    });
  }
});
