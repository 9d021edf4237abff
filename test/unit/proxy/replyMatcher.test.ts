/**
 * ReplyMatcher with the real ConnectionState, fed the way the request and reply paths feed it:
 * client bytes through a request scanner and COMMAND_INDEX, reply bytes through a lean reply
 * scanner whose array capture the matcher itself decides. Checked: which reply answers which
 * command (counts, latencies, error codes, pushes), what the replies change in the connection
 * state, and the ambassador's own entries (replayed state, expected errors, local answers).
 * The last block checks that the reply bytes of each scenario are what a real redis-server sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionState } from '../../../src/proxy/connectionState.js';
import type { ReplayCommand } from '../../../src/upstream/replayCommand.js';
import { ReplyMatcher } from '../../../src/proxy/replyMatcher.js';
import { BUCKET_SLOTS, ListenerStats, type Histograms } from '../../../src/metrics/listenerStats.js';
import { MetricsRegistry } from '../../../src/metrics/metricsRegistry.js';
import { ERROR_CODES, PUSH_KINDS } from '../../../src/metrics/metricTable.js';
import { decodeCommand } from '../../../src/resp/commandCodec.js';
import { COMMAND_INDEX } from '../../../src/resp/commandIndex.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { RespScanner } from '../../../src/resp/scanner.js';
import { startRedis, type RedisServer } from '../realRedis.js';
import { RawClient } from '../../support/rawClient.js';
import { waitUntil } from '../../support/wait.js';

const id = (label: string): number => TRAITS.idOf(label);

/** One client connection as its session sees it: scanners on both sides, one matcher, one state. */
class Conn {
  readonly state = new ConnectionState();
  readonly matcher: ReplyMatcher;
  now = 0;
  /** Error codes the matcher reported as upstream trouble. */
  readonly trouble: string[] = [];
  /** What onReplayAnswered reported for each restoring command: null, or the refusal's code. */
  readonly replayAnswers: (string | null)[] = [];
  /** Reply frames the matcher kept from the client (answers to the ambassador's own commands). */
  internalFrames = 0;
  private readonly requests: RespScanner;
  private readonly replies: RespScanner;
  // Request bytes not yet part of a complete frame, and where the current frame starts in them.
  private buffered = Buffer.alloc(0);
  private frameStart = 0;
  private base = 0;

  constructor(readonly stats: ListenerStats | null = new ListenerStats('test', TRAITS.size)) {
    this.matcher = new ReplyMatcher(
      stats,
      this.state,
      (code) => this.trouble.push(code),
      (refusal) => this.replayAnswers.push(refusal),
    );
    this.requests = new RespScanner('request', {
      onFrame: (s, end) => {
        const at = this.base + end;
        const cmd = s.frameCount > 0 ? COMMAND_INDEX.lookup(s) : 0;
        // The arguments of every command whose arguments are state. (RequestPath skips decoding
        // where they cannot matter, inside MULTI; that is its test's concern, not the matcher's.)
        const wanted = s.frameCount > 0 && TRAITS.wantsArgs[cmd] === 1;
        const args = wanted ? decodeCommand(this.buffered.subarray(this.frameStart, at)) : null;
        this.matcher.onRequest(s, cmd, this.now, args);
        this.frameStart = at;
      },
      onProtocolError: (m) => expect.fail(`request stream: ${m}`),
      tokensWanted: (s) => COMMAND_INDEX.tokensWanted(s),
    });
    this.replies = new RespScanner(
      'reply',
      {
        onFrame: (s) => {
          if (this.matcher.onReply(s, this.now)) this.internalFrames++;
        },
        onProtocolError: (m) => expect.fail(`reply stream: ${m}`),
      },
      { lean: true, arrays: this.matcher },
    );
  }

  /** Client bytes, in one chunk or in the chunks given. */
  send(bytes: string | string[], at?: number): this {
    if (at !== undefined) this.now = at;
    for (const part of Array.isArray(bytes) ? bytes : [bytes]) {
      const chunk = Buffer.from(part, 'latin1');
      this.buffered = Buffer.concat([this.buffered.subarray(this.frameStart), chunk]);
      this.base = this.buffered.length - chunk.length;
      this.frameStart = 0;
      this.requests.feed(chunk);
    }
    return this;
  }

  /** Upstream bytes, in one chunk or in the chunks given. */
  recv(bytes: string | string[], at?: number): this {
    if (at !== undefined) this.now = at;
    for (const part of Array.isArray(bytes) ? bytes : [bytes]) this.replies.feed(Buffer.from(part, 'latin1'));
    return this;
  }

  get s(): ListenerStats {
    if (this.stats === null) throw new Error('no stats');
    return this.stats;
  }

  commands(label: string): number {
    return this.s.commands[labelId(label)]!;
  }

  /** Observations of `label` in the ordinary latency histogram. */
  observed(label: string): number {
    return count(this.s.durations, labelId(label));
  }

  blockingObserved(label: string): number {
    return count(this.s.blockingDurations, labelId(label));
  }

  /** Sum of the observed latencies of `label`, in milliseconds. */
  latencyMs(label: string): number {
    return Math.round(this.s.durations.sums[labelId(label)]! * 1e6) / 1e3;
  }

  errors(label: string, code: string): number {
    const c = ERROR_CODES.indexOf(code);
    expect(c).toBeGreaterThanOrEqual(0);
    return this.s.errors[labelId(label) * ERROR_CODES.length + c]!;
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

  channels(): number {
    return this.state.subscriptions.size('channel');
  }
  patterns(): number {
    return this.state.subscriptions.size('pattern');
  }
  shardChannels(): number {
    return this.state.subscriptions.size('shard');
  }

  /** The state a reconnect would restore, as readable commands. */
  replayed(): string[] {
    return this.state.replay().map(show);
  }
}

const labelId = (label: string): number => (label === 'unknown' ? 0 : id(label));

function count(h: Histograms, cmd: number): number {
  let n = 0;
  for (let b = 0; b < BUCKET_SLOTS; b++) n += h.buckets[cmd * BUCKET_SLOTS + b]!;
  return n;
}

/** A replay command as its words, "SUBSCRIBE a b". */
function show(c: ReplayCommand): string {
  return decodeCommand(c.bytes)!.map((b) => b.toString('latin1')).join(' ');
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
  unsubscribeAllKeepsPatterns: [
    { send: 'SUBSCRIBE a\r\nPSUBSCRIBE p*\r\n', reply: conf('subscribe', 'a', 1) + conf('psubscribe', 'p*', 2) },
    // One confirmation per channel; the count is channels and patterns together.
    { send: 'UNSUBSCRIBE\r\n', reply: conf('unsubscribe', 'a', 1) },
    { send: 'PING\r\n', reply: SUBSCRIBED_PONG },
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
  watchExec: [
    { send: 'WATCH wx:k\r\n', reply: '+OK\r\n' },
    { send: 'MULTI\r\nINCR wx:k\r\nEXEC\r\n', reply: '+OK\r\n+QUEUED\r\n*1\r\n:1\r\n' },
  ],
  subscribeInsideMulti: [
    // Queued like any command (one +QUEUED). EXEC's array counts commands, not replies: it holds
    // the first confirmation, and redis-server 7.0 sends the others after it as frames of their own.
    { send: 'MULTI\r\nSUBSCRIBE qa qb\r\nEXEC\r\n', reply: '+OK\r\n+QUEUED\r\n*1\r\n' + conf('subscribe', 'qa', 1) + conf('subscribe', 'qb', 2) },
  ],
  subscribeInsideDiscardedMulti: [{ send: 'MULTI\r\nSUBSCRIBE qd\r\nDISCARD\r\n', reply: '+OK\r\n+QUEUED\r\n+OK\r\n' }],
  subscribeInsideAbortedMulti: [
    {
      send: 'MULTI\r\nSUBSCRIBE qe\r\nNOSUCHCMD\r\nEXEC\r\n',
      reply: "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
    },
  ],
  subscribeInsideFailedWatch: [
    { send: 'WATCH qw:k\r\n', reply: '+OK\r\n' },
    { other: 'SET qw:k 1\r\n' },
    // EXEC's null array: a watched key changed, nothing ran.
    { send: 'MULTI\r\nSUBSCRIBE qw\r\nEXEC\r\n', reply: '+OK\r\n+QUEUED\r\n*-1\r\n' },
  ],
  // A RESP2 subscriber cannot MULTI at all; in RESP3 it can, and its confirmations are pushes.
  unsubscribeInsideMulti: [
    { send: 'HELLO 3\r\n', reply: HELLO3_REPLY },
    { send: 'SUBSCRIBE ua ub\r\n', reply: conf('subscribe', 'ua', 1, true) + conf('subscribe', 'ub', 2, true) },
    { send: 'MULTI\r\nUNSUBSCRIBE ua\r\nEXEC\r\n', reply: '+OK\r\n+QUEUED\r\n*1\r\n' + conf('unsubscribe', 'ua', 1, true) },
    { send: 'PING\r\n', reply: '+PONG\r\n' },
  ],
  subscribeInsideMultiResp3: [
    { send: 'HELLO 3\r\n', reply: HELLO3_REPLY },
    { send: 'MULTI\r\nSUBSCRIBE qa qb\r\nEXEC\r\n', reply: '+OK\r\n+QUEUED\r\n*1\r\n' + conf('subscribe', 'qa', 1, true) + conf('subscribe', 'qb', 2, true) },
    { send: 'PING\r\n', reply: '+PONG\r\n' },
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
  state: [
    { send: 'SELECT 3\r\n', reply: '+OK\r\n' },
    { send: 'SELECT 99\r\n', reply: '-ERR DB index is out of range\r\n' },
    { send: 'CLIENT SETNAME worker-1\r\n', reply: '+OK\r\n' },
    { send: 'AUTH nosuchuser x\r\n', reply: '-WRONGPASS invalid username-password pair or user is disabled.\r\n' },
    { send: 'READONLY\r\n', reply: '-ERR This instance has cluster support disabled\r\n' },
  ],
  tracking: [
    { send: 'CLIENT TRACKING on\r\n', reply: '+OK\r\n' },
    { send: 'CLIENT TRACKING off\r\n', reply: '+OK\r\n' },
  ],
  xread: [
    { send: 'XADD xr:s 1-1 f v\r\n', reply: bulk('1-1') },
    { send: 'XREAD STREAMS xr:s 0\r\n', reply: array(array(bulk('xr:s'), array(array(bulk('1-1'), array(bulk('f'), bulk('v')))))) },
    { send: 'XREAD COUNT 1 BLOCK 10 STREAMS xr:s $\r\n', reply: '*-1\r\n' },
  ],
  xreadgroup: [
    { send: 'XGROUP CREATE xg:s block $ MKSTREAM\r\n', reply: '+OK\r\n' },
    { send: 'XREADGROUP GROUP block c1 STREAMS xg:s >\r\n', reply: '*-1\r\n' },
    { send: 'XREADGROUP GROUP block c1 COUNT 1 BLOCK 10 NOACK STREAMS xg:s >\r\n', reply: '*-1\r\n' },
    { send: 'XREADGROUP GROUP block c1 NOACK BLOCK 10 STREAMS xg:s >\r\n', reply: '*-1\r\n' },
  ],
  blocking: [
    { send: 'BLPOP bl:none 0.01\r\n', reply: '*-1\r\n' },
    { send: 'WAIT 0 0\r\n', reply: ':0\r\n' },
  ],
  quit: [{ send: 'QUIT\r\n', reply: '+OK\r\n' }],
};

const scenario = (name: string): Step[] => {
  const s = SCENARIOS[name];
  if (s === undefined) throw new Error(`no scenario ${name}`);
  return s;
};

// --- the matcher, driven by these streams ----------------------------------------------------

describe('ReplyMatcher: pairing replies with commands', () => {
  it('pipelining: each reply answers the oldest command, with its own latency', () => {
    const c = drive(new Conn(), scenario('pipelining'), (c, i) => expect(c.matcher.pending).toBe([1, 2, 3, 2, 1, 0][i]));
    expect([c.commands('get'), c.commands('set'), c.commands('incr')]).toEqual([1, 1, 1]);
    expect([c.latencyMs('get'), c.latencyMs('set'), c.latencyMs('incr')]).toEqual([10, 19, 28]);
    expect(c.totalErrors()).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('gives the same counts whatever the chunking of requests and replies, down to one byte at a time', () => {
    const bytewise = (s: string): string[] => [...s];
    for (const [name, steps] of Object.entries(SCENARIOS)) {
      const whole = drive(new Conn(), steps);
      const split = new Conn();
      for (const st of steps) {
        if (st.at !== undefined) split.now = st.at;
        if (st.send !== undefined) split.send(bytewise(st.send));
        const r = Array.isArray(st.reply) ? st.reply[0] : st.reply;
        if (r !== undefined) split.recv(bytewise(r));
      }
      const summary = (c: Conn): unknown => ({
        commands: [...c.s.commands],
        durations: [...c.s.durations.buckets],
        blocking: [...c.s.blockingDurations.buckets],
        errors: [...c.s.errors],
        push: [...c.s.push],
        pending: c.matcher.pending,
        subscriptions: c.state.subscriptions.count,
        protocol: c.state.protocol,
      });
      expect([name, summary(split)]).toEqual([name, summary(whole)]);
    }
  });

  it('classifies errors by their first word: WRONGTYPE, ERR, NOPROTO, MOVED, ASK; unknown codes are "other"', () => {
    const c = drive(new Conn(), scenario('errors'));
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

  it('READONLY, LOADING and MASTERDOWN are reported as upstream trouble; other errors are not', () => {
    const c = new Conn();
    c.send('SET a 1\r\nGET a\r\nGET b\r\nGET c\r\nGET d\r\n');
    c.recv("-READONLY You can't write against a read only replica.\r\n-LOADING Redis is loading the dataset in memory\r\n");
    c.recv('-MASTERDOWN Link with MASTER is down\r\n-ERR x\r\n-WRONGTYPE y\r\n');
    expect(c.trouble).toEqual(['READONLY', 'LOADING', 'MASTERDOWN']);
    expect([c.errors('set', 'READONLY'), c.errors('get', 'LOADING'), c.errors('get', 'MASTERDOWN')]).toEqual([1, 1, 1]);
  });

  it('XREAD with BLOCK is observed in blockingDurations, BLPOP and WAIT too', () => {
    const c = new Conn();
    const xread = scenario('xread');
    drive(c, [xread[0]!, xread[2]!]);
    drive(c, scenario('blocking'));
    expect(c.blockingObserved('xread')).toBe(1);
    expect([c.blockingObserved('blpop'), c.blockingObserved('wait')]).toEqual([1, 1]);
    expect([c.observed('xread'), c.observed('blpop'), c.observed('wait'), c.observed('xadd')]).toEqual([0, 0, 0, 1]);
  });

  it('XREAD without BLOCK is observed in durations, not blockingDurations (Redis flags it "may block")', () => {
    const c = drive(new Conn(), scenario('xread').slice(0, 2));
    expect([c.observed('xread'), c.blockingObserved('xread')]).toEqual([1, 0]);
  });

  it('XREAD/XREADGROUP: a key, group or consumer named "block" is not the BLOCK option; BLOCK after NOACK or COUNT is', () => {
    const c = new Conn();
    c.send('XREAD STREAMS block 0\r\n').recv('*-1\r\n');
    drive(c, scenario('xreadgroup'));
    expect([c.observed('xread'), c.observed('xreadgroup'), c.blockingObserved('xreadgroup')]).toEqual([1, 1, 2]);
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

  it('QUIT is answered by +OK like any command, and marks the close that follows as its answer', () => {
    const c = drive(new Conn(), scenario('quit'));
    expect([c.observed('quit'), c.matcher.pending, c.state.quitSent]).toEqual([1, 0, true]);
  });

  it('counts unknown commands as "unknown" and empty commands not at all', () => {
    const c = new Conn().send('FOO bar\r\n*0\r\n\r\n').recv("-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n");
    expect(c.commands('unknown')).toBe(1);
    expect(c.s.commands.reduce((a, b) => a + b, 0)).toBe(1);
    expect(c.matcher.pending).toBe(0);
  });

  it('works with ListenerStats from MetricsRegistry.forListener', () => {
    const registry = new MetricsRegistry(TRAITS.names);
    const c = drive(new Conn(registry.forListener('redis')), scenario('pipelining'));
    expect(c.observed('get')).toBe(1);
  });

  it('abandonPending empties the queue and says how many were the client\'s; restamp restarts the clocks', () => {
    const c = new Conn();
    c.send('GET a\r\nGET b\r\n', 0);
    c.matcher.restamp(100);
    c.recv('$-1\r\n', 105);
    expect(c.latencyMs('get')).toBe(5);
    c.matcher.pushInternal(0, 105);
    expect(c.matcher.abandonPending()).toBe(1);
    expect([c.matcher.pending, c.matcher.internalPending]).toEqual([0, false]);
  });

  it('SYNC/PSYNC sent by the client: its reply is due next, and only while it is at the head', () => {
    const c = new Conn();
    c.send('GET a\r\nSYNC\r\n');
    expect(c.matcher.replicationReplyDue).toBe(false);
    c.recv('$-1\r\n');
    expect(c.matcher.replicationReplyDue).toBe(true);
    c.recv("-ERR Can't SYNC while not connected with my master\r\n");
    expect([c.matcher.replicationReplyDue, c.errors('sync', 'ERR')]).toEqual([false, 1]);
  });
});

describe('ReplyMatcher: pub/sub', () => {
  it('SUBSCRIBE a b c: answered by the third confirmation; messages are pushes', () => {
    const c = drive(new Conn(), scenario('subscribe'), (c, i) => {
      expect([i, c.matcher.pending]).toEqual([i, [1, 1, 1, 0, 0, 0, 0][i]]);
    });
    expect(c.channels()).toBe(3);
    expect(c.state.subscribed).toBe(true);
    expect(c.replayed()).toEqual(['SUBSCRIBE a b c']);
    expect(c.observed('subscribe')).toBe(1);
    expect(c.latencyMs('subscribe')).toBe(3);
    expect(c.push('message')).toBe(2);
    expect(c.observed('ping')).toBe(1);
    expect(c.push('other')).toBe(0);
  });

  it('each confirmation records the channel it names, so a subscribe cut short keeps what was confirmed', () => {
    const c = new Conn().send('SUBSCRIBE a b c\r\n').recv(conf('subscribe', 'a', 1) + conf('subscribe', 'b', 2));
    expect([c.channels(), c.matcher.pending, c.replayed()]).toEqual([2, 1, ['SUBSCRIBE a b']]);
  });

  it('PSUBSCRIBE then pmessage, PUNSUBSCRIBE leaves subscribed mode', () => {
    const c = drive(new Conn(), scenario('psubscribe'), (c, i) => {
      if (i === 0) expect([c.patterns(), c.replayed()]).toEqual([1, ['PSUBSCRIBE n*']]);
    });
    expect(c.push('pmessage')).toBe(1);
    expect(c.patterns()).toBe(0);
    expect(c.state.subscribed).toBe(false);
    expect([c.observed('psubscribe'), c.observed('punsubscribe'), c.observed('get')]).toEqual([1, 1, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('SSUBSCRIBE then smessage, SUNSUBSCRIBE', () => {
    const c = drive(new Conn(), scenario('ssubscribe'), (c, i) => {
      if (i === 0) expect([c.shardChannels(), c.matcher.pending, c.replayed()]).toEqual([2, 0, ['SSUBSCRIBE s1 s2']]);
    });
    expect(c.push('smessage')).toBe(1);
    expect(c.shardChannels()).toBe(0);
    expect([c.observed('ssubscribe'), c.observed('sunsubscribe'), c.observed('ping')]).toEqual([1, 1, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('UNSUBSCRIBE without arguments, two channels subscribed: waits for exactly two confirmations', () => {
    const c = drive(new Conn(), scenario('unsubscribeAll'), (c, i) => {
      expect([i, c.matcher.pending]).toEqual([i, [0, 2, 2, 1, 0][i]]);
    });
    expect(c.observed('unsubscribe')).toBe(1);
    expect(c.observed('ping')).toBe(1);
    expect(c.state.subscribed).toBe(false);
    expect(c.replayed()).toEqual([]);
    expect(c.push('other')).toBe(0);
  });

  it('UNSUBSCRIBE with nothing subscribed: one confirmation answers it', () => {
    const c = drive(new Conn(), scenario('unsubscribeNothing'), (c, i) => {
      expect([i, c.matcher.pending]).toEqual([i, [2, 1, 0][i]]);
    });
    expect([c.observed('unsubscribe'), c.observed('ping')]).toEqual([1, 1]);
    expect(c.push('other')).toBe(0);
  });

  it('UNSUBSCRIBE without arguments while a pattern is held: one confirmation per channel answers it, patterns stay', () => {
    const c = drive(new Conn(), scenario('unsubscribeAllKeepsPatterns'), (c, i) => {
      if (i === 1) expect([c.matcher.pending, c.patterns(), c.state.subscribed]).toEqual([0, 1, true]);
    });
    expect([c.observed('unsubscribe'), c.observed('ping'), c.push('other')]).toEqual([1, 1, 0]);
  });

  // Each confirmation names one channel, and its count covers patterns too: only the end of an
  // argument-less UNSUBSCRIBE says that every channel is gone.
  it('UNSUBSCRIBE without arguments while a pattern is held drops every channel, so a reconnect restores only the pattern', () => {
    const c = drive(new Conn(), scenario('unsubscribeAllKeepsPatterns'));
    expect([c.channels(), c.replayed()]).toEqual([0, ['PSUBSCRIBE p*']]);
  });

  it('keeps modes right with metrics off (stats null)', () => {
    const c = drive(new Conn(null), scenario('subscribe'));
    expect([c.channels(), c.matcher.pending]).toEqual([3, 0]);
    drive(c, [{ send: 'UNSUBSCRIBE\r\n', reply: conf('unsubscribe', 'a', 2) + conf('unsubscribe', 'b', 1) }]);
    expect(c.matcher.pending).toBe(1);
    c.recv(conf('unsubscribe', 'c', 0));
    expect([c.channels(), c.matcher.pending, c.state.subscribed]).toEqual([0, 0, false]);
  });

  it('RESP3 after HELLO 3: push confirmations and messages; an array reply with "message" is a reply', () => {
    const c = drive(new Conn(), scenario('resp3'), (c, i) => {
      if (i === 0) expect(c.state.protocol).toBe(3);
      if (i === 1) expect([c.channels(), c.matcher.pending]).toEqual([2, 0]);
    });
    expect(c.push('message')).toBe(1);
    expect([c.observed('hello'), c.observed('subscribe'), c.observed('rpush'), c.observed('lrange'), c.observed('unsubscribe'), c.observed('ping')]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.state.subscribed).toBe(false);
    expect(c.push('other')).toBe(0);
  });

  it('RESP3 pushes of other kinds: invalidate, unknown, and a confirmation nobody asked for', () => {
    const c = new Conn();
    c.send('HELLO 3\r\n').recv(HELLO3_REPLY);
    c.send('SSUBSCRIBE s\r\n').recv(conf('ssubscribe', 's', 1, true));
    c.send('GET k\r\n');
    c.recv(`>2\r\n${bulk('invalidate')}${array(bulk('k'))}`);
    c.recv(`>2\r\n${bulk('something-new')}:1\r\n`);
    // The server dropping shard channels on its own after a slot moved: none are held any more.
    c.recv(conf('sunsubscribe', 'moved-slot', 0, true));
    expect([c.matcher.pending, c.shardChannels()]).toEqual([1, 0]);
    c.recv(bulk(null));
    expect([c.push('invalidate'), c.push('other'), c.observed('get'), c.matcher.pending]).toEqual([1, 2, 1, 0]);
  });

  it('RESP2, not subscribed: an array reply ["message","x","y"] (or ["subscribe","a","1"]) answers LRANGE', () => {
    const c = drive(new Conn(), scenario('arrayLikeMessageInResp2'));
    expect(c.observed('lrange')).toBe(2);
    expect(c.push('message')).toBe(0);
    expect(c.push('other')).toBe(0);
    expect(c.channels()).toBe(0);
    expect(c.matcher.pending).toBe(0);
  });

  it('captureArrays: in RESP2 while subscribed or while a subscribe-family command is answered, never in RESP3', () => {
    const c = new Conn();
    expect(c.matcher.captureArrays).toBe(false);
    c.send('SUBSCRIBE a\r\n');
    expect(c.matcher.captureArrays).toBe(true);
    c.recv(conf('subscribe', 'a', 1));
    expect(c.matcher.captureArrays).toBe(true);
    c.send('UNSUBSCRIBE a\r\n').recv(conf('unsubscribe', 'a', 0));
    expect(c.matcher.captureArrays).toBe(false);
    c.send('HELLO 3\r\n').recv(HELLO3_REPLY).send('SUBSCRIBE b\r\n');
    expect(c.matcher.captureArrays).toBe(false);
  });

  it('SUBSCRIBE inside a MULTI that did not commit (DISCARD, EXECABORT, a failed WATCH) takes no effect', () => {
    for (const name of ['subscribeInsideDiscardedMulti', 'subscribeInsideAbortedMulti', 'subscribeInsideFailedWatch']) {
      const c = drive(new Conn(), scenario(name));
      expect([name, c.state.subscribed, c.replayed(), c.matcher.pending]).toEqual([name, false, [], 0]);
    }
  });

  it('UNSUBSCRIBE inside MULTI takes effect when EXEC commits (RESP3)', () => {
    const c = drive(new Conn(), scenario('unsubscribeInsideMulti'));
    expect([c.channels(), c.replayed(), c.matcher.pending, c.observed('ping')]).toEqual([1, ['HELLO 3', 'SUBSCRIBE ub'], 0, 1]);
  });

  it('SUBSCRIBE inside MULTI in RESP3: the pushes after EXEC\'s array answer nothing, the subscription holds', () => {
    const c = drive(new Conn(), scenario('subscribeInsideMultiResp3'));
    expect([c.observed('exec'), c.observed('ping'), c.matcher.pending, c.replayed()]).toEqual([1, 1, 0, ['HELLO 3', 'SUBSCRIBE qa qb']]);
  });

  it('SUBSCRIBE without a channel gets one error and is answered by it', () => {
    const c = new Conn().send('SUBSCRIBE\r\nPING\r\n').recv("-ERR wrong number of arguments for 'subscribe' command\r\n+PONG\r\n");
    expect([c.errors('subscribe', 'ERR'), c.observed('ping'), c.matcher.pending]).toEqual([1, 1, 0]);
  });

  it('SUBSCRIBE inside MULTI is queued: +QUEUED answers it, EXEC\'s array answers EXEC, the stray confirmation answers nothing', () => {
    const c = drive(new Conn(), scenario('subscribeInsideMulti'));
    expect([c.observed('subscribe'), c.observed('exec'), c.matcher.pending]).toEqual([1, 1, 0]);
  });

  // The confirmations of a SUBSCRIBE run by EXEC are inside EXEC's reply, or arrive when nothing of
  // the family is pending: the subscriptions take effect from EXEC's committed reply instead.
  it('SUBSCRIBE inside MULTI takes effect when EXEC commits: messages are recognised and a reconnect restores it', () => {
    const c = drive(new Conn(), scenario('subscribeInsideMulti'));
    c.send('PING\r\n').recv(message('qa', 'hi') + SUBSCRIBED_PONG);
    expect([c.state.subscribed, c.replayed(), c.push('message'), c.observed('ping')]).toEqual([true, ['SUBSCRIBE qa qb'], 1, 1]);
  });
});

describe('ReplyMatcher: MONITOR, CLIENT REPLY, MULTI, RESET', () => {
  it('MONITOR: monitor lines are pushes; PING is still answered by +PONG', () => {
    const c = drive(new Conn(), scenario('monitor'), (c, i) => {
      if (i === 0) expect(c.state.monitoring).toBe(true);
    });
    expect(c.push('monitor')).toBe(2);
    expect([c.observed('monitor'), c.observed('ping')]).toEqual([1, 1]);
    expect(c.matcher.pending).toBe(0);
    // A +1700000000.1 line from before MONITOR's +OK is not a monitor line.
    const d = new Conn().send('PING\r\n').recv('+1700000000.123 not monitoring\r\n');
    expect([d.observed('ping'), d.push('monitor')]).toEqual([1, 0]);
  });

  it('CLIENT REPLY OFF silences commands until ON, which gets its +OK', () => {
    const c = drive(new Conn(), scenario('replyOff'));
    expect([c.commands('client|reply'), c.commands('set'), c.commands('get')]).toEqual([2, 1, 2]);
    expect([c.observed('client|reply'), c.observed('set'), c.observed('get')]).toEqual([1, 0, 1]);
    expect(c.matcher.pending).toBe(0);
    expect(c.push('other')).toBe(0);
  });

  it('CLIENT REPLY SKIP silences exactly the next command', () => {
    const c = drive(new Conn(), scenario('replySkip'));
    expect([c.observed('client|reply'), c.observed('set'), c.observed('get')]).toEqual([0, 0, 1]);
    expect(c.matcher.pending).toBe(0);
  });

  it('an empty command (*0 or an empty line) uses up a CLIENT REPLY SKIP', () => {
    for (const name of ['replySkipEmptyMultibulk', 'replySkipEmptyInline']) {
      const c = drive(new Conn(), scenario(name));
      expect([name, c.observed('ping'), c.matcher.pending, c.push('other')]).toEqual([name, 1, 0, 0]);
    }
  });

  it('CLIENT REPLY ON right after SKIP gets its +OK', () => {
    const c = drive(new Conn(), scenario('replySkipThenOn'));
    expect([c.observed('client|reply'), c.observed('ping'), c.matcher.pending]).toEqual([1, 1, 0]);
  });

  it('CLIENT REPLY SKIP while OFF is ignored', () => {
    const c = drive(new Conn(), scenario('replySkipWhileOff'));
    expect([c.observed('client|reply'), c.observed('ping'), c.matcher.pending]).toEqual([1, 1, 0]);
    expect(c.push('other')).toBe(0);
  });

  it('RESET after SKIP is itself skipped; RESET while OFF is answered', () => {
    const a = drive(new Conn(), scenario('replySkipThenReset'));
    expect([a.observed('reset'), a.observed('ping'), a.matcher.pending]).toEqual([0, 1, 0]);
    const b = drive(new Conn(), scenario('replyOffThenReset'));
    expect([b.observed('reset'), b.observed('ping'), b.matcher.pending, b.push('other')]).toEqual([1, 1, 0, 0]);
  });

  it('CLIENT REPLY inside MULTI is queued, not applied (it runs at EXEC)', () => {
    const c = new Conn().send('MULTI\r\nCLIENT REPLY OFF\r\nEXEC\r\nPING\r\n').recv('+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n+PONG\r\n');
    expect([c.observed('client|reply'), c.observed('exec'), c.observed('ping'), c.matcher.pending]).toEqual([1, 1, 1, 0]);
  });

  it('MULTI/QUEUED/EXEC, EXECABORT and DISCARD: one reply per command', () => {
    const c = drive(new Conn(), scenario('multiExec'), (c, i) => {
      if (i === 0) expect(c.state.inMulti).toBe(false);
    });
    expect([c.observed('multi'), c.observed('set'), c.observed('incr'), c.observed('exec'), c.observed('discard'), c.observed('get')]).toEqual([3, 1, 1, 2, 1, 1]);
    expect(c.errors('unknown', 'ERR')).toBe(1);
    expect(c.errors('exec', 'EXECABORT')).toBe(1);
    expect(c.totalErrors()).toBe(2);
    expect(c.matcher.pending).toBe(0);
    expect(c.state.inMulti).toBe(false);
  });

  it('MULTI is in effect from the moment it is sent: commands after it are queued, their arguments not state', () => {
    const c = new Conn().send('MULTI\r\nSELECT 5\r\n');
    expect(c.state.inMulti).toBe(true);
    c.recv('+OK\r\n+QUEUED\r\n');
    // SELECT inside MULTI is only +QUEUED: it is not recorded as the database to restore.
    expect(c.replayed()).toEqual(['MULTI', 'ambassador-upstream-was-lost-transaction-aborted']);
  });

  it('WATCH holds from the moment it is sent until EXEC', () => {
    const c = drive(new Conn(), scenario('watchExec'), (c, i) => {
      if (i === 0) expect(c.state.watching).toBe(true);
    });
    expect([c.state.watching, c.observed('watch'), c.observed('exec'), c.matcher.pending]).toEqual([false, 1, 1, 0]);
  });

  it('RESET leaves subscribed mode: an array like a message is then a reply', () => {
    const c = drive(new Conn(), scenario('resetLeavesSubscribedMode'), (c, i) => {
      if (i === 0) expect(c.state.subscribed).toBe(true);
      if (i === 1) expect(c.state.subscribed).toBe(false);
    });
    expect([c.observed('reset'), c.observed('lrange'), c.push('message'), c.matcher.pending]).toEqual([1, 1, 0, 0]);
  });

  it('RESET returns the protocol to 2 and ends MONITOR', () => {
    const c = drive(new Conn(), scenario('resetAfterHello3'), (c, i) => {
      expect([i, c.state.protocol]).toEqual([i, [3, 2, 2][i]]);
    });
    expect(c.matcher.pending).toBe(0);
    const m = new Conn().send('MONITOR\r\n').recv('+OK\r\n').send('RESET\r\n').recv('+RESET\r\n');
    expect(m.state.monitoring).toBe(false);
  });

  it('a failed HELLO 3 does not change the protocol', () => {
    const c = new Conn().send('HELLO 3 AUTH nosuchuser x\r\n').recv('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect(c.state.protocol).toBe(2);
    expect(c.errors('hello', 'WRONGPASS')).toBe(1);
    expect(c.replayed()).toEqual([]);
  });

  it('RESET inside MULTI ends the transaction (Redis runs RESET at once, not queued)', () => {
    const c = drive(new Conn(), scenario('resetInsideMulti'), (c, i) => {
      if (i === 1) expect(c.state.inMulti).toBe(false);
    });
    expect(c.observed('subscribe')).toBe(1);
    expect(c.channels()).toBe(2);
    expect(c.observed('ping')).toBe(1);
    expect(c.push('other')).toBe(0);
    expect(c.matcher.pending).toBe(0);
  });
});

describe('ReplyMatcher: what replies change in ConnectionState', () => {
  it('accepted SELECT and CLIENT SETNAME are restored after a reconnect; refused SELECT, AUTH and READONLY are not', () => {
    const c = drive(new Conn(), scenario('state'));
    expect(c.replayed()).toEqual(['SELECT 3', 'CLIENT SETNAME worker-1']);
    expect([c.errors('select', 'ERR'), c.errors('auth', 'WRONGPASS'), c.errors('readonly', 'ERR')]).toEqual([1, 1, 1]);
  });

  it('an accepted AUTH and HELLO are restored with their arguments, AUTH first', () => {
    const c = new Conn().send('HELLO 3 SETNAME h\r\n').recv(HELLO3_REPLY).send('AUTH default secret\r\n').recv('+OK\r\n');
    expect(c.replayed()).toEqual(['AUTH default secret', 'HELLO 3 SETNAME h']);
    expect(c.state.replayedProtocol).toBe(3);
  });

  it('CLIENT TRACKING on/off follows the accepted replies', () => {
    const c = drive(new Conn(), scenario('tracking'), (c, i) => expect([i, c.state.tracking]).toEqual([i, [true, false][i]]));
    expect(c.observed('client|tracking')).toBe(2);
    const refused = new Conn().send('CLIENT TRACKING on\r\n').recv('-ERR something\r\n');
    expect(refused.state.tracking).toBe(false);
  });

  it('connectionLost drops what is pending and puts the connection back to RESP2 without MONITOR', () => {
    const c = new Conn().send('HELLO 3\r\n').recv(HELLO3_REPLY).send('MONITOR\r\n').recv('+OK\r\n').send('GET a\r\n');
    expect([c.state.protocol, c.state.monitoring, c.matcher.pending]).toEqual([3, true, 1]);
    c.matcher.connectionLost();
    expect([c.state.protocol, c.state.monitoring, c.matcher.pending]).toEqual([2, false, 0]);
  });
});

describe("ReplyMatcher: the ambassador's own entries", () => {
  /** A connection that had set AUTH, HELLO 3, SELECT, a name and two channels, then lost its upstream. */
  function restoredConn(): Conn {
    const c = new Conn();
    c.send('AUTH pw\r\n').recv('+OK\r\n');
    c.send('HELLO 3\r\n').recv(HELLO3_REPLY);
    c.send('SELECT 3\r\n').recv('+OK\r\n');
    c.send('CLIENT SETNAME me\r\n').recv('+OK\r\n');
    c.send('SUBSCRIBE a b\r\n').recv(conf('subscribe', 'a', 1, true) + conf('subscribe', 'b', 2, true));
    c.matcher.connectionLost();
    return c;
  }

  it('replayed commands are answered first, kept from the client, each success reported; then the client\'s own', () => {
    const c = restoredConn();
    const before = c.totalObserved();
    // A command the client sent while no upstream was connected waits behind the replay.
    c.send('GET k\r\n', 50);
    const replay = c.state.replay();
    expect(replay.map(show)).toEqual(['AUTH pw', 'HELLO 3', 'SELECT 3', 'CLIENT SETNAME me', 'SUBSCRIBE a b']);
    c.matcher.replayFirst(replay, 60);
    expect([c.matcher.replaying, c.matcher.internalPending, c.matcher.clientPending]).toEqual([5, true, 1]);
    // The connection is new: RESP2 until the replayed HELLO 3 is answered.
    expect(c.state.protocol).toBe(2);
    c.recv('+OK\r\n' + HELLO3_REPLY);
    expect([c.state.protocol, c.replayAnswers]).toEqual([3, [null, null]]);
    c.recv('+OK\r\n+OK\r\n' + conf('subscribe', 'a', 1, true));
    expect([c.matcher.replaying, c.replayAnswers.length]).toEqual([1, 4]);
    c.recv(conf('subscribe', 'b', 2, true));
    expect([c.matcher.replaying, c.matcher.internalPending, c.replayAnswers]).toEqual([0, false, [null, null, null, null, null]]);
    expect(c.internalFrames).toBe(6);
    // Nothing replayed was counted as the client's: no command, no latency.
    expect(c.totalObserved()).toBe(before);
    expect(c.replayed()).toEqual(['AUTH pw', 'HELLO 3', 'SELECT 3', 'CLIENT SETNAME me', 'SUBSCRIBE a b']);
    c.recv('$-1\r\n', 70);
    expect([c.internalFrames, c.observed('get'), c.latencyMs('get'), c.matcher.pending]).toEqual([6, 1, 20, 0]);
  });

  it('a refused replayed command is reported with its error code, and changes nothing', () => {
    const c = restoredConn();
    c.matcher.replayFirst(c.state.replay(), 0);
    c.recv('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect([c.replayAnswers, c.internalFrames, c.totalErrors()]).toEqual([['WRONGPASS'], 1, 0]);
    expect(c.replayed()[0]).toBe('AUTH pw');
    // An error without a code is still a refusal.
    const d = restoredConn();
    d.matcher.replayFirst(d.state.replay(), 0);
    d.recv('+OK\r\n' + HELLO3_REPLY + '-\r\n');
    expect(d.replayAnswers).toEqual([null, null, 'ERR']);
  });

  it("the ambassador's own AUTH is answered first and reported like the replay", () => {
    const c = new Conn().send('PING\r\n');
    c.matcher.replayFirst([{ bytes: Buffer.from('*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n'), cmd: id('auth'), replies: 1, fromAmbassador: true }], 0);
    c.recv('+OK\r\n+PONG\r\n');
    expect([c.replayAnswers, c.internalFrames, c.observed('ping'), c.observed('auth')]).toEqual([[null], 1, 1, 0]);
  });

  it('a transaction open at the loss is replayed as MULTI plus a poison whose error is expected, not a refusal', () => {
    const c = new Conn().send('MULTI\r\nSET k v\r\n').recv('+OK\r\n+QUEUED\r\n');
    c.matcher.connectionLost();
    const replay = c.state.replay();
    expect(replay.map((r) => [show(r), r.expectError === true])).toEqual([
      ['MULTI', false],
      ['ambassador-upstream-was-lost-transaction-aborted', true],
    ]);
    c.send('EXEC\r\n');
    c.matcher.replayFirst(replay, 0);
    expect(c.matcher.replaying).toBe(1);
    c.recv("+OK\r\n-ERR unknown command 'ambassador-upstream-was-lost-transaction-aborted', with args beginning with: \r\n");
    expect([c.replayAnswers, c.internalFrames, c.matcher.internalPending, c.totalErrors()]).toEqual([[null], 2, false, 0]);
    c.recv('-EXECABORT Transaction discarded because of previous errors.\r\n');
    expect([c.errors('exec', 'EXECABORT'), c.state.inMulti, c.matcher.pending]).toEqual([1, false, 0]);
  });

  it('an internal entry pushed behind a client command (a refused command inside MULTI) is answered in turn', () => {
    const c = new Conn().send('MULTI\r\n');
    c.matcher.pushInternal(0, 0);
    c.send('EXEC\r\n');
    expect([c.matcher.pending, c.matcher.clientPending, c.matcher.internalPending]).toEqual([3, 2, true]);
    c.recv("+OK\r\n-ERR unknown command 'ambassador-upstream-was-lost-transaction-aborted'\r\n-EXECABORT Transaction discarded because of previous errors.\r\n");
    expect([c.internalFrames, c.replayAnswers, c.errors('unknown', 'ERR'), c.errors('exec', 'EXECABORT'), c.matcher.pending]).toEqual([1, [], 0, 1, 0]);
  });

  it('local answers wait for their turn behind the upstream\'s replies, and are visited in order', () => {
    const c = new Conn().send('GET a\r\n');
    const noperm = Buffer.from("-NOPERM this ambassador does not allow the 'flushall' command (AMBASSADOR_DENY_COMMANDS)\r\n");
    c.matcher.pushLocal(id('flushall'), 0, noperm);
    c.send('GET b\r\n');
    expect([c.matcher.localPending, c.matcher.clientPending, c.matcher.takeLocalHead()]).toEqual([true, 3, null]);
    const visited: (string | null)[] = [];
    c.matcher.forEachPending((r) => visited.push(r === null ? null : r.toString('latin1')));
    expect(visited).toEqual([null, noperm.toString('latin1'), null]);
    c.recv('$-1\r\n');
    expect(c.matcher.takeLocalHead()).toEqual(noperm);
    expect([c.matcher.takeLocalHead(), c.matcher.localPending, c.matcher.pending]).toEqual([null, false, 1]);
    c.recv('$-1\r\n');
    // The matcher counts what the upstream answered; the refusal is counted by the gate's caller.
    expect([c.observed('get'), c.commands('flushall'), c.observed('flushall'), c.matcher.pending]).toEqual([2, 0, 0, 0]);
  });

  it('forEachPending skips internal entries', () => {
    const c = new Conn().send('MULTI\r\n');
    c.matcher.pushInternal(0, 0);
    const visited: (Buffer | null)[] = [];
    c.matcher.forEachPending((r) => visited.push(r));
    expect(visited).toEqual([null]);
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

  // After the steps, a PING with a marker: Redis answers a client's commands in order, so every
  // byte it owed the client before the marker's reply arrives ahead of it, and nothing has to be
  // waited out. Subscribed RESP2 clients get PING as an array, everyone else as a bulk string.
  const MARKER = 'scenario-end-marker';
  const MARKER_REPLIES = [array(bulk('pong'), bulk(MARKER)), bulk(MARKER)];

  async function replay(name: string, steps: Step[]): Promise<string> {
    const main = await RawClient.connect(redis.port);
    const other = await RawClient.connect(redis.port);
    const text = (): string => normalize(main.text());
    try {
      await main.write('SELECT 0\r\nFLUSHALL\r\n');
      await waitUntil(() => text() === '+OK\r\n+OK\r\n', { intervalMs: 2, what: `${name}: SELECT and FLUSHALL; got ${JSON.stringify(text())}` });
      const start = text().length;
      let expected = start;
      for (const st of steps) {
        if (st.send !== undefined) await main.write(st.send);
        if (st.other !== undefined) await other.write(st.other);
        // Wait for this step's replies before the next step (a PUBLISH must follow the SUBSCRIBE).
        expected += normalize(Array.isArray(st.reply) ? st.reply[0]! : st.reply ?? '').length;
        await waitUntil(() => text().length >= expected, { intervalMs: 2, what: () => `${name}: ${expected - start} bytes; got ${JSON.stringify(text().slice(start))}` });
      }
      if (steps.some((st) => st.send?.startsWith('QUIT'))) {
        // QUIT closes the connection: nothing can follow it.
        await waitUntil(() => main.closed, { intervalMs: 2, what: `${name}: the server to close after QUIT` });
        return text().slice(start);
      }
      await main.write(`PING ${MARKER}\r\n`);
      let at = -1;
      await waitUntil(
        () => {
          const t = text();
          at = Math.min(...MARKER_REPLIES.map((m) => t.indexOf(m, start)).filter((i) => i >= 0));
          return Number.isFinite(at);
        },
        { intervalMs: 2, what: () => `${name}: the marker's reply; got ${JSON.stringify(text().slice(start))}` },
      );
      return text().slice(start, at);
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
      const real = await replay(name, steps);
      const allowed = transcripts(steps);
      if (!allowed.includes(real)) expect(real).toBe(allowed[0]);
    });
  }
});
