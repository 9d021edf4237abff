/**
 * Splits an inline command line into arguments exactly as redis-server's sdssplitargs() does,
 * so an inline request is named and refused the way Redis would name and refuse it:
 * whitespace separates arguments, "double quotes" understand \n \r \t \b \a \xHH and \<any>,
 * 'single quotes' understand only \', and a closing quote must be followed by whitespace.
 * Returns null for unbalanced quotes (Redis: "Protocol error: unbalanced quotes in request").
 */
export function splitInlineArgs(line: Uint8Array): Buffer[] | null {
  const args: Buffer[] = [];
  const n = line.length;
  let p = 0;
  for (;;) {
    while (p < n && isSpace(line[p]!)) p++;
    if (p >= n) return args;
    const cur: number[] = [];
    let inq = false;
    let insq = false;
    let done = false;
    while (!done) {
      if (inq) {
        if (p >= n) return null;
        const c = line[p]!;
        if (c === 0x5c /* \ */ && p + 3 < n && line[p + 1] === 0x78 /* x */ && isHex(line[p + 2]!) && isHex(line[p + 3]!)) {
          cur.push(hexValue(line[p + 2]!) * 16 + hexValue(line[p + 3]!));
          p += 3;
        } else if (c === 0x5c && p + 1 < n) {
          p++;
          cur.push(unescape(line[p]!));
        } else if (c === 0x22 /* " */) {
          if (p + 1 < n && !isSpace(line[p + 1]!)) return null;
          done = true;
        } else {
          cur.push(c);
        }
      } else if (insq) {
        if (p >= n) return null;
        const c = line[p]!;
        if (c === 0x5c && p + 1 < n && line[p + 1] === 0x27 /* ' */) {
          p++;
          cur.push(0x27);
        } else if (c === 0x27) {
          if (p + 1 < n && !isSpace(line[p + 1]!)) return null;
          done = true;
        } else {
          cur.push(c);
        }
      } else {
        if (p >= n) break;
        const c = line[p]!;
        // Only these end an unquoted argument in sdssplitargs; \v and \f stay inside it.
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x00) done = true;
        else if (c === 0x22) inq = true;
        else if (c === 0x27) insq = true;
        else cur.push(c);
      }
      if (p < n) p++;
    }
    args.push(Buffer.from(cur));
  }
}

function isSpace(c: number): boolean {
  // C isspace() in the "C" locale.
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function hexValue(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x61 + 10;
}

function unescape(c: number): number {
  switch (c) {
    case 0x6e: return 0x0a; // n
    case 0x72: return 0x0d; // r
    case 0x74: return 0x09; // t
    case 0x62: return 0x08; // b
    case 0x61: return 0x07; // a
    default: return c;
  }
}
