/** Runs the scanner over chunked input and records every frame it reports, with global offsets. */
import { createRequire } from 'node:module';
import type { Limits } from '../../../src/config/settings.js';
import { MAX_TOKENS, RespScanner, TOKEN_AGGREGATE, TOKEN_BYTES, TOKEN_NULL, type ScannerMode } from '../../../src/resp/scanner.js';

export interface ScannedFrame {
  start: number;
  end: number;
  frameType: number;
  frameCount: number;
  tokenCount: number;
  /** Captured bytes of each token as latin1 text, or 'NULL' / 'AGG'. */
  tokens: string[];
  tokenLength: number[];
  tokenHash: number[];
}

export interface ScanResult {
  frames: ScannedFrame[];
  error: { message: string; goodEnd: number; chunkStart: number } | null;
}

export function describeFrame(s: RespScanner, start: number, end: number): ScannedFrame {
  const tokens: string[] = [];
  const tokenLength: number[] = [];
  const tokenHash: number[] = [];
  for (let k = 0; k < Math.min(s.tokenCount, MAX_TOKENS); k++) {
    const len = s.tokenLength[k]!;
    tokenLength.push(len);
    tokenHash.push(s.tokenHash[k]!);
    if (len === TOKEN_NULL) tokens.push('NULL');
    else if (len === TOKEN_AGGREGATE) tokens.push('AGG');
    else tokens.push(Buffer.from(s.tokenBytes.subarray(k * TOKEN_BYTES, k * TOKEN_BYTES + Math.min(len, TOKEN_BYTES))).toString('latin1'));
  }
  return { start, end, frameType: s.frameType, frameCount: s.frameCount, tokenCount: s.tokenCount, tokens, tokenLength, tokenHash };
}

export function scanChunks(mode: ScannerMode, chunks: readonly Buffer[], limits?: Limits): ScanResult {
  const result: ScanResult = { frames: [], error: null };
  let base = 0;
  let last = 0;
  let chunkStart = 0;
  const scanner = new RespScanner(
    mode,
    {
      onFrame: (s, end) => {
        const g = base + end;
        result.frames.push(describeFrame(s, last, g));
        last = g;
      },
      onProtocolError: (message, goodEnd) => {
        if (result.error !== null) throw new Error(`second protocol error reported: ${message}`);
        result.error = { message, goodEnd, chunkStart };
      },
    },
    limits === undefined ? {} : { limits },
  );
  for (const c of chunks) {
    chunkStart = base;
    scanner.feed(c);
    base += c.length;
  }
  return result;
}

export function scan(mode: ScannerMode, bytes: Buffer | string, limits?: Limits): ScanResult {
  return scanChunks(mode, [typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes], limits);
}

/** Cuts `buf` at the given sorted offsets. */
export function cutAt(buf: Buffer, offsets: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const o of offsets) {
    out.push(buf.subarray(prev, o));
    prev = o;
  }
  out.push(buf.subarray(prev));
  return out;
}

export function oneByteChunks(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

// --- redis-parser 3.0.0 as the RESP2 oracle -------------------------------------------------

interface RedisParser {
  execute(buf: Buffer): void;
}
type ParserCtor = new (opts: {
  returnReply: (v: unknown) => void;
  returnError: (e: Error) => void;
  returnFatalError: (e: Error) => void;
  returnBuffers: boolean;
}) => RedisParser;

/** redis-parser 3.0.0, the RESP2 oracle (CommonJS). */
export const Parser = createRequire(import.meta.url)('redis-parser') as ParserCtor;

/** A decoded value in a form deep-equal can compare (Buffers as hex, errors as their text). */
export type Plain = null | number | string | { error: string } | Plain[];

export function plain(v: unknown): Plain {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`;
  if (v instanceof Error) return { error: v.message };
  if (Array.isArray(v)) return v.map(plain);
  throw new Error(`unexpected value from redis-parser: ${String(v)}`);
}

/** Every top-level value redis-parser decodes from `buf`, in order; throws on a fatal error. */
export function oracleDecode(buf: Buffer): Plain[] {
  const out: Plain[] = [];
  let fatal: Error | null = null;
  const p = new Parser({
    returnReply: (v) => out.push(plain(v)),
    returnError: (e) => out.push(plain(e)),
    returnFatalError: (e) => {
      fatal = e;
    },
    returnBuffers: true,
  });
  p.execute(buf);
  if (fatal !== null) throw fatal;
  return out;
}

/**
 * A compact numeric record of everything the scanner reports (global frame ends, frameType,
 * frameCount, token lengths and hashes, error position), for comparing many splits quickly.
 */
export function signature(mode: ScannerMode, chunks: readonly Buffer[]): number[] {
  const out: number[] = [];
  let base = 0;
  const scanner = new RespScanner(mode, {
    onFrame: (s, end) => {
      out.push(base + end, s.frameType, s.frameCount, s.tokenCount);
      for (let k = 0; k < Math.min(s.tokenCount, MAX_TOKENS); k++) out.push(s.tokenLength[k]!, s.tokenHash[k]!);
    },
    onProtocolError: (_m, goodEnd) => out.push(-1, base + goodEnd),
  });
  for (const c of chunks) {
    scanner.feed(c);
    base += c.length;
  }
  return out;
}
