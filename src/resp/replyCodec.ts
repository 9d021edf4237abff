/**
 * Whole reply frames as values, and back to the same bytes: for the few replies the ambassador
 * must change (Redis Cluster's node addresses), never for relayed traffic, which is only watched
 * going by. A value keeps its type byte, so a reply that is decoded and encoded unchanged comes
 * out byte for byte as it came in (RESP2 and RESP3: + - : $ * % ~ _ # , ( = | > !).
 */

export type ReplyValue =
  /** + - : _ # , ( : the line after the type byte. */
  | { readonly type: 'line'; readonly byte: number; readonly text: Buffer }
  /** $ = ! : a length-prefixed payload (null for $-1). */
  | { readonly type: 'blob'; readonly byte: number; readonly data: Buffer | null }
  /** * ~ > % | : elements (a map's and an attribute's as key, value, key, value…; null for *-1). */
  | { readonly type: 'aggregate'; readonly byte: number; readonly items: ReplyValue[] | null; readonly attribute?: ReplyValue };

const CRLF = Buffer.from('\r\n');
const MAP = 0x25;
const ATTRIBUTE = 0x7c;

export function isBlobByte(b: number): boolean {
  return b === 0x24 || b === 0x3d || b === 0x21;
}

function isAggregateByte(b: number): boolean {
  return b === 0x2a || b === 0x7e || b === 0x3e || b === MAP || b === ATTRIBUTE;
}

/** The value of one complete frame (as the reply scanner delimited it); throws on anything else. */
export function decodeReply(frame: Buffer): ReplyValue {
  const [value, end] = decodeAt(frame, 0);
  if (end !== frame.length) throw new Error(`reply frame has ${frame.length - end} bytes after its value`);
  return value;
}

function lineEnd(buf: Buffer, at: number): number {
  const cr = buf.indexOf(CRLF, at);
  if (cr < 0) throw new Error('reply frame ends inside a line');
  return cr;
}

function decodeAt(buf: Buffer, at: number): [ReplyValue, number] {
  const byte = buf[at]!;
  const cr = lineEnd(buf, at + 1);
  const head = buf.subarray(at + 1, cr);
  const next = cr + 2;
  if (isBlobByte(byte)) {
    const n = Number(head.toString('latin1'));
    if (n < 0) return [{ type: 'blob', byte, data: null }, next];
    return [{ type: 'blob', byte, data: buf.subarray(next, next + n) }, next + n + 2];
  }
  if (!isAggregateByte(byte)) return [{ type: 'line', byte, text: head }, next];
  const n = Number(head.toString('latin1'));
  if (n < 0) return [{ type: 'aggregate', byte, items: null }, next];
  const count = byte === MAP || byte === ATTRIBUTE ? n * 2 : n;
  const items: ReplyValue[] = [];
  let pos = next;
  for (let k = 0; k < count; k++) {
    const [v, after] = decodeAt(buf, pos);
    items.push(v);
    pos = after;
  }
  if (byte !== ATTRIBUTE) return [{ type: 'aggregate', byte, items }, pos];
  // An attribute decorates the value that follows it.
  const [decorated, after] = decodeAt(buf, pos);
  return [{ ...decorated, attribute: { type: 'aggregate', byte, items } } as ReplyValue, after];
}

export function encodeReply(v: ReplyValue): Buffer {
  const parts: Buffer[] = [];
  encodeInto(v, parts);
  return Buffer.concat(parts);
}

function encodeInto(v: ReplyValue, out: Buffer[]): void {
  if (v.type === 'aggregate' && v.attribute !== undefined) encodeInto(v.attribute, out);
  const type = String.fromCharCode(v.byte);
  if (v.type === 'line') {
    out.push(Buffer.from(type, 'latin1'), v.text, CRLF);
  } else if (v.type === 'blob') {
    if (v.data === null) out.push(Buffer.from(`${type}-1\r\n`, 'latin1'));
    else out.push(Buffer.from(`${type}${v.data.length}\r\n`, 'latin1'), v.data, CRLF);
  } else if (v.items === null) {
    out.push(Buffer.from(`${type}-1\r\n`, 'latin1'));
  } else {
    const n = v.byte === MAP || v.byte === ATTRIBUTE ? v.items.length / 2 : v.items.length;
    out.push(Buffer.from(`${type}${n}\r\n`, 'latin1'));
    for (const item of v.items) encodeInto(item, out);
  }
}

/** The text of a string-like value (simple, bulk, verbatim without its format prefix), else null. */
export function textOf(v: ReplyValue | undefined): string | null {
  if (v === undefined) return null;
  if (v.type === 'line' && (v.byte === 0x2b || v.byte === 0x3a)) return v.text.toString('latin1');
  if (v.type === 'blob' && v.data !== null) return (v.byte === 0x3d ? v.data.subarray(4) : v.data).toString('latin1');
  return null;
}

/** The same kind of value with new text (a bulk stays bulk, an integer stays an integer…). */
export function withText(v: ReplyValue, text: string): ReplyValue {
  if (v.type === 'line') return { ...v, text: Buffer.from(text, 'latin1') };
  if (v.type === 'blob') {
    const data = v.byte === 0x3d && v.data !== null ? Buffer.concat([v.data.subarray(0, 4), Buffer.from(text, 'latin1')]) : Buffer.from(text, 'latin1');
    return { ...v, data };
  }
  return v;
}

/** The elements of an aggregate ([] for anything else). */
export function itemsOf(v: ReplyValue | undefined): ReplyValue[] {
  return v !== undefined && v.type === 'aggregate' && v.items !== null ? v.items : [];
}

/** The value of `key` in a map (RESP3 %) or a flat key/value array (RESP2). */
export function fieldOf(v: ReplyValue | undefined, key: string): ReplyValue | undefined {
  const list = itemsOf(v);
  for (let k = 0; k + 1 < list.length; k += 2) if (textOf(list[k]) === key) return list[k + 1];
  return undefined;
}
