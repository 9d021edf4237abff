/**
 * A slow command's arguments as Redis's SLOWLOG shows them (slowlog.c): at most 32, the 32nd
 * replaced by "... (N more arguments)" when there were more; each longer than 128 bytes cut to
 * 128 and "... (N more bytes)" added; secrets replaced by "(redacted)" where Redis redacts them
 * (AUTH, HELLO … AUTH, MIGRATE … AUTH/AUTH2, ACL SETUSER, CONFIG SET of a password).
 *
 * The request path keeps, until the reply, only what is cheap to keep: a view of the frame in
 * the chunk it arrived in (no copy), or, for a frame that spanned chunks, a digest made at once
 * (the frame's own bytes are not all in one place, and must not all be kept).
 */
import { decodeCommand, encodeCommand } from '../resp/commandCodec.js';
import { displayBytes } from './displayBytes.js';

export const SLOWLOG_MAX_ARGC = 32;
export const SLOWLOG_MAX_STRING = 128;

const REDACTED = Buffer.from('(redacted)');
/** Marks a digest: a request frame begins with '*' or is an inline line, which never holds a NUL. */
const DIGEST = 0x00;
const SENSITIVE_CONFIGS = new Set(['requirepass', 'masterauth', 'masteruser', 'tls-key-file-pass', 'tls-client-key-file-pass']);

/**
 * What the slow log keeps of a frame that spanned chunks: its arguments already cut as SLOWLOG
 * shows them, as a small NUL-marked frame (at most 32 × (128 + 30) bytes).
 */
export function digestFrame(frame: Buffer): Buffer | null {
  const args = decodeCommand(frame);
  if (args === null) return null;
  const shown = showArgs(args);
  return Buffer.concat([Buffer.from([DIGEST]), encodeCommand(shown)]);
}

/**
 * The arguments to show: `capture` is a frame (a view of it), a digest, or the command's
 * decoded arguments (kept anyway for commands whose state is replayed).
 */
export function slowArgs(capture: Buffer | Buffer[]): string[] | null {
  let shown: Buffer[] | null;
  if (Array.isArray(capture)) shown = showArgs(capture);
  else if (capture[0] === DIGEST) shown = decodeCommand(capture.subarray(1));
  else {
    const args = decodeCommand(capture);
    shown = args === null ? null : showArgs(args);
  }
  return shown === null ? null : shown.map(displayBytes);
}

/** Redis's truncation and redaction, on decoded arguments. */
function showArgs(args: readonly Buffer[]): Buffer[] {
  const redacted = redact(args);
  const argc = redacted.length;
  const n = Math.min(argc, SLOWLOG_MAX_ARGC);
  const out: Buffer[] = [];
  for (let j = 0; j < n; j++) {
    if (n !== argc && j === n - 1) {
      out.push(Buffer.from(`... (${argc - n + 1} more arguments)`));
      break;
    }
    const a = redacted[j]!;
    out.push(a.length > SLOWLOG_MAX_STRING ? Buffer.concat([a.subarray(0, SLOWLOG_MAX_STRING), Buffer.from(`... (${a.length - SLOWLOG_MAX_STRING} more bytes)`)]) : a);
  }
  return out;
}

function redact(args: readonly Buffer[]): readonly Buffer[] {
  const word = (i: number): string => (args[i] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
  const hide = new Set<number>();
  const name = word(0);
  if (name === 'auth') for (let i = 1; i < args.length; i++) hide.add(i);
  else if (name === 'hello') {
    for (let i = 2; i < args.length; i++) if (word(i) === 'auth' && i + 2 < args.length) hide.add(i + 1).add(i + 2);
  } else if (name === 'migrate') {
    for (let i = 6; i < args.length; i++) {
      if (word(i) === 'keys') break; // the key names follow, as in migrateCommand
      if (word(i) === 'auth') hide.add(i + 1);
      else if (word(i) === 'auth2') hide.add(i + 1).add(i + 2);
    }
  } else if (name === 'acl' && word(1) === 'setuser') for (let i = 2; i < args.length; i++) hide.add(i);
  else if (name === 'config' && word(1) === 'set') {
    for (let i = 2; i + 1 < args.length; i += 2) if (SENSITIVE_CONFIGS.has(word(i))) hide.add(i + 1);
  }
  if (hide.size === 0) return args;
  return args.map((a, i) => (hide.has(i) && i < args.length ? REDACTED : a));
}
