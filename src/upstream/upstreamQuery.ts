/**
 * A short conversation with an upstream on a connection of its own: write a few commands, collect
 * their replies, close. For questions the ambassador asks itself (is this still the same server?),
 * never for client traffic.
 */
import { FrameCollector } from '../resp/frameCollector.js';
import { errorWord } from '../resp/frameView.js';
import { RESP_TYPE } from '../resp/scanner.js';
import type { UpstreamAddress } from '../config/address.js';
import { abandonUpstream, openUpstream } from './upstreamSocket.js';
import type { TlsSettings } from '../config/settings.js';

export interface QueryReply {
  /** The first word of an error reply ("NOAUTH"), or null when the reply is not an error. */
  readonly error: string | null;
  readonly bytes: Buffer;
}

export function queryUpstream(
  addr: UpstreamAddress,
  tls: TlsSettings | null,
  commands: readonly Buffer[],
  timeoutMs: number,
  done: (err: Error | null, replies: QueryReply[]) => void,
): void {
  const replies: QueryReply[] = [];
  let finished = false;
  const finish = (err: Error | null): void => {
    if (finished) return;
    finished = true;
    abandonUpstream(socket);
    done(err, replies);
  };
  const collector = new FrameCollector(
    (s, bytes) => {
      const isError = s.frameType === RESP_TYPE.ERROR || s.frameType === RESP_TYPE.BLOB_ERROR;
      replies.push({ error: isError ? errorWord(s) || 'ERR' : null, bytes: Buffer.from(bytes) });
      if (replies.length === commands.length) finish(null);
    },
    (message) => finish(new Error(`invalid reply: ${message}`)),
  );
  const socket = openUpstream(addr, tls, 0, () => {
    for (const c of commands) socket.write(c);
  });
  socket.setTimeout(timeoutMs);
  socket.on('timeout', () => finish(new Error(`no answer within ${timeoutMs} ms`)));
  socket.on('data', (chunk: Buffer) => collector.feed(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => finish(new Error(err.code ?? err.message)));
  socket.on('close', () => finish(new Error('connection closed before every reply came')));
}
