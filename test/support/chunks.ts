/** Bytes cut into chunks, as a socket may deliver them: for tests of anything that reads a stream. */

/** `bytes` cut at `offsets` (sorted), as chunks; an offset of 0 or a repeated one gives an empty chunk. */
export function cutAt(bytes: string | Buffer, offsets: readonly number[]): Buffer[] {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const out: Buffer[] = [];
  let prev = 0;
  for (const o of offsets) {
    out.push(b.subarray(prev, o));
    prev = o;
  }
  out.push(b.subarray(prev));
  return out;
}

/** `bytes` one byte a chunk. */
export function oneByteChunks(bytes: string | Buffer): Buffer[] {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}
