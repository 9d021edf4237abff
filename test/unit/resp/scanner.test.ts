import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_TOKENS,
  RESP_TYPE,
  RespScanner,
  TOKEN_AGGREGATE,
  TOKEN_BYTES,
  TOKEN_NULL,
} from '../../../src/resp/scanner.js';
import { REDIS_DEFAULT_LIMITS } from '../../../src/config/settings.js';
import { fnv1a } from '../../../src/resp/commandIndex.js';
import { cutAt, oneByteChunks, oracleDecode, scan, scanChunks, signature, type Plain, type ScanResult, type ScannedFrame } from './scanHelpers.js';
import { exchange, startRedis, type RedisServer } from '../realRedis.js';
import { pseudoRandomBytes } from '../../support/pseudoRandom.js';

// --- RESP2 values with known types, so expectations can be computed independently ------------

type V =
  | { t: 'simple'; s: string }
  | { t: 'error'; s: string }
  | { t: 'int'; n: number }
  | { t: 'bulk'; b: Buffer | null }
  | { t: 'array'; a: V[] | null };

const simple = (s: string): V => ({ t: 'simple', s });
const error = (s: string): V => ({ t: 'error', s });
const int = (n: number): V => ({ t: 'int', n });
const bulk = (b: Buffer | string | null): V => ({ t: 'bulk', b: typeof b === 'string' ? Buffer.from(b, 'latin1') : b });
const arr = (...a: V[]): V => ({ t: 'array', a });
const nullArray: V = { t: 'array', a: null };

function serialize(v: V): Buffer {
  switch (v.t) {
    case 'simple':
      return Buffer.from(`+${v.s}\r\n`, 'latin1');
    case 'error':
      return Buffer.from(`-${v.s}\r\n`, 'latin1');
    case 'int':
      return Buffer.from(`:${v.n}\r\n`, 'latin1');
    case 'bulk':
      return v.b === null ? Buffer.from('$-1\r\n') : Buffer.concat([Buffer.from(`$${v.b.length}\r\n`), v.b, Buffer.from('\r\n')]);
    case 'array':
      return v.a === null ? Buffer.from('*-1\r\n') : Buffer.concat([Buffer.from(`*${v.a.length}\r\n`), ...v.a.map(serialize)]);
  }
}

/** What redis-parser (returnBuffers) must decode `v` to, in scanHelpers' plain form. */
function expectedPlain(v: V): Plain {
  switch (v.t) {
    case 'simple':
      return `hex:${Buffer.from(v.s, 'latin1').toString('hex')}`;
    case 'error':
      return { error: Buffer.from(v.s, 'latin1').toString('utf8') }; // redis-parser decodes error text as UTF-8
    case 'int':
      return v.n;
    case 'bulk':
      return v.b === null ? null : `hex:${v.b.toString('hex')}`;
    case 'array':
      return v.a === null ? null : v.a.map(expectedPlain);
  }
}

const lower = (b: Buffer): string =>
  Buffer.from(b.subarray(0, TOKEN_BYTES).map((c) => (c >= 65 && c <= 90 ? c | 0x20 : c))).toString('latin1');

/** A nested *-1 element is a null token, like $-1 and _. */
const NESTED_NULL_ARRAY = { text: 'NULL', len: TOKEN_NULL };

function tokenOf(v: V): { text: string; len: number } {
  switch (v.t) {
    case 'simple':
    case 'error':
      return { text: lower(Buffer.from(v.s, 'latin1')), len: v.s.length };
    case 'int':
      return { text: String(v.n), len: String(v.n).length };
    case 'bulk':
      return v.b === null ? { text: 'NULL', len: TOKEN_NULL } : { text: lower(v.b), len: v.b.length };
    case 'array':
      return v.a === null ? NESTED_NULL_ARRAY : { text: 'AGG', len: TOKEN_AGGREGATE };
  }
}

interface Expect {
  frameType: number;
  frameCount: number;
  tokens: string[];
  tokenLength: number[];
}

function expectedFrame(v: V): Expect {
  const typeByte = { simple: '+', error: '-', int: ':', bulk: '$', array: '*' }[v.t].charCodeAt(0);
  let toks: { text: string; len: number }[];
  let count = 0;
  if (v.t === 'array') {
    count = v.a === null ? -1 : v.a.length;
    toks = v.a === null ? [] : v.a.slice(0, MAX_TOKENS).map(tokenOf);
  } else {
    toks = [tokenOf(v)];
  }
  return { frameType: typeByte, frameCount: count, tokens: toks.map((t) => t.text), tokenLength: toks.map((t) => t.len) };
}

/** The differential check: the scanner's frames are exactly redis-parser's values, in order. */
function checkAgainstOracle(values: V[], stream: Buffer, result: ScanResult): void {
  expect(result.error).toBeNull();
  const oracle = oracleDecode(stream);
  // Sanity: the oracle decodes what we serialized.
  expect(oracle).toEqual(values.map(expectedPlain));
  expect(result.frames.length).toBe(oracle.length);
  let pos = 0;
  result.frames.forEach((f, i) => {
    expect(f.start).toBe(pos);
    expect(f.end).toBeGreaterThan(f.start);
    // The byte range the scanner reports decodes, on its own, to the oracle's i-th value.
    expect(oracleDecode(stream.subarray(f.start, f.end))).toEqual([oracle[i]]);
    const e = expectedFrame(values[i]!);
    expect({ frameType: f.frameType, frameCount: f.frameCount, tokens: f.tokens, tokenLength: f.tokenLength }).toEqual(e);
    pos = f.end;
  });
  expect(pos).toBe(stream.length);
}


const CORPUS: V[] = [
  simple('OK'),
  simple(''),
  simple('PONG with Spaces and UPPER'),
  error("ERR unknown command 'foo', with args beginning with: "),
  error('WRONGTYPE Operation against a key holding the wrong kind of value'),
  int(0),
  int(-42),
  int(9007199254740991),
  bulk(''),
  bulk(null),
  bulk('hello'),
  bulk('with\r\nCRLF\r\ninside and $3\r\n*1\r\n'),
  bulk('AN UPPER-CASE VALUE LONGER THAN THIRTY-TWO BYTES'),
  arr(),
  nullArray,
  arr(int(1), int(2), int(3)),
  arr(arr(simple('a'), error('ERR e')), arr(bulk(null)), nullArray, arr()),
  arr(bulk('foo'), bulk(null), bulk(''), int(-1), simple('x'), error('E y')),
  arr(arr(arr(arr(arr(int(7)))))),
  arr(...Array.from({ length: 12 }, (_, i) => bulk(`ELEM${i}`))),
  bulk(pseudoRandomBytes(20_000, 7)),
  arr(bulk(pseudoRandomBytes(8_000, 9)), bulk(Buffer.alloc(5_000, 13)), int(5)),
  simple('last'),
];
const CORPUS_STREAM = Buffer.concat(CORPUS.map(serialize));

describe('RespScanner reply mode, RESP2, differential against redis-parser 3.0.0', () => {
  const whole = scanChunks('reply', [CORPUS_STREAM]);

  it('finds the same frames as redis-parser in the whole corpus fed at once', () => {
    expect(whole.frames.length).toBe(CORPUS.length);
    checkAgainstOracle(CORPUS, CORPUS_STREAM, whole);
  });

  it('gives identical results when the stream is split at every byte offset', () => {
    const want = signature('reply', [CORPUS_STREAM]);
    for (let k = 0; k <= CORPUS_STREAM.length; k++) {
      const got = signature('reply', cutAt(CORPUS_STREAM, [k]));
      if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
        // Only build the detailed comparison when something differs (keeps ~35k splits fast).
        const r = scanChunks('reply', cutAt(CORPUS_STREAM, [k]));
        expect({ split: k, error: r.error, frames: r.frames }).toEqual({ split: k, error: null, frames: whole.frames });
        expect.fail(`split at ${k} differs`);
      }
    }
  });

  it('gives identical results fed one byte at a time', () => {
    const r = scanChunks('reply', oneByteChunks(CORPUS_STREAM));
    expect(r.error).toBeNull();
    expect(r.frames).toEqual(whole.frames);
  });

  it('reports a frame only once its last byte has arrived', () => {
    const bytes = serialize(arr(bulk('abc'), int(1)));
    for (let k = 0; k < bytes.length; k++) {
      expect(scanChunks('reply', [bytes.subarray(0, k)]).frames).toEqual([]);
    }
    expect(scanChunks('reply', [bytes]).frames.length).toBe(1);
  });

  it('keeps the token hash equal to FNV-1a of the captured lower-cased bytes', () => {
    for (const f of whole.frames) {
      f.tokens.forEach((t, k) => {
        if (f.tokenLength[k]! >= 0) expect(f.tokenHash[k]).toBe(fnv1a(Buffer.from(t, 'latin1')));
      });
    }
  });

  it('a nested null array is a TOKEN_NULL token, as TOKEN_NULL documents ($-1, *-1, _)', () => {
    // scanner.ts beginValue() marks every aggregate element TOKEN_AGGREGATE; endLine() never
    // turns a null aggregate (n < 0) into TOKEN_NULL.
    const r = scan('reply', '*2\r\n*-1\r\n$-1\r\n');
    expect(r.frames[0]!.tokenLength).toEqual([TOKEN_NULL, TOKEN_NULL]);
  });
});

// --- fast-check: random RESP2 values --------------------------------------------------------

const printable = fc.string({ unit: fc.constantFrom(...'abcXYZ 019:$*-+_\t\x00\xff'.split('')), maxLength: 40 });
const scalarArb: fc.Arbitrary<V> = fc.oneof(
  printable.map(simple),
  printable.map((s) => error(`ERR${s}`)),
  fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.constant(0)).map(int),
  fc.constant(bulk(null)),
  fc.uint8Array({ maxLength: 48 }).map((a) => bulk(Buffer.from(a))),
  fc.constantFrom(1000, 40_000).chain((n) => fc.nat(255).map((seed) => bulk(pseudoRandomBytes(n, seed + 1)))),
);
const { value: valueArb } = fc.letrec<{ value: V; array: V }>((tie) => ({
  value: fc.oneof({ maxDepth: 4, depthIdentifier: 'resp' }, scalarArb, scalarArb, tie('array')),
  array: fc.oneof(fc.constant(nullArray), fc.array(tie('value'), { maxLength: 10, depthIdentifier: 'resp' }).map((a) => arr(...a))),
}));

const streamWithCuts = fc
  .array(valueArb, { minLength: 1, maxLength: 8 })
  .chain((values) => {
    const stream = Buffer.concat(values.map(serialize));
    return fc
      .uniqueArray(fc.integer({ min: 1, max: Math.max(1, stream.length - 1) }), { maxLength: 30 })
      .map((cuts) => ({ values, stream, cuts: cuts.filter((c) => c < stream.length).sort((a, b) => a - b) }));
  });

describe('RespScanner reply mode, RESP2, properties', () => {
  it('random RESP2 values cut into random chunks give the same frames as redis-parser', () => {
    fc.assert(
      fc.property(streamWithCuts, ({ values, stream, cuts }) => {
        checkAgainstOracle(values, stream, scanChunks('reply', cutAt(stream, cuts)));
      }),
      { numRuns: 150 },
    );
  });

  it('random byte flips never make feed() throw: errors go to onProtocolError only', () => {
    fc.assert(
      fc.property(
        streamWithCuts,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.constantFrom<'reply' | 'request'>('reply', 'request'),
        ({ stream, cuts }, flips, mode) => {
          const bytes = Buffer.from(stream);
          for (const [at, b] of flips) bytes[at % bytes.length] = b;
          let frames = 0;
          let errors = 0;
          let lastEnd = -1;
          const s = new RespScanner(mode, {
            onFrame: (_s, end) => {
              expect(errors).toBe(0); // nothing after a protocol error
              frames++;
              lastEnd = end;
            },
            onProtocolError: (message, goodEnd) => {
              errors++;
              expect(message).toMatch(/^Protocol error: /);
              expect(goodEnd).toBeGreaterThanOrEqual(0);
            },
          });
          for (const c of cutAt(bytes, cuts)) {
            lastEnd = -1;
            expect(() => s.feed(c)).not.toThrow();
            if (lastEnd >= 0) expect(lastEnd).toBeLessThanOrEqual(c.length);
          }
          expect(errors).toBeLessThanOrEqual(1);
          expect(s.failed).toBe(errors === 1);
          // A non-empty stream that ends cleanly at a boundary was reported as frames (a lone
          // attribute leaves the scanner off a boundary, so it needs no exception).
          if (errors === 0 && s.atBoundary && bytes.length > 0) expect(frames).toBeGreaterThan(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('random bytes never make feed() throw in either mode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), (a, cut) => {
        for (const mode of ['reply', 'request'] as const) {
          const buf = Buffer.from(a);
          expect(() => scanChunks(mode, cutAt(buf, [Math.min(cut, buf.length)]))).not.toThrow();
        }
      }),
      { numRuns: 500 },
    );
  });
});

// --- RESP3, by hand-computed expectations -------------------------------------------------------

interface R3Case {
  name: string;
  bytes: string;
  frames: { len: number; type: string; count: number; tokens: string[]; lengths?: number[] }[];
}

const PUSH_MSG = '>3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$5\r\nHello\r\n';
const SPEC_ATTR =
  '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n';
const BIGNUM = '3492890328409238509324850943850943825024385';

const RESP3: R3Case[] = [
  { name: 'map', bytes: '%2\r\n+first\r\n:1\r\n+Second\r\n:2\r\n', frames: [{ len: 29, type: '%', count: 2, tokens: ['first', '1', 'second', '2'] }] },
  { name: 'set', bytes: '~3\r\n+a\r\n+b\r\n+c\r\n', frames: [{ len: 16, type: '~', count: 3, tokens: ['a', 'b', 'c'] }] },
  { name: 'null', bytes: '_\r\n', frames: [{ len: 3, type: '_', count: 0, tokens: ['NULL'], lengths: [TOKEN_NULL] }] },
  { name: 'booleans', bytes: '#t\r\n#f\r\n', frames: [{ len: 4, type: '#', count: 0, tokens: ['t'] }, { len: 4, type: '#', count: 0, tokens: ['f'] }] },
  {
    name: 'doubles',
    bytes: ',3.14159\r\n,inf\r\n,-nan\r\n',
    frames: [
      { len: 10, type: ',', count: 0, tokens: ['3.14159'] },
      { len: 6, type: ',', count: 0, tokens: ['inf'] },
      { len: 7, type: ',', count: 0, tokens: ['-nan'] },
    ],
  },
  {
    name: 'big number (token truncated, true length kept)',
    bytes: `(${BIGNUM}\r\n`,
    frames: [{ len: BIGNUM.length + 3, type: '(', count: 0, tokens: [BIGNUM.slice(0, TOKEN_BYTES)], lengths: [BIGNUM.length] }],
  },
  { name: 'verbatim', bytes: '=15\r\ntxt:Some string\r\n', frames: [{ len: 22, type: '=', count: 0, tokens: ['txt:some string'], lengths: [15] }] },
  { name: 'blob error', bytes: '!21\r\nSYNTAX invalid syntax\r\n', frames: [{ len: 28, type: '!', count: 0, tokens: ['syntax invalid syntax'] }] },
  { name: 'push', bytes: PUSH_MSG, frames: [{ len: PUSH_MSG.length, type: '>', count: 3, tokens: ['message', 'channel', 'hello'] }] },
  {
    name: 'attribute before an array (the RESP3 spec example): one frame, typed by the array',
    bytes: SPEC_ATTR,
    frames: [{ len: SPEC_ATTR.length, type: '*', count: 2, tokens: ['2039123', '9543892'] }],
  },
  {
    name: 'attribute before a simple string, then another reply',
    bytes: '|1\r\n+ttl\r\n:3600\r\n+OK\r\n:5\r\n',
    frames: [{ len: 22, type: '+', count: 0, tokens: ['ok'] }, { len: 4, type: ':', count: 0, tokens: ['5'] }],
  },
  {
    name: 'two attributes in a row before a push',
    bytes: `|1\r\n+a\r\n+b\r\n|0\r\n${PUSH_MSG}`,
    frames: [{ len: 16 + PUSH_MSG.length, type: '>', count: 3, tokens: ['message', 'channel', 'hello'] }],
  },
  {
    name: 'attribute whose key has an attribute',
    bytes: '|1\r\n|1\r\n+x\r\n+y\r\n+a\r\n+b\r\n:1\r\n',
    frames: [{ len: 28, type: ':', count: 0, tokens: ['1'] }],
  },
  {
    name: 'attribute before an element inside an array is not an element',
    bytes: '*3\r\n:1\r\n|1\r\n+a\r\n*1\r\n:0\r\n:2\r\n:3\r\n',
    frames: [{ len: 32, type: '*', count: 3, tokens: ['1', '2', '3'] }],
  },
  {
    name: 'nested maps',
    bytes: '%2\r\n+a\r\n%1\r\n+b\r\n%1\r\n+c\r\n:1\r\n+d\r\n_\r\n',
    frames: [{ len: 35, type: '%', count: 2, tokens: ['a', 'AGG', 'd', 'NULL'], lengths: [1, TOKEN_AGGREGATE, 1, TOKEN_NULL] }],
  },
  {
    name: 'push with a nested array, and a map inside a set',
    bytes: '>4\r\n+pmessage\r\n+p*\r\n+pc\r\n*2\r\n:1\r\n:2\r\n~2\r\n%1\r\n+k\r\n+v\r\n#t\r\n',
    frames: [
      { len: 37, type: '>', count: 4, tokens: ['pmessage', 'p*', 'pc', 'AGG'] },
      { len: 20, type: '~', count: 2, tokens: ['AGG', 't'] },
    ],
  },
  {
    name: 'empty aggregates and nulls',
    bytes: '%0\r\n~0\r\n>0\r\n*-1\r\n$-1\r\n',
    frames: [
      { len: 4, type: '%', count: 0, tokens: [] },
      { len: 4, type: '~', count: 0, tokens: [] },
      { len: 4, type: '>', count: 0, tokens: [] },
      { len: 5, type: '*', count: -1, tokens: [] },
      { len: 5, type: '$', count: 0, tokens: ['NULL'] },
    ],
  },
  {
    name: 'verbatim and blob error as elements, HELLO-like map',
    bytes: '%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*2\r\n=7\r\ntxt:abc\r\n!3\r\nERR\r\n',
    frames: [{ len: 81, type: '%', count: 3, tokens: ['server', 'redis', 'proto', '3', 'modules', 'AGG'] }],
  },
];

describe('RespScanner reply mode, RESP3', () => {
  for (const c of RESP3) {
    it(`${c.name}: frames, frameType, frameCount and tokens, at every split`, () => {
      const bytes = Buffer.from(c.bytes, 'latin1');
      const expected = c.frames.map((f) => ({
        len: f.len,
        frameType: f.type.charCodeAt(0),
        frameCount: f.count,
        tokens: f.tokens,
        ...(f.lengths ? { tokenLength: f.lengths } : {}),
      }));
      expect(expected.reduce((n, f) => n + f.len, 0)).toBe(bytes.length); // the table itself is consistent
      const view = (r: ScanResult) => {
        expect(r.error).toBeNull();
        return r.frames.map((f: ScannedFrame, i) => ({
          len: f.end - f.start,
          frameType: f.frameType,
          frameCount: f.frameCount,
          tokens: f.tokens,
          ...(c.frames[i]?.lengths ? { tokenLength: f.tokenLength } : {}),
        }));
      };
      expect(view(scan('reply', bytes))).toEqual(expected);
      for (let k = 0; k <= bytes.length; k++) expect(view(scanChunks('reply', cutAt(bytes, [k])))).toEqual(expected);
      expect(view(scanChunks('reply', oneByteChunks(bytes)))).toEqual(expected);
    });
  }

  it('is not at a boundary between a top-level attribute and the value it decorates', () => {
    // The attribute belongs to the next frame (the frame's bytes start at '|'), yet atBoundary
    // is true once the attribute is complete: valueDone() clears topIsAttributeOnly exactly when
    // the attribute ends, so the flag never holds while depth is 0.
    const s = new RespScanner('reply', { onFrame: () => {}, onProtocolError: (m) => expect.fail(m) });
    s.feed(Buffer.from('|1\r\n+a\r\n+b\r\n'));
    expect(s.atBoundary).toBe(false);
    s.feed(Buffer.from('+OK\r\n'));
    expect(s.atBoundary).toBe(true);
  });

  it('is at a boundary only between frames', () => {
    const s = new RespScanner('reply', { onFrame: () => {}, onProtocolError: (m) => expect.fail(m) });
    expect(s.atBoundary).toBe(true);
    for (const [part, boundary] of [['*2\r\n', false], [':1\r', false], ['\n', false], ['$3\r\nab', false], ['c\r\n', true], ['%1\r\n+k\r\n', false], ['+v\r\n', true]] as const) {
      s.feed(Buffer.from(part));
      expect([part, s.atBoundary]).toEqual([part, boundary]);
    }
  });

  // Only '?' is RESP3's streamed form; any other bad one-character length is just invalid.
  it('a one-character bad length like "$z" is an invalid length, not a streamed type', () => {
    expect(scan('reply', '$z\r\n').error?.message).toBe("Protocol error: invalid length for type '$'");
    expect(scan('reply', '*x\r\n').error?.message).toBe("Protocol error: invalid length for type '*'");
  });

  it('refuses streamed RESP3 types with a clear message', () => {
    expect(scan('reply', '$?\r\n;4\r\nHell\r\n;0\r\n').error?.message).toBe("Protocol error: streamed RESP3 type '$?' is not supported");
    expect(scan('reply', '+OK\r\n*?\r\n').error).toEqual({ message: "Protocol error: streamed RESP3 type '*?' is not supported", goodEnd: 5, chunkStart: 0 });
  });

  it('takes replies as deep as Redis makes them, and far deeper: the default bound is 2^24 levels', () => {
    expect(REDIS_DEFAULT_LIMITS.maxReplyDepth).toBe(1 << 24);
    // A Lua table that contains itself comes back ~8000 levels deep before Redis's own error.
    const lua = Buffer.from('*1\r\n'.repeat(7995) + '-ERR reached lua stack limit\r\n+PONG\r\n');
    const r = scan('reply', lua);
    expect(r.error).toBeNull();
    expect(r.frames.map((f) => f.end)).toEqual([7995 * 4 + 30, lua.length]);
    // A million levels, cut into 1000-byte chunks, still ends exactly where the frame ends.
    const million = Buffer.from('*1\r\n'.repeat(1_000_000) + ':1\r\n');
    const chunks: Buffer[] = [];
    for (let at = 0; at < million.length; at += 1000) chunks.push(million.subarray(at, at + 1000));
    const deep = scanChunks('reply', chunks);
    expect(deep.error).toBeNull();
    expect(deep.frames.map((f) => f.end)).toEqual([million.length]);
  });

  it('refuses a reply nested deeper than maxReplyDepth', () => {
    const limits = { ...REDIS_DEFAULT_LIMITS, maxReplyDepth: 3 };
    expect(scan('reply', '*1\r\n*1\r\n*1\r\n:1\r\n', limits).error).toBeNull();
    expect(scan('reply', '*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n', limits).error?.message).toBe('Protocol error: reply nested too deeply');
  });
});

describe('RespScanner reply mode, bad input and huge values', () => {
  it('rejects an unknown type byte with a clear message, after the good frames', () => {
    const r = scan('reply', '+OK\r\n:1\r\n@oops\r\n+NEVER\r\n');
    expect(r.frames.map((f) => f.end)).toEqual([5, 9]);
    expect(r.error).toEqual({ message: 'Protocol error: unknown RESP type byte 0x40', goodEnd: 9, chunkStart: 0 });
  });

  it('ignores everything fed after a protocol error', () => {
    const frames: number[] = [];
    const errors: string[] = [];
    const s = new RespScanner('reply', { onFrame: (_s, end) => frames.push(end), onProtocolError: (m) => errors.push(m) });
    s.feed(Buffer.from('+A\r\n'));
    s.feed(Buffer.from('\x01'));
    s.feed(Buffer.from('+B\r\n'));
    expect(frames).toEqual([4]);
    expect(errors).toEqual(['Protocol error: unknown RESP type byte 0x01']);
    expect(s.failed).toBe(true);
  });

  it('goodEnd is relative to the chunk holding the error (0 when no frame ended in it)', () => {
    expect(scanChunks('reply', [Buffer.from('+A\r\n'), Buffer.from('?')]).error?.goodEnd).toBe(0);
    expect(scanChunks('reply', [Buffer.from('+A\r\n+'), Buffer.from('B\r\n:1\r\n?')]).error?.goodEnd).toBe(7);
  });

  it('skips a 600 MB bulk by arithmetic: fed in 1 MB chunks of zeros, memory does not grow', () => {
    const size = 600 * 1024 * 1024;
    const zeros = Buffer.alloc(1024 * 1024);
    const ends: number[] = [];
    const types: number[] = [];
    const lengths: number[] = [];
    const s = new RespScanner('reply', {
      onFrame: (sc, end) => {
        ends.push(end);
        types.push(sc.frameType);
        lengths.push(sc.tokenLength[0]!);
      },
      onProtocolError: (m) => expect.fail(m),
    });
    const before = process.memoryUsage().arrayBuffers;
    s.feed(Buffer.from(`$${size}\r\n`));
    let maxSeen = before;
    for (let fed = 0; fed < size; fed += zeros.length) {
      s.feed(zeros);
      if ((fed & (64 * 1024 * 1024 - 1)) === 0) maxSeen = Math.max(maxSeen, process.memoryUsage().arrayBuffers);
      expect(ends).toEqual([]);
    }
    s.feed(Buffer.from('\r\n+OK\r\n'));
    const after = process.memoryUsage().arrayBuffers;
    expect(types).toEqual([RESP_TYPE.BULK, RESP_TYPE.SIMPLE]);
    expect(ends).toEqual([2, 7]);
    expect(lengths[0]).toBe(size); // the token keeps the true length
    expect(Math.max(after, maxSeen) - before).toBeLessThan(64 * 1024 * 1024);
  });
});

// --- request mode --------------------------------------------------------------------------

describe('RespScanner request mode', () => {
  const one = (bytes: string | Buffer) => {
    const r = scan('request', bytes);
    expect(r.error).toBeNull();
    expect(r.frames.length).toBe(1);
    return r.frames[0]!;
  };

  it('reads an inline PING (CRLF and bare LF)', () => {
    for (const line of ['PING\r\n', 'PING\n', 'PiNg  \r\n', '  ping\n']) {
      const f = one(line);
      expect({ type: f.frameType, count: f.frameCount, tokens: f.tokens, end: f.end }).toEqual({ type: 0, count: 1, tokens: ['ping'], end: line.length });
    }
  });

  it('splits inline arguments with quotes like Redis', () => {
    const f = one('set a "b c"\r\n');
    expect(f.frameCount).toBe(3);
    expect(f.tokens).toEqual(['set', 'a', 'b c']);
    expect(f.tokenLength).toEqual([3, 1, 3]);
  });

  it('reports an empty line and *0 as commands with frameCount 0', () => {
    for (const bytes of ['\r\n', '\n', '   \t \r\n', '*0\r\n', '*-1\r\n']) {
      const f = one(bytes);
      expect({ count: f.frameCount, tokenCount: f.tokenCount, end: f.end }).toEqual({ count: 0, tokenCount: 0, end: bytes.length });
    }
    const r = scan('request', '*0\r\n\r\nPING\r\n');
    expect(r.frames.map((f) => [f.end, f.frameCount])).toEqual([[4, 0], [6, 0], [12, 1]]);
  });

  it('lower-cases multibulk tokens, truncates them at TOKEN_BYTES and keeps the true length', () => {
    const long = 'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN';
    const bytes = `*4\r\n$3\r\nSET\r\n$3\r\nKeY\r\n$${long.length}\r\n${long}\r\n$0\r\n\r\n`;
    for (const chunks of [[Buffer.from(bytes)], oneByteChunks(Buffer.from(bytes))]) {
      const r = scanChunks('request', chunks);
      expect(r.error).toBeNull();
      const f = r.frames[0]!;
      expect(f.frameType).toBe(RESP_TYPE.ARRAY);
      expect(f.frameCount).toBe(4);
      expect(f.tokens).toEqual(['set', 'key', long.toLowerCase().slice(0, TOKEN_BYTES), '']);
      expect(f.tokenLength).toEqual([3, 3, long.length, 0]);
      expect(f.tokenHash[2]).toBe(fnv1a(Buffer.from(long.toLowerCase().slice(0, TOKEN_BYTES))));
    }
  });

  it('truncates inline tokens the same way', () => {
    const long = 'X'.repeat(45);
    const f = one(`GET ${long}\r\n`);
    expect(f.tokens).toEqual(['get', 'x'.repeat(TOKEN_BYTES)]);
    expect(f.tokenLength).toEqual([3, 45]);
  });

  it('captures at most MAX_TOKENS tokens but counts every argument', () => {
    const args = Array.from({ length: 11 }, (_, i) => `a${i}`);
    const multibulk = `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;
    for (const bytes of [multibulk, `${args.join(' ')}\r\n`]) {
      const f = one(bytes);
      expect(f.frameCount).toBe(11);
      expect(f.tokenCount).toBe(MAX_TOKENS);
      expect(f.tokens).toEqual(args.slice(0, MAX_TOKENS));
    }
  });

  it('reports pipelined commands at their exact ends, at every split', () => {
    const bytes = Buffer.from('*1\r\n$4\r\nPING\r\nGET a\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n\r\n*0\r\nQUIT\n');
    const want = [14, 21, 41, 43, 47, 52];
    expect(scan('request', bytes).frames.map((f) => f.end)).toEqual(want);
    for (let k = 0; k <= bytes.length; k++) {
      const r = scanChunks('request', cutAt(bytes, [k]));
      expect(r.frames.map((f) => [f.end, f.tokens[0]])).toEqual(scan('request', bytes).frames.map((f) => [f.end, f.tokens[0]]));
    }
    expect(scanChunks('request', oneByteChunks(bytes)).frames.map((f) => f.end)).toEqual(want);
  });

  it('random multibulk commands in random chunks: argc, tokens and ends', () => {
    const cmdArb = fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (cmds, rawCuts) => {
        const encoded = cmds.map((args) =>
          Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.map((a) => Buffer.concat([Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n')]))]),
        );
        const stream = Buffer.concat(encoded);
        const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const r = scanChunks('request', cutAt(stream, cuts));
        expect(r.error).toBeNull();
        let end = 0;
        expect(r.frames.map((f) => ({ end: f.end, count: f.frameCount, tokens: f.tokens, len: f.tokenLength }))).toEqual(
          cmds.map((args, i) => {
            end += encoded[i]!.length;
            const toks = args.slice(0, MAX_TOKENS).map((a) => Buffer.from(a));
            return { end, count: args.length, tokens: toks.map(lower), len: toks.map((t) => t.length) };
          }),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('accepts a bulk of exactly 512 MB and skips it without buffering', () => {
    const size = 512 * 1024 * 1024;
    const r = scanChunks('request', [Buffer.from(`*2\r\n$3\r\nSET\r\n$${size}\r\n`)]);
    expect(r.error).toBeNull();
    expect(r.frames).toEqual([]);
  });
});

// --- request-mode errors, compared with a real redis-server 7 ---------------------------------

describe('RespScanner request mode: protocol errors are exactly what redis-server answers', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** The protocol error line redis-server sends for `bytes` ("-ERR Protocol error: ..."), or null. */
  async function serverProtocolError(bytes: Buffer): Promise<string | null> {
    const out = await exchange(redis.port, bytes, {
      until: (got) => got.includes('Protocol error') && got.includes('\r\n', got.indexOf('Protocol error')),
      timeoutMs: 300,
    });
    const text = out.toString('latin1');
    const at = text.indexOf('-ERR Protocol error');
    return at < 0 ? null : text.slice(at, text.indexOf('\r\n', at));
  }

  function scannerProtocolError(bytes: Buffer): string | null {
    const whole = scan('request', bytes).error;
    return whole === null ? null : `-ERR ${whole.message}`;
  }

  const big = (prefix: string, n: number, fill: string, suffix = '') =>
    Buffer.concat([Buffer.from(prefix), Buffer.alloc(n, fill), Buffer.from(suffix)]);

  const agreeing: [string, Buffer, string | null][] = [
    ['invalid multibulk length', Buffer.from('*abc\r\n'), '-ERR Protocol error: invalid multibulk length'],
    ["expected '$', got '+'", Buffer.from('*2\r\n+x\r\n'), "-ERR Protocol error: expected '$', got '+'"],
    ['negative bulk length', Buffer.from('*1\r\n$-5\r\n'), '-ERR Protocol error: invalid bulk length'],
    ['bulk length above 512 MB', Buffer.from('*1\r\n$536870913\r\n'), '-ERR Protocol error: invalid bulk length'],
    ['bulk length of exactly 512 MB is fine', Buffer.from('*1\r\n$536870912\r\n'), null],
    ['multibulk count far above INT_MAX', Buffer.from('*99999999999\r\n'), '-ERR Protocol error: invalid multibulk length'],
    ['multibulk count with a leading zero', Buffer.from('*01\r\n$4\r\nPING\r\n'), '-ERR Protocol error: invalid multibulk length'],
    ['multibulk count with a plus sign', Buffer.from('*+1\r\n$4\r\nPING\r\n'), '-ERR Protocol error: invalid multibulk length'],
    ['bulk length with a leading zero', Buffer.from('*1\r\n$04\r\nPING\r\n'), '-ERR Protocol error: invalid bulk length'],
    ['empty multibulk count', Buffer.from('*\r\n'), '-ERR Protocol error: invalid multibulk length'],
    ['inline line over 64 KB without a newline', big('', 70 * 1024, 'a'), '-ERR Protocol error: too big inline request'],
    ['unbalanced double quotes', Buffer.from('set a "b\r\n'), '-ERR Protocol error: unbalanced quotes in request'],
    ['unbalanced single quotes', Buffer.from("set a 'b\r\n"), '-ERR Protocol error: unbalanced quotes in request'],
    ['closing quote followed by a non-space', Buffer.from('set a "b"c\r\n'), '-ERR Protocol error: unbalanced quotes in request'],
    ['multibulk length line over 64 KB', big('*', 70 * 1024, '1'), '-ERR Protocol error: too big mbulk count string'],
    ['bulk length line over 64 KB', big('*1\r\n$', 70 * 1024, '1'), '-ERR Protocol error: too big bulk count string'],
    ['a valid command before the error', Buffer.from('PING\r\n*2\r\n$3\r\nGET\r\n:1\r\n'), "-ERR Protocol error: expected '$', got ':'"],
    ['empty commands are ignored', Buffer.from('*0\r\n*-1\r\n\r\nPING\r\n'), null],
  ];

  for (const [name, bytes, expected] of agreeing) {
    it(`${name}`, async () => {
      const server = await serverProtocolError(bytes);
      expect(server).toBe(expected); // what redis-server 7 really says
      expect(scannerProtocolError(bytes)).toBe(server);
      // The same error arrives when the bytes come one by one (short inputs) or in 4 KB chunks.
      const chunked = bytes.length < 512 ? oneByteChunks(bytes) : cutAt(bytes, Array.from({ length: Math.floor(bytes.length / 4096) }, (_, i) => (i + 1) * 4096));
      const e = scanChunks('request', chunked).error;
      expect(e === null ? null : `-ERR ${e.message}`).toBe(server);
    });
  }

  it('reports goodEnd after the last complete command', () => {
    expect(scan('request', 'PING\r\n*abc\r\n').error).toEqual({ message: 'Protocol error: invalid multibulk length', goodEnd: 6, chunkStart: 0 });
    expect(scanChunks('request', [Buffer.from('PING\r\n'), Buffer.from('GET a\r\n*x\r\n')]).error?.goodEnd).toBe(7);
    expect(scanChunks('request', [Buffer.from('PING\r\n'), Buffer.from('*x\r\n')]).error?.goodEnd).toBe(0);
  });

  // Deviations from redis-server 7.0.15 found by these tests (reported; see the test names).

  it('accepts a multibulk count above 1048576, as redis-server 7 does (its limit is INT_MAX)', async () => {
    // 1048577 arguments: ECHO plus 1048576 one-byte bulks. Redis parses it and answers a
    // wrong-number-of-arguments error; the scanner refuses the count line.
    const n = 1024 * 1024 + 1;
    const bytes = Buffer.concat([Buffer.from(`*${n}\r\n$4\r\nECHO\r\n`), Buffer.from('$1\r\nx\r\n'.repeat(n - 1))]);
    const out = await exchange(redis.port, bytes, { until: (g) => g.includes('\r\n'), timeoutMs: 5000 });
    expect(out.toString()).toBe("-ERR wrong number of arguments for 'echo' command\r\n");
    expect(scannerProtocolError(bytes)).toBeNull();
  });

  it('treats "*-0" as an invalid multibulk length, as redis-server does (string2ll rejects "-0")', async () => {
    const bytes = Buffer.from('*-0\r\nPING\r\n');
    expect(await serverProtocolError(bytes)).toBe('-ERR Protocol error: invalid multibulk length');
    expect(scannerProtocolError(bytes)).toBe('-ERR Protocol error: invalid multibulk length');
  });

  it("names a CR type byte as ' ' like redis-server (the error text must stay on one line)", async () => {
    const bytes = Buffer.from('*1\r\n\r\n');
    expect(await serverProtocolError(bytes)).toBe("-ERR Protocol error: expected '$', got ' '");
    expect(scannerProtocolError(bytes)).toBe("-ERR Protocol error: expected '$', got ' '");
  });

  it('accepts a complete inline line longer than 64 KB when its newline is in the buffer, as redis-server does', async () => {
    const bytes = big('ECHO ', 70_000, 'a', '\r\n');
    const out = await exchange(redis.port, bytes, { until: (g) => g.length >= 70_000, timeoutMs: 2000 });
    expect(out.subarray(0, 8).toString()).toBe('$70000\r\n');
    expect(scannerProtocolError(bytes)).toBeNull();
  });

  it('says "too big bulk count string" when 64 KB arrive without a CR after the count, as redis-server does', async () => {
    const bytes = big('*1\r\n', 70 * 1024, 'x');
    expect(await serverProtocolError(bytes)).toBe('-ERR Protocol error: too big bulk count string');
    expect(scannerProtocolError(bytes)).toBe('-ERR Protocol error: too big bulk count string');
  });
});

describe('RespScanner options', () => {
  /** Token texts of every frame, for a reply scanner built with `options`. */
  function tokensOf(bytes: string, options: ConstructorParameters<typeof RespScanner>[2]): string[][] {
    const out: string[][] = [];
    const s = new RespScanner(
      'reply',
      {
        onFrame: (sc) => {
          const t: string[] = [];
          for (let k = 0; k < sc.tokenCount; k++) t.push(Buffer.from(sc.tokenBytes.subarray(k * TOKEN_BYTES, k * TOKEN_BYTES + Math.max(0, Math.min(sc.tokenLength[k]!, TOKEN_BYTES)))).toString('latin1'));
          out.push(t);
        },
        onProtocolError: (m) => expect.fail(m),
      },
      options,
    );
    s.feed(Buffer.from(bytes, 'latin1'));
    return out;
  }

  const STREAM = '+OK\r\n-ERR x\r\n:5\r\n$3\r\nabc\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n>2\r\n$1\r\np\r\n$1\r\nq\r\n';

  it('without lean, every top-level scalar and the elements of every aggregate are captured', () => {
    expect(tokensOf(STREAM, {})).toEqual([['ok'], ['err x'], ['5'], ['abc'], ['a', 'b'], ['p', 'q']]);
  });

  it('lean: only simple strings, errors and push elements, and array elements while `arrays` says so', () => {
    // Without an ArrayCapture arrays are captured, as before the option existed.
    expect(tokensOf(STREAM, { lean: true })).toEqual([['ok'], ['err x'], [], [], ['a', 'b'], ['p', 'q']]);
    expect(tokensOf(STREAM, { lean: true, arrays: { captureArrays: false } })).toEqual([['ok'], ['err x'], [], [], [], ['p', 'q']]);
    expect(tokensOf(STREAM, { lean: true, arrays: { captureArrays: true } })).toEqual([['ok'], ['err x'], [], [], ['a', 'b'], ['p', 'q']]);
  });

  it('`arrays` is read as each reply begins, so a change takes effect from the next frame, even mid-chunk', () => {
    const capture = { captureArrays: false };
    const seen: number[] = [];
    const s = new RespScanner(
      'reply',
      {
        onFrame: (sc) => {
          seen.push(sc.tokenCount);
          capture.captureArrays = !capture.captureArrays;
        },
        onProtocolError: (m) => expect.fail(m),
      },
      { lean: true, arrays: capture },
    );
    const arr = '*2\r\n$1\r\na\r\n$1\r\nb\r\n';
    s.feed(Buffer.from(arr + arr));
    // A change made while a frame is being scanned does not affect that frame.
    s.feed(Buffer.from(arr.slice(0, 6)));
    capture.captureArrays = !capture.captureArrays;
    s.feed(Buffer.from(arr.slice(6)));
    expect(seen).toEqual([0, 2, 0]);
  });

  it('limits given as an option apply in request mode', () => {
    const limits = { ...REDIS_DEFAULT_LIMITS, maxBulkLength: 4, maxMultibulkLength: 2, maxInlineLength: 10 };
    expect(scan('request', '*1\r\n$4\r\nPING\r\n', limits).error).toBeNull();
    expect(scan('request', '*1\r\n$5\r\nHELLO\r\n', limits).error?.message).toBe('Protocol error: invalid bulk length');
    expect(scan('request', '*3\r\n$1\r\na\r\n', limits).error?.message).toBe('Protocol error: invalid multibulk length');
    expect(scan('request', 'PING 12345678', limits).error?.message).toBe('Protocol error: too big inline request');
  });
});
