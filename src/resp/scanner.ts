/**
 * An incremental RESP2/RESP3 frame scanner.
 *
 * It does not decode values. It finds where each top-level frame ends inside a stream of
 * Buffers that may be cut anywhere, and while doing so captures a few short tokens (the first
 * elements of the top-level aggregate, lower-cased) so the proxy can name the command or
 * classify the reply. Bulk payloads are skipped by arithmetic: only their first TOKEN_BYTES
 * bytes are ever looked at, so a 512 MB value streams through without being buffered.
 *
 * Two modes share the machine:
 * - "request" follows redis-server's own request parser (networking.c): multibulk of bulk
 *   strings, or an inline command line; the same limits and the same error texts.
 * - "reply" accepts every RESP2 and RESP3 type a server sends: + - : $ * % ~ _ # , ( = | > !
 *   Attributes (|) are folded into the value that follows them, as RESP3 specifies.
 */

import { REDIS_DEFAULT_LIMITS, type Limits } from '../config/settings.js';
import { splitInlineArgs } from './inlineArgs.js';

/** How many leading elements of a frame are captured as tokens. */
export const MAX_TOKENS = 8;
/** How many bytes of each token are kept (longer tokens keep their true length in tokenLength). */
export const TOKEN_BYTES = 32;

/** tokenLength value for a null element ($-1, *-1, _). */
export const TOKEN_NULL = -1;
/** tokenLength value for an element that is itself an aggregate. */
export const TOKEN_AGGREGATE = -2;

/** Reply-mode capture that depends on the connection: RESP2 pub/sub messages are plain arrays. */
export interface ArrayCapture {
  /** Whether the elements of top-level arrays are captured now (read as each reply begins). */
  readonly captureArrays: boolean;
}

export interface ScannerOptions {
  /** redis-server's own limits by default. */
  readonly limits?: Limits;
  /**
   * Reply mode, for a proxy that only needs what classifies replies: capture the top-level error
   * (- !) and simple (+) strings and the elements of pushes (>) only, plus the elements of
   * arrays while `arrays` says so. Without it, everything is captured.
   */
  readonly lean?: boolean;
  readonly arrays?: ArrayCapture;
}

export interface FrameSink {
  /** A top-level frame ended at `end` (exclusive offset into the chunk being fed). */
  onFrame(scanner: RespScanner, end: number): void;
  /**
   * The stream is not valid RESP. `goodEnd` is where the last complete frame ended in the
   * current chunk (0 if none did). The scanner stops; later feeds are ignored.
   */
  onProtocolError(message: string, goodEnd: number): void;
  /**
   * Request mode: the command name (the first argument of a multibulk) has fully arrived, at
   * offset `at` of the current chunk; tokens 0.. are valid. Lets the proxy decide a frame's fate
   * before its (possibly large) arguments arrive. Inline commands have no such moment.
   */
  onCommandName?(scanner: RespScanner, at: number): void;
  /**
   * Request mode: how many tokens this command needs (name included), asked once its name has
   * arrived. Arguments past that are skipped without being captured (hashing every key and value
   * would cost more than everything else the scanner does).
   */
  tokensWanted?(scanner: RespScanner): number;
}

const ST_TYPE = 0; // expecting a type byte (or an inline command's first byte)
const ST_LINE = 1; // inside the line that follows a type byte
const ST_CR = 2; // saw '\r'; the next byte ends the line whatever it is, as Redis does
const ST_BULK = 3; // inside a bulk payload plus its trailing CRLF
const ST_INLINE = 4; // inside an inline command line
const ST_FAILED = 5;

const CR = 13;
const LF = 10;

// Type bytes.
const T_SIMPLE = 43; // +
const T_ERROR = 45; // -
const T_INT = 58; // :
const T_BULK = 36; // $
const T_ARRAY = 42; // *
const T_MAP = 37; // %
const T_SET = 126; // ~
const T_NULL = 95; // _
const T_BOOL = 35; // #
const T_DOUBLE = 44; // ,
const T_BIGNUM = 40; // (
const T_VERBATIM = 61; // =
const T_ATTRIBUTE = 124; // |
const T_PUSH = 62; // >
const T_BLOBERR = 33; // !

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export type ScannerMode = 'request' | 'reply';

/**
 * One state machine, on purpose (as Envoy's parseSlice and twemproxy's parser are): feed() is a
 * single loop over the bytes of a chunk, and its registers are plain fields of this class, read
 * without an indirection on the hot path. test/unit/structure.test.ts lists it as the one
 * exception to the size rules.
 */
export class RespScanner {
  // --- Description of the frame just completed; valid inside FrameSink.onFrame only. ---
  /** Type byte of the top-level value (after any attribute). 0 for an inline command. */
  frameType = 0;
  /** Element count of a top-level aggregate (argc for a request), -1 for a null aggregate. */
  frameCount = 0;
  /** Number of tokens captured (at most MAX_TOKENS). */
  tokenCount = 0;
  /** Lower-cased first TOKEN_BYTES bytes of each token, TOKEN_BYTES apart. */
  readonly tokenBytes = new Uint8Array(MAX_TOKENS * TOKEN_BYTES);
  /** True length of each token, or TOKEN_NULL / TOKEN_AGGREGATE. */
  readonly tokenLength = new Int32Array(MAX_TOKENS);
  /** FNV-1a hash of the captured (lower-cased, truncated) bytes of each token. */
  readonly tokenHash = new Uint32Array(MAX_TOKENS);
  /**
   * Reply mode: the frame's size in bytes, attributes included, however many chunks it spanned
   * (the reply-size histogram). Counted per frame, never per byte. Request frames read by the
   * one-pass path do not update it.
   */
  frameBytes = 0;

  private readonly request: boolean;
  private state = ST_TYPE;
  private lineType = 0;
  private lineLength = 0;
  // Numeric line parsing (lengths and counts).
  private num = 0;
  private negative = false;
  private digits = 0;
  private numberValid = true;
  /** The length was `?`: RESP3's streamed form, which is refused by name. */
  private streamed = false;
  private bulkRemaining = 0;
  /** In a request, the byte that stood where a '$' had to be (reported when its line ends). */
  private wrongType = -1;
  private bulkLength = 0;
  // Nesting: remaining element counts, and whether each level is an attribute.
  private depth = 0;
  // Typed and grown by doubling: deep replies are legitimate, and a JS array of booleans costs
  // 8 bytes a level where this costs 9 for both stacks together.
  private remaining = new Float64Array(16);
  private isAttribute = new Uint8Array(16);
  // A top-level attribute ended; the value it decorates (the frame proper) has not.
  private awaitingDecorated = false;
  private readonly lean: boolean;
  private readonly arrays: ArrayCapture | null;
  /** `arrays.captureArrays` as the current top-level array began. */
  private captureArrays = true;
  private readonly limits: Limits;
  // Tokens the current request frame needs (set once its name is known).
  private tokenLimit = MAX_TOKENS;
  // Token currently being captured, or -1, and how many of its bytes were seen.
  private tok = -1;
  private tokPos = 0;
  // Elements of the top-level aggregate (2n for a map), for numbering tokens.
  private topElements = 0;
  // Token slot of the aggregate whose header is being read (a null aggregate makes it TOKEN_NULL).
  private aggregateToken = -1;
  private inline: Buffer[] = [];
  /** The inline line holds a NUL before any newline: as in Redis, it can no longer end. */
  private inlineNul = false;
  private inlineLength = 0;
  // Where the frame in progress began, relative to the chunk being fed (negative when it began
  // in an earlier one), and the previous chunk's length to move it by.
  private frameBegan = 0;
  private chunkLength = 0;

  constructor(
    mode: ScannerMode,
    private readonly sink: FrameSink,
    options: ScannerOptions = {},
  ) {
    this.request = mode === 'request';
    this.limits = options.limits ?? REDIS_DEFAULT_LIMITS;
    this.lean = options.lean ?? false;
    this.arrays = options.arrays ?? null;
  }

  get failed(): boolean {
    return this.state === ST_FAILED;
  }

  /** True when no frame is partly scanned: the stream is at a frame boundary. */
  get atBoundary(): boolean {
    return this.state === ST_TYPE && this.depth === 0 && !this.awaitingDecorated;
  }

  feed(buf: Buffer): void {
    const len = buf.length;
    this.frameBegan -= this.chunkLength;
    this.chunkLength = len;
    let i = 0;
    let goodEnd = 0;
    while (i < len) {
      switch (this.state) {
        case ST_TYPE: {
          let t = buf[i]!;
          if (t === T_ARRAY && this.request && this.depth === 0) {
            // Most requests arrive whole: read them in one tight pass, or fall back if not.
            const end = this.wholeRequest(buf, i);
            if (end > 0) {
              if (this.sink.onCommandName) {
                this.sink.onCommandName(this, end);
                if (this.failed) return;
              }
              goodEnd = i = end;
              this.sink.onFrame(this, end);
              if (this.failed) return;
              continue;
            }
          }
          if (this.depth === 0 && !this.awaitingDecorated) this.startFrame();
          if (this.request) {
            if (this.depth === 0) {
              if (t !== T_ARRAY) {
                this.state = ST_INLINE;
                this.inline.length = 0;
                this.inlineLength = 0;
                this.inlineNul = false;
                continue; // the byte belongs to the inline line
              }
            } else if (t !== T_BULK) {
              // Redis looks for the line's CR before it looks at the '$', so a line without CR is
              // "too big bulk count string" past 64 KB; with a CR it is "expected '$'".
              if (t === CR) return this.fail(wrongTypeMessage(t), goodEnd);
              this.wrongType = t;
              t = T_BULK;
            }
          }
          else if (!isRespTypeByte(t)) {
            return this.fail(`Protocol error: unknown RESP type byte 0x${t.toString(16).padStart(2, '0')}`, goodEnd);
          }
          this.beginValue(t);
          this.lineType = t;
          this.lineLength = 0;
          this.num = 0;
          this.negative = false;
          this.digits = 0;
          this.numberValid = true;
          this.streamed = false;
          this.state = ST_LINE;
          i++;
          break;
        }
        case ST_LINE: {
          // Scan to the CR inside this chunk; each byte is either a digit of a length or text.
          const tok = this.tok;
          if (isLengthType(this.lineType)) {
            // Digits accumulate in locals; anything unusual (a sign, a leading zero, a stray
            // byte, too many digits) goes through digit(), which knows the rules.
            let num = this.num;
            let digits = this.digits;
            let n = this.lineLength;
            while (i < len) {
              const b = buf[i]!;
              if (b === CR) break;
              const d = b - 48;
              if (d >= 0 && d <= 9 && num !== 0 && digits < 15) {
                num = num * 10 + d;
                digits++;
              } else {
                this.num = num;
                this.digits = digits;
                this.lineLength = n;
                this.digit(b);
                num = this.num;
                digits = this.digits;
              }
              n++;
              i++;
            }
            this.num = num;
            this.digits = digits;
            this.lineLength = n;
          } else {
            while (i < len) {
              const b = buf[i]!;
              if (b === CR) break;
              if (tok >= 0) this.capture(tok, b);
              this.lineLength++;
              i++;
            }
          }
          if (this.request && this.lineLength > this.limits.maxInlineLength) {
            const what = this.lineType === T_ARRAY ? 'mbulk' : 'bulk';
            return this.fail(`Protocol error: too big ${what} count string`, goodEnd);
          }
          if (i < len) {
            this.state = ST_CR;
            i++;
          }
          break;
        }
        case ST_CR: {
          i++; // Redis and redis-parser both take the byte after CR as LF without checking it.
          const err = this.endLine();
          if (err !== null) return this.fail(err, goodEnd);
          if (this.frameDone) {
            goodEnd = i;
            if (!this.emitFrame(i)) return;
          }
          break;
        }
        case ST_BULK: {
          const tok = this.tok;
          if (tok >= 0) {
            // Capture the head of the payload; the rest is skipped without a look.
            let room = Math.min(TOKEN_BYTES - this.tokPos, this.bulkRemaining - 2, len - i);
            while (room-- > 0) {
              this.capture(tok, buf[i]!);
              i++;
              this.bulkRemaining--;
            }
            if (this.tokPos >= TOKEN_BYTES || this.bulkRemaining <= 2) {
              this.tokenLength[tok] = this.bulkLength;
              this.tok = -1;
            }
          }
          const take = Math.min(this.bulkRemaining, len - i);
          this.bulkRemaining -= take;
          i += take;
          if (this.bulkRemaining === 0) {
            this.state = ST_TYPE;
            if (this.request && this.remaining[0] === this.frameCount) {
              if (this.sink.tokensWanted) this.tokenLimit = this.sink.tokensWanted(this);
              if (this.sink.onCommandName) {
                this.sink.onCommandName(this, i);
                if (this.failed) return;
              }
            }
            this.valueDone(false);
            if (this.frameDone) {
              goodEnd = i;
              if (!this.emitFrame(i)) return;
            }
          }
          break;
        }
        case ST_INLINE: {
          // redis-server finds the newline with strchr(), which stops at a NUL byte: a line with
          // a NUL before its newline never ends, and is refused once it passes the limit.
          let nl = this.inlineNul ? -1 : buf.indexOf(LF, i);
          const nul = this.inlineNul ? -1 : buf.indexOf(0, i);
          if (nul >= 0 && (nl < 0 || nul < nl)) {
            this.inlineNul = true;
            nl = -1;
          }
          const stop = nl < 0 ? len : nl;
          if (stop > i) {
            this.inline.push(buf.subarray(i, stop));
            this.inlineLength += stop - i;
          }
          i = stop;
          if (nl < 0) {
            // Like Redis, only a line still without its newline past the limit is refused.
            if (this.inlineLength > this.limits.maxInlineLength) return this.fail('Protocol error: too big inline request', goodEnd);
            break;
          }
          i++; // past LF
          const err = this.finishInline();
          if (err !== null) return this.fail(err, goodEnd);
          this.state = ST_TYPE;
          goodEnd = i;
          this.sink.onFrame(this, i);
          if (this.failed) return;
          break;
        }
        default:
          return; // ST_FAILED: ignore everything after a protocol error
      }
    }
  }

  /** Stop scanning; used by the owner when it gives up on the stream for its own reasons. */
  stop(): void {
    this.state = ST_FAILED;
  }

  private frameDone = false;

  /**
   * A request multibulk that lies wholly in `buf` from `start`, with plain numbers, read in one
   * pass: its end offset, tokens captured as the state machine would. Anything else (a frame cut
   * by the chunk's end, a sign, a leading zero, a limit crossed, a wrong type byte) returns -1
   * with nothing reported, and the state machine reads the frame from `start` instead, so every
   * error is still found and worded in one place.
   */
  private wholeRequest(buf: Buffer, start: number): number {
    const len = buf.length;
    const n = this.plainNumber(buf, start + 1);
    if (n <= 0 || n > this.limits.maxMultibulkLength) return -1;
    let i = this.numberEnd + 2;
    this.startFrame();
    this.frameType = T_ARRAY;
    this.frameCount = n;
    let limit = MAX_TOKENS;
    for (let k = 0; k < n; k++) {
      if (i >= len || buf[i] !== T_BULK) return -1;
      const m = this.plainNumber(buf, i + 1);
      if (m < 0 || m > this.limits.maxBulkLength) return -1;
      const payload = this.numberEnd + 2;
      i = payload + m + 2;
      if (i > len) return -1;
      if (k < limit) {
        const take = m < TOKEN_BYTES ? m : TOKEN_BYTES;
        const base = k * TOKEN_BYTES;
        let h = FNV_OFFSET;
        for (let j = 0; j < take; j++) {
          const b = buf[payload + j]!;
          const lower = b >= 65 && b <= 90 ? b | 0x20 : b;
          this.tokenBytes[base + j] = lower;
          h = Math.imul(h ^ lower, FNV_PRIME) >>> 0;
        }
        this.tokenHash[k] = h;
        this.tokenLength[k] = m;
        this.tokenCount = k + 1;
        if (k === 0 && this.sink.tokensWanted) limit = Math.min(MAX_TOKENS, this.sink.tokensWanted(this));
      }
    }
    return i;
  }

  /**
   * A number of up to 10 plain digits (no sign, no leading zero) from `i` to a CR inside `buf`;
   * -1 for anything else. `numberEnd` is then the CR's offset.
   */
  private plainNumber(buf: Buffer, i: number): number {
    let n = 0;
    let d = 0;
    for (;;) {
      if (i >= buf.length) return -1;
      const x = buf[i]! - 48;
      if (x === CR - 48) break;
      if (x < 0 || x > 9 || (d > 0 && n === 0) || d >= 10) return -1;
      n = n * 10 + x;
      d++;
      i++;
    }
    this.numberEnd = i;
    return d === 0 ? -1 : n;
  }
  private numberEnd = 0;

  /** Reports the frame that ended at `end`; false when the sink stopped the scanner. */
  private emitFrame(end: number): boolean {
    this.frameDone = false;
    this.frameBytes = end - this.frameBegan;
    this.frameBegan = end;
    this.sink.onFrame(this, end);
    return !this.failed;
  }

  private startFrame(): void {
    this.tokenLimit = MAX_TOKENS;
    this.frameType = 0;
    this.frameCount = 0;
    this.tokenCount = 0;
    this.tok = -1;
  }

  /** Decide, at a value's type byte, whether the value is captured as a token. */
  private beginValue(t: number): void {
    this.tok = -1;
    this.aggregateToken = -1;
    let index = -1;
    if (this.depth === 0) {
      if (t === T_ATTRIBUTE) return;
      this.frameType = t;
      // Asked only of arrays, as each begins: most replies are not, and the answer may change between replies.
      if (t === T_ARRAY) this.captureArrays = this.arrays === null || this.arrays.captureArrays;
      if (!isAggregateType(t) && (!this.lean || t === T_ERROR || t === T_BLOBERR || t === T_SIMPLE)) index = 0;
    } else if (this.depth === 1 && !this.isAttribute[0]) {
      index = this.topElements - this.remaining[0]!;
      if (index >= this.tokenLimit) return;
      if (this.lean && this.frameType !== T_PUSH && !(this.frameType === T_ARRAY && this.captureArrays)) return;
    }
    if (index < 0 || index >= MAX_TOKENS) return;
    this.tokenCount = index + 1;
    this.tokenLength[index] = isAggregateType(t) ? TOKEN_AGGREGATE : 0;
    this.tokenHash[index] = FNV_OFFSET;
    this.tokPos = 0;
    if (t === T_NULL) this.tokenLength[index] = TOKEN_NULL;
    else if (!isAggregateType(t)) this.tok = index;
    else this.aggregateToken = index;
  }

  private capture(tok: number, b: number): void {
    const n = this.tokPos++;
    if (n < TOKEN_BYTES) {
      const lower = b >= 65 && b <= 90 ? b | 0x20 : b;
      this.tokenBytes[tok * TOKEN_BYTES + n] = lower;
      this.tokenHash[tok] = Math.imul(this.tokenHash[tok]! ^ lower, FNV_PRIME) >>> 0;
    }
  }

  private digit(b: number): void {
    if (b === 45 /* - */ && this.lineLength === 0) {
      this.negative = true;
      return;
    }
    if (b === 63 /* ? */ && this.lineLength === 0 && !this.request) {
      this.numberValid = false;
      this.streamed = true; // a streamed aggregate/string: reported as unsupported in endLine
      return;
    }
    const d = b - 48;
    // string2ll in Redis rejects leading zeros and anything that is not a digit.
    if (d < 0 || d > 9 || (this.digits > 0 && this.num === 0) || this.digits >= 15) {
      this.numberValid = false;
      return;
    }
    this.num = this.num * 10 + d;
    this.digits++;
  }

  /** A header line is complete. Returns an error text, or null. */
  private endLine(): string | null {
    const t = this.lineType;
    this.state = ST_TYPE;
    if (!isLengthType(t)) {
      // Scalar line types: simple string, error, integer, null, boolean, double, big number.
      if (this.tok >= 0) this.tokenLength[this.tok] = this.lineLength;
      this.tok = -1;
      this.valueDone(false);
      return null;
    }
    // string2ll: "-0" is not a number either.
    const valid = this.numberValid && this.digits > 0 && !(this.negative && this.num === 0);
    const n = this.negative ? -this.num : this.num;
    if (this.request) {
      if (this.wrongType >= 0) return wrongTypeMessage(this.wrongType);
      if (t === T_ARRAY) {
        if (!valid || n > this.limits.maxMultibulkLength) return 'Protocol error: invalid multibulk length';
        if (n <= 0) {
          // Redis treats *0 and *-1 as an empty command: no reply, nothing to forward for it.
          this.frameCount = 0;
          this.frameDone = true;
          return null;
        }
        this.frameCount = n;
        this.push(n, false);
        return null;
      }
      if (!valid || n < 0 || n > this.limits.maxBulkLength) return 'Protocol error: invalid bulk length';
      this.startBulk(n);
      return null;
    }
    if (!valid) {
      if (this.streamed && this.lineLength === 1) {
        return `Protocol error: streamed RESP3 type '${String.fromCharCode(t)}?' is not supported`;
      }
      return `Protocol error: invalid length for type '${String.fromCharCode(t)}'`;
    }
    if (t === T_BULK || t === T_VERBATIM || t === T_BLOBERR) {
      if (n < 0) {
        if (this.tok >= 0) this.tokenLength[this.tok] = TOKEN_NULL;
        this.tok = -1;
        this.valueDone(false);
        return null;
      }
      this.startBulk(n);
      return null;
    }
    // Aggregates.
    if (this.depth === 0 && t !== T_ATTRIBUTE) this.frameCount = n;
    const elements = t === T_MAP || t === T_ATTRIBUTE ? n * 2 : n;
    if (n < 0 || elements === 0) {
      if (n < 0 && this.depth === 0) this.frameCount = -1;
      if (n < 0 && this.aggregateToken >= 0) this.tokenLength[this.aggregateToken] = TOKEN_NULL;
      this.valueDone(t === T_ATTRIBUTE);
      return null;
    }
    if (this.depth >= this.limits.maxReplyDepth) return 'Protocol error: reply nested too deeply';
    this.push(elements, t === T_ATTRIBUTE);
    return null;
  }

  private startBulk(n: number): void {
    this.bulkLength = n;
    this.bulkRemaining = n + 2;
    this.state = ST_BULK;
    if (n === 0 && this.tok >= 0) {
      this.tokenLength[this.tok] = 0;
      this.tok = -1;
    }
  }

  private push(elements: number, attribute: boolean): void {
    if (this.depth === 0) this.topElements = elements;
    if (this.depth === this.remaining.length) this.growStack();
    this.remaining[this.depth] = elements;
    this.isAttribute[this.depth] = attribute ? 1 : 0;
    this.depth++;
  }

  private growStack(): void {
    const remaining = new Float64Array(this.remaining.length * 2);
    remaining.set(this.remaining);
    const isAttribute = new Uint8Array(this.isAttribute.length * 2);
    isAttribute.set(this.isAttribute);
    this.remaining = remaining;
    this.isAttribute = isAttribute;
  }

  /** A value ended; pop every aggregate it completes. */
  private valueDone(wasAttribute: boolean): void {
    let attr = wasAttribute;
    for (;;) {
      if (this.depth === 0) {
        // After a top-level attribute the value it decorates follows: that value is the frame.
        this.awaitingDecorated = attr;
        if (!attr) this.frameDone = true;
        return;
      }
      if (attr) return; // an attribute is not an element of its parent
      const left = --this.remaining[this.depth - 1]!;
      if (left > 0) return;
      this.depth--;
      attr = this.isAttribute[this.depth] === 1;
    }
  }

  private finishInline(): string | null {
    let line = this.inline.length === 1 ? this.inline[0]! : Buffer.concat(this.inline, this.inlineLength);
    this.inline.length = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    const args = splitInlineArgs(line);
    if (args === null) return 'Protocol error: unbalanced quotes in request';
    this.frameType = 0;
    this.frameCount = args.length;
    this.tokenCount = Math.min(args.length, MAX_TOKENS);
    for (let k = 0; k < this.tokenCount; k++) {
      const a = args[k]!;
      this.tokenHash[k] = FNV_OFFSET;
      this.tokPos = 0;
      for (let j = 0; j < a.length; j++) this.capture(k, a[j]!);
      this.tokenLength[k] = a.length;
    }
    return null;
  }

  private fail(message: string, goodEnd: number): void {
    this.state = ST_FAILED;
    this.sink.onProtocolError(message, goodEnd);
  }
}

function wrongTypeMessage(t: number): string {
  // Redis keeps its error on one line: CR and LF are shown as spaces.
  const shown = t === CR || t === LF ? ' ' : String.fromCharCode(t);
  return `Protocol error: expected '$', got '${shown}'`;
}

function isLengthType(t: number): boolean {
  return (
    t === T_BULK ||
    t === T_ARRAY ||
    t === T_MAP ||
    t === T_SET ||
    t === T_PUSH ||
    t === T_ATTRIBUTE ||
    t === T_VERBATIM ||
    t === T_BLOBERR
  );
}

function isAggregateType(t: number): boolean {
  return t === T_ARRAY || t === T_MAP || t === T_SET || t === T_PUSH || t === T_ATTRIBUTE;
}

/** Whether `t` is a byte a RESP value may start with (used by the reply side's checks). */
export function isRespTypeByte(t: number): boolean {
  return (
    isLengthType(t) ||
    t === T_SIMPLE ||
    t === T_ERROR ||
    t === T_INT ||
    t === T_NULL ||
    t === T_BOOL ||
    t === T_DOUBLE ||
    t === T_BIGNUM
  );
}

export const RESP_TYPE = {
  SIMPLE: T_SIMPLE,
  ERROR: T_ERROR,
  INTEGER: T_INT,
  BULK: T_BULK,
  ARRAY: T_ARRAY,
  MAP: T_MAP,
  SET: T_SET,
  NULL: T_NULL,
  BOOLEAN: T_BOOL,
  DOUBLE: T_DOUBLE,
  BIGNUM: T_BIGNUM,
  VERBATIM: T_VERBATIM,
  ATTRIBUTE: T_ATTRIBUTE,
  PUSH: T_PUSH,
  BLOB_ERROR: T_BLOBERR,
} as const;
