/**
 * Reading the tokens a RespScanner captured for the frame it just reported: the one way every
 * part of the ambassador (command naming, reply matching, health probes) looks at a frame.
 * Tokens hold the first TOKEN_BYTES bytes of each leading element, lower-cased.
 */
import { MAX_TOKENS, TOKEN_BYTES, type RespScanner } from './scanner.js';

/** Whether token `k` equals `word` (lower-case ASCII). */
export function tokenIs(s: RespScanner, k: number, word: string): boolean {
  if (k >= s.tokenCount || k >= MAX_TOKENS || s.tokenLength[k] !== word.length || word.length > TOKEN_BYTES) return false;
  const base = k * TOKEN_BYTES;
  for (let i = 0; i < word.length; i++) if (s.tokenBytes[base + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** Whether token `k` begins with `word` (lower-case ASCII). */
export function tokenStartsWith(s: RespScanner, k: number, word: string): boolean {
  if (k >= s.tokenCount || k >= MAX_TOKENS || s.tokenLength[k]! < word.length || word.length > TOKEN_BYTES) return false;
  const base = k * TOKEN_BYTES;
  for (let i = 0; i < word.length; i++) if (s.tokenBytes[base + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** The non-negative integer a short token spells (":3" or "$1\r\n3"), or -1. */
export function tokenInteger(s: RespScanner, k: number): number {
  if (k >= s.tokenCount || k >= MAX_TOKENS) return -1;
  const len = s.tokenLength[k]!;
  if (len <= 0 || len > 15) return -1;
  let n = 0;
  const base = k * TOKEN_BYTES;
  for (let i = 0; i < len; i++) {
    const d = s.tokenBytes[base + i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The first word of an error frame, upper-cased as Redis writes error codes ("WRONGPASS",
 * "NOPERM"; "" when the error has none). The scanner lower-cased what it captured.
 */
export function errorWord(s: RespScanner): string {
  const len = Math.min(Math.max(s.tokenLength[0]!, 0), TOKEN_BYTES);
  let w = '';
  for (let i = 0; i < len; i++) {
    const b = s.tokenBytes[i]!;
    if (b === 32) break;
    w += String.fromCharCode(b >= 97 && b <= 122 ? b & 0xdf : b);
  }
  return w;
}

/**
 * Whether an XREAD (options from token 1) or XREADGROUP (from token 4, after GROUP g c) has a
 * BLOCK option, found by walking the options (each but NOACK takes a value) up to STREAMS, so a
 * group or consumer named "block" is not mistaken for it; null when the options run past the
 * tokens captured (it may have one).
 */
export function readBlocks(s: RespScanner, firstOption: number): boolean | null {
  for (let k = firstOption; k < s.tokenCount; ) {
    if (tokenIs(s, k, 'block')) return true;
    if (tokenIs(s, k, 'streams')) return false;
    k += tokenIs(s, k, 'noack') ? 1 : 2;
  }
  return s.tokenCount < s.frameCount ? null : false;
}
