/**
 * Whole-command encoding and decoding, for the few commands the ambassador must remember or
 * send itself (state to replay after a reconnect, health probes). The hot path never uses this:
 * it only scans.
 */
import { splitInlineArgs } from './inlineArgs.js';

/** RESP multibulk for `args`. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Arguments of one complete request frame that the request scanner accepted (multibulk or
 * inline). Returns null for anything else, which a scanned frame never is.
 */
export function decodeCommand(frame: Buffer): Buffer[] | null {
  if (frame.length === 0) return null;
  if (frame[0] !== 0x2a /* * */) {
    let end = frame.indexOf(0x0a);
    if (end < 0) end = frame.length;
    if (end > 0 && frame[end - 1] === 0x0d) end--;
    return splitInlineArgs(frame.subarray(0, end));
  }
  let pos = 1;
  const line = (): number | null => {
    const cr = frame.indexOf(0x0d, pos);
    if (cr < 0) return null;
    const n = Number(frame.toString('latin1', pos, cr));
    pos = cr + 2;
    return Number.isInteger(n) ? n : null;
  };
  const count = line();
  if (count === null || count < 0) return null;
  const args: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (frame[pos] !== 0x24 /* $ */) return null;
    pos++;
    const len = line();
    if (len === null || len < 0 || pos + len > frame.length) return null;
    args.push(frame.subarray(pos, pos + len));
    pos += len + 2;
  }
  return args;
}
