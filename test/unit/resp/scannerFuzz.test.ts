/**
 * Property tests (fast-check) of the request and reply scanners against reference decoders from
 * maintained client libraries, used only here as oracles:
 * - RESP2: redis-parser 3 (the parser node-redis 3 and ioredis 4 used);
 * - RESP3: the Decoder that ioredis 6 ships in built/resp/decoder.js (adapted from node-redis 4+).
 *   It is used on its own (a class taking callbacks; no connection needed). It does not know
 *   RESP3 attributes ('|'): for those the independent test codec in test/support/resp.ts is the
 *   oracle, and a test shows that the ioredis decoder refuses them.
 *
 * The ioredis decoder calls back before a frame's last CR LF has arrived, so its callback timing
 * does not show frame ends; each frame the scanner reports is instead decoded alone, followed by
 * a separate "+X" sentinel frame, which survives only if the oracle ended exactly there (see
 * oracleSegments).
 *
 * Properties: random valid streams cut at random points give the same frames at the same
 * offsets and the same values; a stream truncated anywhere gives exactly the frames that fit,
 * and the scanner is at a boundary only where a frame ended; random byte flips never make the
 * scanner throw, frames before the first flipped byte are unchanged, errors are reported once
 * with nothing after them, and over the part of the mutated stream that is still strictly valid
 * (canonical bytes, accepted by the oracle) scanner and oracle agree on every boundary.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESP_TYPE, RespScanner, type ScannerMode } from '../../../src/resp/scanner.js';
import { cutAt } from '../../support/chunks.js';
import { parseFrames, type RespValue } from '../../support/resp.js';
import { Parser, scanChunks } from './scanHelpers.js';

const require = createRequire(import.meta.url);

// --- oracles ------------------------------------------------------------------------------

interface IoredisDecoder {
  write(chunk: Buffer): void;
}
type DecoderCtor = new (opts: {
  onReply(v: unknown): void;
  onErrorReply(e: Error): void;
  onPush(p: unknown[]): void;
  getTypeMapping(): Record<number, unknown>;
}) => IoredisDecoder;
const { Decoder } = require('ioredis/built/resp/decoder.js') as { Decoder: DecoderCtor };


type OracleKind = 'resp2' | 'resp3';

/** A fresh oracle decoder; `feed` throws on input the oracle cannot decode. */
function oracle(kind: OracleKind): { feed(b: Buffer): void; values: unknown[] } {
  const values: unknown[] = [];
  if (kind === 'resp3') {
    const d = new Decoder({
      onReply: (v) => values.push(v),
      onErrorReply: (e) => values.push({ error: e.message }),
      onPush: (p) => values.push({ push: p }),
      getTypeMapping: () => ({}),
    });
    return { feed: (b) => d.write(b), values };
  }
  let fatal: Error | null = null;
  const p = new Parser({
    returnReply: (v) => values.push(v),
    returnError: (e) => values.push({ error: e.message }),
    returnFatalError: (e) => {
      fatal = e;
    },
    returnBuffers: true,
  });
  return {
    feed: (b) => {
      if (fatal === null) p.execute(b);
      if (fatal !== null) throw fatal;
    },
    values,
  };
}

/** Every value the oracle decodes from `chunks` fed in order, or null if it throws. */
function decode(kind: OracleKind, chunks: readonly Buffer[]): unknown[] | null {
  const o = oracle(kind);
  try {
    for (const c of chunks) o.feed(c);
  } catch {
    return null;
  }
  return o.values;
}

const SENTINEL = Buffer.from('+X\r\n');
const sentinelValue = (kind: OracleKind): unknown => (kind === 'resp3' ? 'X' : Buffer.from('X'));

/**
 * Checks the scanner's frame ends against the oracle. The ioredis decoder calls back as soon as
 * it knows a value, before the frame's last CR LF has arrived (it skips those bytes later by
 * cursor arithmetic), so callback timing does not show where a frame ends. Instead each
 * segment the scanner reports is decoded alone, followed by a separate chunk holding "+X\r\n":
 * the oracle must give exactly one value and then X. A segment one byte short leaves the oracle
 * skipping into the sentinel; one byte long gives it a stray byte. Returns the segments' values,
 * or a description of the first disagreement.
 */
function oracleSegments(kind: OracleKind, stream: Buffer, ends: readonly number[]): { values: unknown[] } | { problem: string } {
  const values: unknown[] = [];
  let start = 0;
  for (const [i, end] of ends.entries()) {
    const got = decode(kind, [stream.subarray(start, end), SENTINEL]);
    const seg = JSON.stringify(stream.toString('latin1', start, end).slice(0, 120));
    if (got === null) return { problem: `frame ${i} ${seg}: the oracle refused it` };
    if (got.length !== 2) return { problem: `frame ${i} ${seg}: the oracle decoded ${got.length - 1} values from it` };
    try {
      expect(got[1]).toEqual(sentinelValue(kind));
    } catch {
      return { problem: `frame ${i} ${seg}: the oracle did not end where the scanner did (sentinel became ${JSON.stringify(got[1])})` };
    }
    values.push(got[0]);
    start = end;
  }
  return { values };
}

/** The scanner's frames are exactly the oracle's values of the whole stream, in order, at the same ends. */
function expectAgreement(kind: OracleKind, stream: Buffer, ends: readonly number[]): void {
  const whole = decode(kind, [stream]);
  expect(whole).not.toBeNull();
  const segs = oracleSegments(kind, stream, ends);
  expect(segs).not.toHaveProperty('problem');
  expect((segs as { values: unknown[] }).values).toEqual(whole);
}

// --- what counts as valid after a mutation ---------------------------------------------------

/**
 * Canonical bytes of a value decoded by the independent test codec, or null when `v` uses a
 * type outside `types`. A frame is strictly valid when its bytes are exactly this.
 */
function canonical(v: RespValue, types: string): Buffer | null {
  const t = { simple: '+', error: '-', bignum: '(', double: ',', verbatim: '=', bloberror: '!', integer: ':', bulk: '$', boolean: '#', null: '_', array: '*', set: '~', push: '>', map: '%', attribute: '|' }[v.type];
  if (!types.includes(t)) return null;
  switch (v.type) {
    case 'simple':
    case 'error':
      // A line holds neither CR nor LF (the test codec reads up to the first CR LF only).
      return /[\r\n]/.test(v.value) ? null : b(`${t}${v.value}\r\n`);
    case 'bignum':
      return /^-?[0-9]+$/.test(v.value) ? b(`(${v.value}\r\n`) : null;
    case 'double':
      return /^(?:[-+]?(?:inf|[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|nan)$/.test(v.value) ? b(`,${v.value}\r\n`) : null;
    case 'integer':
      return b(`:${v.value}\r\n`);
    case 'boolean':
      return b(`#${v.value ? 't' : 'f'}\r\n`);
    case 'null':
      return b('_\r\n');
    case 'verbatim':
    case 'bloberror': {
      const p = Buffer.from(v.value);
      return Buffer.concat([b(`${t}${p.length}\r\n`), p, b('\r\n')]);
    }
    case 'bulk':
      return v.value === null ? b('$-1\r\n') : Buffer.concat([b(`$${v.value.length}\r\n`), v.value, b('\r\n')]);
    case 'array':
    case 'set':
    case 'push': {
      // Only the array has a null form (RESP2's *-1); RESP3 has no null set or push.
      if (v.value === null) return v.type === 'array' ? b('*-1\r\n') : null;
      const parts = v.value.map((x) => canonical(x, types));
      return parts.includes(null) ? null : Buffer.concat([b(`${t}${v.value.length}\r\n`), ...(parts as Buffer[])]);
    }
    case 'map':
    case 'attribute': {
      const parts = v.value.flat().map((x) => canonical(x, types));
      return parts.includes(null) ? null : Buffer.concat([b(`${t}${v.value.length}\r\n`), ...(parts as Buffer[])]);
    }
  }
}

/**
 * Ends of the leading frames of `bytes` that are strictly valid (their bytes are their canonical
 * form, every type in `types`). Beyond the last of them a mutation made the stream something no
 * server sends; there the decoders may legitimately differ (each is lenient in its own way).
 */
function validPrefixEnds(bytes: Buffer, types: string, kind: OracleKind): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let parsed: { values: RespValue[]; consumed: number };
    try {
      parsed = parseFrames(bytes.subarray(pos));
    } catch {
      break;
    }
    if (parsed.values.length === 0) break;
    const enc = canonical(parsed.values[0]!, types);
    if (enc === null || pos + enc.length > bytes.length || !enc.equals(bytes.subarray(pos, pos + enc.length))) break;
    // …and the oracle reads it as exactly one value (it is stricter in places, e.g. no null set).
    if (!('values' in oracleSegments(kind, bytes.subarray(pos, pos + enc.length), [enc.length]))) break;
    pos += enc.length;
    out.push(pos);
  }
  return out;
}

// --- the scanner, fed in chunks -------------------------------------------------------------

interface ScannerRun {
  ends: number[];
  types: number[];
  counts: number[];
  error: { message: string; at: number } | null;
  atBoundary: boolean;
}

function scanner(mode: ScannerMode, chunks: readonly Buffer[]): ScannerRun {
  const r = scanChunks(mode, chunks);
  // Rebuild atBoundary by running a second scanner (scanChunks does not expose the instance).
  const s = new RespScanner(mode, { onFrame: () => {}, onProtocolError: () => {} });
  for (const c of chunks) s.feed(c);
  return {
    ends: r.frames.map((f) => f.end),
    types: r.frames.map((f) => f.frameType),
    counts: r.frames.map((f) => f.frameCount),
    error: r.error === null ? null : { message: r.error.message, at: r.error.chunkStart + r.error.goodEnd },
    atBoundary: s.atBoundary,
  };
}

// --- RESP3 values ---------------------------------------------------------------------------

interface Gen {
  bytes: Buffer;
  /** Type byte and element count the scanner must report for it as a top-level frame. */
  type: number;
  count: number;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const line = (t: string, text: string): Gen => ({ bytes: b(`${t}${text}\r\n`), type: t.charCodeAt(0), count: 0 });
const blob = (t: string, payload: Buffer): Gen => ({
  bytes: Buffer.concat([b(`${t}${payload.length}\r\n`), payload, b('\r\n')]),
  type: t.charCodeAt(0),
  count: 0,
});
const agg = (t: string, items: Gen[], pairs = false): Gen => ({
  bytes: Buffer.concat([b(`${t}${pairs ? items.length / 2 : items.length}\r\n`), ...items.map((i) => i.bytes)]),
  type: t.charCodeAt(0),
  count: pairs ? items.length / 2 : items.length,
});

/** Text without CR or LF (the only bytes a simple line may not hold). */
const lineText = fc.string({ unit: fc.constantFrom(...'abcXYZ 019:$*-+_%~>|#,(=!\t\x00\xff'.split('')), maxLength: 30 });
const payload = fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a));

const scalar3: fc.Arbitrary<Gen> = fc.oneof(
  lineText.map((s) => line('+', s)),
  lineText.map((s) => line('-', `ERR ${s}`)),
  fc.oneof(fc.integer(), fc.constant(0), fc.maxSafeInteger()).map((n) => line(':', String(n))),
  payload.map((p) => blob('$', p)),
  fc.constant({ bytes: b('$-1\r\n'), type: RESP_TYPE.BULK, count: 0 }),
  fc.constant(line('_', '')),
  fc.constantFrom('t', 'f').map((x) => line('#', x)),
  fc.constantFrom('1.5', '-2', '0', 'inf', '-inf', 'nan', '3.25e10', '-0.125').map((x) => line(',', x)),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((n) => line('(', String(n))),
  fc.tuple(fc.constantFrom('txt', 'mkd'), payload).map(([f, p]) => blob('=', Buffer.concat([b(`${f}:`), p]))),
  lineText.map((s) => blob('!', b(`SYNTAX ${s}`))),
);

const value3: fc.Arbitrary<Gen> = fc.letrec<{ v: Gen; a: Gen }>((tie) => ({
  v: fc.oneof({ maxDepth: 3, depthIdentifier: 'r3' }, scalar3, scalar3, scalar3, tie('a')),
  a: fc.oneof(
    { depthIdentifier: 'r3' },
    fc.array(tie('v'), { maxLength: 6, depthIdentifier: 'r3' }).map((xs) => agg('*', xs)),
    fc.array(tie('v'), { maxLength: 6, depthIdentifier: 'r3' }).map((xs) => agg('~', xs)),
    fc.array(fc.tuple(scalar3, tie('v')), { maxLength: 4, depthIdentifier: 'r3' }).map((ps) => agg('%', ps.flat(), true)),
    fc.constant({ bytes: b('*-1\r\n'), type: RESP_TYPE.ARRAY, count: -1 }),
  ),
})).v;

/** A top-level RESP3 frame: any value, or a push (which only appears at the top level). */
const frame3: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 4, arbitrary: value3 },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('message', 'invalidate', 'pmessage'), fc.array(value3, { maxLength: 4 })).map(([k, xs]) => agg('>', [blob('$', b(k)), ...xs])) },
);

interface Stream {
  frames: Gen[];
  stream: Buffer;
  cuts: number[];
}

function streamOf(gen: fc.Arbitrary<Gen>, maxFrames = 8): fc.Arbitrary<Stream> {
  return fc.array(gen, { minLength: 1, maxLength: maxFrames }).chain((frames) => {
    const stream = Buffer.concat(frames.map((f) => f.bytes));
    return fc
      .uniqueArray(fc.integer({ min: 1, max: Math.max(1, stream.length - 1) }), { maxLength: 25 })
      .map((cuts) => ({ frames, stream, cuts: cuts.filter((c) => c < stream.length).sort((x, y) => x - y) }));
  });
}

const ends = (frames: Gen[]): number[] => {
  let pos = 0;
  return frames.map((f) => (pos += f.bytes.length));
};

/** Byte flips (offset, new byte) applied to a copy; returns the copy and the first changed offset. */
function mutate(stream: Buffer, flips: [number, number][]): { bytes: Buffer; first: number } {
  const bytes = Buffer.from(stream);
  let first = Infinity;
  for (const [at, v] of flips) {
    const i = at % bytes.length;
    if (bytes[i] !== v) first = Math.min(first, i);
    bytes[i] = v;
  }
  return { bytes, first };
}

const flipsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
/** Flips biased towards the bytes that matter most: type bytes, digits, CR and LF. */
const nastyFlipsArb = fc.array(fc.tuple(fc.nat(), fc.constantFrom(13, 10, 48, 49, 57, 45, 43, 36, 42, 37, 126, 62, 95, 124, 63, 0)), {
  minLength: 1,
  maxLength: 3,
});

// --- RESP3 against the ioredis decoder --------------------------------------------------------

/**
 * A valid stream cut at random points: no error, the generated frames at the same ends with the
 * same element counts; then `oracle` checks the rest its own way.
 */
function cutStreamsFit(mode: ScannerMode, stream: fc.Arbitrary<Stream>, oracle: (s: ScannerRun, frames: Gen[], bytes: Buffer) => void): void {
  fc.assert(
    fc.property(stream, ({ frames, stream: bytes, cuts }) => {
      const s = scanner(mode, cutAt(bytes, cuts));
      expect(s.error).toBeNull();
      expect(s.ends).toEqual(ends(frames));
      expect(s.counts).toEqual(frames.map((f) => f.count));
      oracle(s, frames, bytes);
    }),
    { numRuns: 200 },
  );
}

/**
 * A valid stream truncated anywhere (and cut at random points): exactly the frames that fit, no
 * error, at a boundary only where a frame ended; then `oracle` checks the head its own way.
 */
function truncatedFits(mode: ScannerMode, stream: fc.Arbitrary<Stream>, oracle?: (head: Buffer, scanned: number[], fit: number[]) => void): void {
  fc.assert(
    fc.property(stream, fc.nat(), ({ frames, stream: bytes, cuts }, t0) => {
      const t = t0 % (bytes.length + 1);
      const head = bytes.subarray(0, t);
      const fit = ends(frames).filter((e) => e <= t);
      const s = scanner(mode, cutAt(head, cuts.filter((c) => c < t)));
      expect(s.error).toBeNull();
      expect(s.ends).toEqual(fit);
      expect(s.atBoundary).toBe(t === 0 || fit.at(-1) === t);
      oracle?.(head, s.ends, fit);
    }),
    { numRuns: 300 },
  );
}

/** Flipped bytes: the scanner never throws, errors are reported once, nothing is reported after them. */
function expectSaneOnGarbage(s: ScannerRun, length: number): void {
  if (s.error === null) return;
  expect(s.error.message).toMatch(/^Protocol error: /);
  expect(s.error.at).toBeLessThanOrEqual(length);
  expect(s.ends.every((e) => e <= s.error!.at)).toBe(true);
}

describe('reply scanner vs the ioredis 6 RESP3 decoder', () => {
  it('the oracle decodes the generated values whole and byte by byte alike (sanity: it is usable as an oracle)', () => {
    fc.assert(
      fc.property(streamOf(frame3), ({ frames, stream }) => {
        const whole = decode('resp3', [stream]);
        expect(whole).not.toBeNull();
        expect(whole!.length).toBe(frames.length);
        expect(decode('resp3', [...stream].map((x) => Buffer.from([x])))).toEqual(whole);
      }),
      { numRuns: 100 },
    );
  });

  it('random valid RESP3 streams cut at random points: the same frames at the same ends, types and counts as generated', () => {
    cutStreamsFit('reply', streamOf(frame3), (s, frames, stream) => {
      expect(s.types).toEqual(frames.map((f) => f.type));
      expect(s.atBoundary).toBe(true);
      expectAgreement('resp3', stream, s.ends);
    });
  });

  it('truncated anywhere: exactly the frames that fit, no error, at a boundary only where a frame ended', () => {
    truncatedFits('reply', streamOf(frame3), (head, scanned) => {
      // The oracle agrees on the frames that fit, and finds the rest incomplete.
      expect(oracleSegments('resp3', head, scanned)).not.toHaveProperty('problem');
      const whole = decode('resp3', [head]);
      expect(whole).not.toBeNull();
    });
  });

  it('random byte flips: feed() never throws; frames before the first flip are unchanged; over the still-valid part, scanner and oracle agree', () => {
    flipsAgree('resp3', streamOf(frame3), '+-(,=!:$#_*~>%');
  });

  it('attributes (|), which ioredis does not decode: the scanner folds them into the value they decorate, as the test codec does', () => {
    const attribute = fc
      .array(fc.tuple(scalar3, value3), { minLength: 1, maxLength: 3 })
      .map((ps) => agg('|', ps.flat(), true));
    const decorated = fc.tuple(attribute, frame3).map(([a, v]) => ({ bytes: Buffer.concat([a.bytes, v.bytes]), type: v.type, count: v.count }));
    // Why a second oracle is needed here: the ioredis decoder throws on the attribute type byte.
    expect(decode('resp3', [b('|1\r\n+a\r\n:1\r\n+x\r\n')])).toBeNull();
    cutStreamsFit('reply', streamOf(fc.oneof(decorated, frame3), 6), (s, frames, stream) => {
      expect(s.types).toEqual(frames.map((f) => f.type));
      expect(parseFrames(stream).values.length).toBe(frames.length);
      let start = 0;
      for (const e of s.ends) {
        const one = parseFrames(stream.subarray(start, e));
        expect(one.values.length).toBe(1);
        expect(one.consumed).toBe(e - start);
        start = e;
      }
    });
  });
});

// --- RESP2 against redis-parser -----------------------------------------------------------------

const value2: fc.Arbitrary<Gen> = fc.letrec<{ v: Gen }>((tie) => ({
  v: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'r2' },
    lineText.map((s) => line('+', s)),
    lineText.map((s) => line('-', `ERR ${s}`)),
    fc.integer().map((n) => line(':', String(n))),
    payload.map((p) => blob('$', p)),
    fc.constant({ bytes: b('$-1\r\n'), type: RESP_TYPE.BULK, count: 0 }),
    fc.constant({ bytes: b('*-1\r\n'), type: RESP_TYPE.ARRAY, count: -1 }),
    fc.array(tie('v'), { maxLength: 6, depthIdentifier: 'r2' }).map((xs) => agg('*', xs)),
  ),
})).v;

/** A client command as redis-cli and every client library send it: a multibulk of bulk strings. */
const command2: fc.Arbitrary<Gen> = fc
  .tuple(fc.constantFrom('SET', 'GET', 'ping', 'Hset', 'MGET', 'CONFIG', 'x'), fc.array(payload, { maxLength: 7 }))
  .map(([name, rest]) => agg('*', [blob('$', b(name)), ...rest.map((p) => blob('$', p))]));

describe('reply scanner vs redis-parser (RESP2)', () => {
  it('random valid RESP2 streams cut at random points: the same frames at the same ends', () => {
    cutStreamsFit('reply', streamOf(value2), (s, _frames, stream) => expectAgreement('resp2', stream, s.ends));
  });

  it('truncated anywhere: exactly the frames that fit, at a boundary only where a frame ended', () => {
    truncatedFits('reply', streamOf(value2), (head, _scanned, fit) => {
      expect(decode('resp2', [head])!.length).toBe(fit.length); // redis-parser waits for the rest too
    });
  });

  it('random byte flips: never throws; frames before the first flip unchanged; over the still-valid part, scanner and oracle agree', () => {
    flipsAgree('resp2', streamOf(value2), '+-:$*');
  });
});

describe('request scanner vs redis-parser (client commands are RESP2 arrays of bulk strings)', () => {
  it('random pipelines cut at random points: same command boundaries, argc as sent', () => {
    cutStreamsFit('request', streamOf(command2, 10), (s, _frames, stream) => {
      expectAgreement('resp2', stream, s.ends);
      expect(s.counts).toEqual(decode('resp2', [stream])!.map((v) => (v as unknown[]).length));
    });
  });

  it('truncated anywhere: exactly the commands that fit; the rest waits, no error', () => {
    truncatedFits('request', streamOf(command2, 10));
  });

  it('random byte flips: never throws, commands before the first flip unchanged, nothing reported after an error', () => {
    fc.assert(
      fc.property(streamOf(command2, 10), fc.oneof(flipsArb, nastyFlipsArb), ({ frames, stream, cuts }, flips) => {
        const { bytes, first } = mutate(stream, flips);
        let s!: ScannerRun;
        expect(() => (s = scanner('request', cutAt(bytes, cuts)))).not.toThrow();
        // A flip may turn the rest into inline commands, so only the part before it is fixed.
        expect(s.ends.filter((e) => e <= first)).toEqual(ends(frames).filter((e) => e <= first));
        expectSaneOnGarbage(s, bytes.length);
      }),
      { numRuns: 400 },
    );
  });
});

/**
 * Random byte flips of a valid stream: feed() never throws; frames before the first flip are
 * unchanged; over the part of the stream that is still valid, scanner and oracle agree.
 */
function flipsAgree(kind: OracleKind, stream: fc.Arbitrary<Stream>, typeBytes: string): void {
  let bothAccepted = 0;
  fc.assert(
    fc.property(stream, fc.oneof(flipsArb, nastyFlipsArb), ({ frames, stream: bytesIn, cuts }, flips) => {
      const { bytes, first } = mutate(bytesIn, flips);
      let s!: ScannerRun;
      expect(() => (s = scanner('reply', cutAt(bytes, cuts)))).not.toThrow();
      expect(s.ends.filter((e) => e <= first)).toEqual(ends(frames).filter((e) => e <= first));
      expectSaneOnGarbage(s, bytes.length);
      const valid = validPrefixEnds(bytes, typeBytes, kind);
      const upTo = valid.at(-1) ?? 0;
      expect(s.ends.filter((e) => e <= upTo), JSON.stringify(bytes.toString('latin1'))).toEqual(valid);
      if (valid.length > 0) {
        bothAccepted++;
        expect(oracleSegments(kind, bytes, valid)).toEqual({ values: decode(kind, [bytes.subarray(0, upTo)]) });
      }
    }),
    { numRuns: 400 },
  );
  expect(bothAccepted).toBeGreaterThan(0); // the last clause was exercised
}
