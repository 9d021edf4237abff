/**
 * Whole reply frames, bytes included, from a stream cut anywhere: for the ambassador's own small
 * conversations with an upstream (health probes, INFO), never for relayed traffic, where frames
 * are only watched going by.
 */
import type { Limits } from '../config/settings.js';
import { RespScanner } from './scanner.js';

export type FrameHandler = (scanner: RespScanner, bytes: Buffer) => void;

export class FrameCollector {
  private readonly scanner: RespScanner;
  private partial: Buffer[] = [];
  private chunk: Buffer | null = null;
  private start = 0;

  constructor(onFrame: FrameHandler, onProtocolError: (message: string) => void, limits?: Limits) {
    this.scanner = new RespScanner(
      'reply',
      {
        onFrame: (s, end) => {
          const here = this.chunk!.subarray(this.start, end);
          const bytes = this.partial.length === 0 ? here : Buffer.concat([...this.partial, here]);
          this.partial = [];
          this.start = end;
          onFrame(s, bytes);
        },
        onProtocolError: (message) => onProtocolError(message),
      },
      limits === undefined ? {} : { limits },
    );
  }

  feed(chunk: Buffer): void {
    this.chunk = chunk;
    this.start = 0;
    this.scanner.feed(chunk);
    if (!this.scanner.failed && this.start < chunk.length) this.partial.push(Buffer.from(chunk.subarray(this.start)));
    this.chunk = null;
  }
}

/** The text of a bulk or verbatim string frame (`$5\r\nhello\r\n`), or null for any other frame. */
export function bulkText(bytes: Buffer): string | null {
  if (bytes[0] !== 0x24 /* $ */ && bytes[0] !== 0x3d /* = */) return null;
  const header = bytes.indexOf('\r\n');
  if (header < 0 || bytes.length < header + 4) return null;
  return bytes.toString('latin1', header + 2, bytes.length - 2);
}
