/**
 * Bytes from the wire (a key, an argument) as JSON-safe text: the UTF-8 text when the bytes are
 * valid UTF-8 without control characters, else redis-cli's quoting ("\xff", "\n", "\"") inside
 * double quotes, so a binary key is told apart from a text key that looks the same.
 */
export function displayBytes(b: Buffer): string {
  const text = b.toString('utf8');
  if (!/[\u0000-\u001f\u007f\ufffd]/.test(text)) return text;
  let out = '"';
  for (const c of b) {
    if (c === 0x5c) out += '\\\\';
    else if (c === 0x22) out += '\\"';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return out + '"';
}
