/**
 * ReplyPath between a recording UpstreamLink and a real client socket pair: replies reach the
 * client unchanged however they are cut; replies to the ambassador's own commands are cut out
 * frame by frame and local answers take their turn; bad upstream bytes pass the good prefix and
 * report; a SYNC/PSYNC's reply is looked at before it is scanned (an error line, or a replication
 * stream that is relayed raw from its first byte); backpressure and the session's hooks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplayCommand } from '../../../src/upstream/replayCommand.js';
import { encodeCommand } from '../../../src/resp/commandCodec.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { BUCKET_SLOTS } from '../../../src/metrics/listenerStats.js';
import { Harness, SocketPair, cut, describeSplit, splits, type HarnessOptions } from './pathHarness.js';

const id = (label: string): number => TRAITS.idOf(label);
const replay = (label: string, ...args: string[]): ReplayCommand => ({ bytes: encodeCommand(args), cmd: id(label), replies: 1 });
const NOPERM = "-NOPERM this ambassador does not allow the 'flushall' command (AMBASSADOR_DENY_COMMANDS)\r\n";

/** Observations of `label` in the ordinary latency histogram. */
function observed(h: Harness, label: string): number {
  let n = 0;
  for (let b = 0; b < BUCKET_SLOTS; b++) n += h.stats.durations.buckets[id(label) * BUCKET_SLOTS + b]!;
  return n;
}

/** What Session does when a SYNC/PSYNC turns into a replication stream. */
const replicating: HarnessOptions = {
  onReplicationStarted: (h) => {
    h.state.replicating = true;
    h.matcher.abandonPending();
  },
};

let client: SocketPair;
beforeAll(async () => {
  client = await SocketPair.open();
});
afterAll(() => client?.close());

describe('ReplyPath: relaying', () => {
  // A RESP3 map, and an attribute that belongs to the value after it.
  const REPLIES = '$1\r\nA\r\n+OK\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n%1\r\n+k\r\n+v\r\n|1\r\n+a\r\n+b\r\n:1\r\n';

  it('passes replies to the client unchanged at every split offset, each matched to its command', async () => {
    for (const chunks of splits(REPLIES)) {
      const h = new Harness(client);
      h.send('GET a\r\nSET k v\r\nLRANGE l 0 -1\r\nHGETALL h\r\nINCR n\r\n');
      h.recv(...chunks);
      await client.expectExactly(REPLIES, describeSplit(chunks));
      expect([observed(h, 'get'), observed(h, 'set'), observed(h, 'lrange'), observed(h, 'hgetall'), observed(h, 'incr'), h.matcher.pending]).toEqual([1, 1, 1, 1, 1, 0]);
      expect([h.afterReplies, h.stats.bytesOut]).toEqual([chunks.length, REPLIES.length]);
    }
  });

  it('replyCut: true while a reply is partly passed to the client', () => {
    const h = new Harness(client);
    h.send('GET a\r\n');
    expect(h.replies.replyCut).toBe(false);
    h.recv('$5\r\nab');
    expect(h.replies.replyCut).toBe(true);
    h.recv('cde\r\n');
    expect(h.replies.replyCut).toBe(false);
  });

  it('backpressure: a client not reading makes the path pause the upstream', async () => {
    client.far.pause();
    const h = new Harness(client);
    h.send('GET big\r\n');
    const size = 16 * 1024 * 1024;
    h.recv(`$${size}\r\n`);
    const piece = Buffer.alloc(64 * 1024, 0x62);
    for (let sent = 0; sent < size && h.link.pauses === 0; sent += piece.length) h.recv(piece);
    expect(h.link.pauses).toBeGreaterThan(0);
    client.far.resume();
    // The reply stays cut; what was written of it is skipped so later tests read from a boundary.
    await client.skipWritten();
  });
});

describe('ReplyPath: the ambassador\'s own replies and local answers', () => {
  it('replies to replayed commands never reach the client, at every split offset', async () => {
    const upstream = '+OK\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n$1\r\nA\r\n$1\r\nB\r\n';
    for (const chunks of splits(upstream)) {
      const h = new Harness(client);
      h.send('GET a\r\nGET b\r\n');
      h.state.subscriptions.add('channel', Buffer.from('c'));
      h.matcher.replayFirst([replay('select', 'SELECT', '3'), replay('client|setname', 'CLIENT', 'SETNAME', 'n'), { ...replay('subscribe', 'SUBSCRIBE', 'c'), replies: 1 }], 0);
      h.recv(...chunks);
      await client.expectExactly('$1\r\nA\r\n$1\r\nB\r\n', describeSplit(chunks));
      expect([h.replayAnswers, h.matcher.pending, observed(h, 'get')]).toEqual([[null, null, null], 0, 2]);
    }
  });

  it('local answers take their turn among the upstream\'s replies, at every split offset', async () => {
    const upstream = '$1\r\nA\r\n$1\r\nB\r\n';
    for (const chunks of splits(upstream)) {
      const h = new Harness(client);
      h.send('GET a\r\n');
      h.replies.answerLocally(id('flushall'), 0, Buffer.from(NOPERM));
      h.send('GET b\r\n');
      h.replies.answerLocally(id('flushall'), 0, Buffer.from(NOPERM));
      h.recv(...chunks);
      await client.expectExactly('$1\r\nA\r\n' + NOPERM + '$1\r\nB\r\n' + NOPERM, describeSplit(chunks));
      expect([h.matcher.pending, h.matcher.localPending]).toEqual([0, false]);
    }
  });

  it('a local answer with nothing before it goes out at once', async () => {
    const h = new Harness(client);
    h.replies.answerLocally(id('flushall'), 0, Buffer.from(NOPERM));
    await client.expectExactly(NOPERM);
    expect(h.matcher.pending).toBe(0);
  });

  it('a client reply cut by the chunk end while going frame by frame is held until it is known to be the client\'s', async () => {
    const h = new Harness(client);
    h.send('GET a\r\n');
    h.matcher.replayFirst([replay('select', 'SELECT', '3')], 0);
    h.recv('+OK\r\n$5\r\nab');
    await client.expectExactly('');
    expect(h.replies.replyCut).toBe(false); // nothing of it reached the client
    h.recv('cde\r\n');
    await client.expectExactly('$5\r\nabcde\r\n');
  });

  it('flushHeld passes a held partial reply on as far as it came (Redis closed the connection itself)', async () => {
    const h = new Harness(client);
    h.send('GET a\r\n');
    h.matcher.replayFirst([replay('select', 'SELECT', '3')], 0);
    h.recv('+OK\r\n$5\r\nab');
    h.replies.flushHeld();
    await client.expectExactly('$5\r\nab');
  });

  it('deliver writes the session\'s own bytes; bytes out are counted only with per-command metrics', async () => {
    const h = new Harness(client);
    const lost = '-ERR upstream connection lost; command may or may not have run\r\n';
    h.replies.deliver(Buffer.from(lost));
    await client.expectExactly(lost);
    expect(h.stats.bytesOut).toBe(lost.length);
    const off = new Harness(client, { perCommand: false });
    off.send('PING\r\n').recv('+PONG\r\n');
    await client.expectExactly('+PONG\r\n');
    expect(off.stats.bytesOut).toBe(0);
  });
});

describe('ReplyPath: bad upstream bytes and lost connections', () => {
  it('an unknown type byte: the good prefix reaches the client, then the error is reported, at every split offset', async () => {
    const good = '$1\r\nA\r\n+OK\r\n';
    const upstream = good + '@oops\r\n+NEVER\r\n';
    for (const chunks of splits(upstream)) {
      const h = new Harness(client);
      h.send('GET a\r\nSET k v\r\nGET b\r\n');
      h.recv(...chunks);
      await client.expectExactly(good, describeSplit(chunks));
      expect(h.upstreamProtocolErrors).toEqual(['Protocol error: unknown RESP type byte 0x40']);
    }
  });

  it('while going frame by frame, a partial frame held back never reaches the client when it turns out bad', async () => {
    // A length that is not a number: the frame is bad once its line ends.
    const upstream = '+OK\r\n$1\r\nA\r\n$1x\r\n';
    for (const chunks of [[Buffer.from(upstream)], cut(upstream, upstream.indexOf('$1x') + 2), cut(upstream, upstream.indexOf('$1x'))]) {
      const h = new Harness(client);
      h.send('GET a\r\nGET b\r\n');
      h.matcher.replayFirst([replay('select', 'SELECT', '3')], 0);
      h.recv(...chunks);
      await client.expectExactly('$1\r\nA\r\n', describeSplit(chunks));
      expect(h.upstreamProtocolErrors).toEqual(["Protocol error: invalid length for type '$'"]);
    }
  });

  it('after connectionLost the next connection starts at a frame boundary', async () => {
    const h = new Harness(client);
    h.send('GET a\r\n');
    h.recv('$5\r\nab');
    h.matcher.connectionLost();
    h.replies.connectionLost();
    h.send('PING\r\n').recv('+PONG\r\n');
    await client.expectExactly('$5\r\nab+PONG\r\n');
    expect([h.upstreamProtocolErrors, observed(h, 'ping'), h.matcher.pending]).toEqual([[], 1, 0]);
  });

  it('after stop nothing more reaches the client', async () => {
    const h = new Harness(client);
    h.send('GET a\r\n');
    h.replies.stop();
    h.recv('$1\r\nA\r\n');
    await client.expectExactly('');
  });
});

describe("ReplyPath: a SYNC/PSYNC's reply", () => {
  const STREAMS: [string, string][] = [
    ['newline keep-alives, then +FULLRESYNC and an RDB without CRLF', '\n\n+FULLRESYNC 8de1787ba490483314a4d30f1c628bc5669cf3 0\r\n$9\r\nREDIS0009*1\r\n$4\r\nPING\r\n'],
    ['+FULLRESYNC at once', '+FULLRESYNC 8de1787ba490483314a4d30f1c628bc5669cf3 0\r\n$5\r\nREDISxyz'],
    ['+CONTINUE (partial resync)', '+CONTINUE 8de1787ba490483314a4d30f1c628bc5669cf3\r\n*1\r\n$4\r\nPING\r\n'],
    ['SYNC: the RDB payload\'s $<length> at once, no CRLF after it', '$9\r\nREDIS0009*3\r\n$3\r\nSET'],
  ];

  for (const [what, stream] of STREAMS) {
    it(`${what}: relayed raw from its first byte, at every split offset`, async () => {
      for (const chunks of splits(stream)) {
        const h = new Harness(client, replicating);
        h.send('SYNC\r\n');
        h.recv(...chunks);
        h.recv('\u0001not RESP at all\r\n');
        await client.expectExactly(stream + '\u0001not RESP at all\r\n', describeSplit(chunks));
        expect([h.replicationStarted, h.upstreamProtocolErrors, h.commands('sync')]).toEqual([1, [], 1]);
      }
    });
  }

  it('an error line is the reply, matched and counted like any other; what follows is RESP again', async () => {
    const reply = "-ERR Can't SYNC while not connected with my master\r\n$-1\r\n";
    for (const chunks of splits(reply)) {
      const h = new Harness(client, replicating);
      h.send('PSYNC ? -1\r\nGET a\r\n');
      h.recv(...chunks);
      await client.expectExactly(reply, describeSplit(chunks));
      expect([h.replicationStarted, h.matcher.pending, observed(h, 'psync'), observed(h, 'get')]).toEqual([0, 0, 1, 1]);
    }
  });

  it('behind other replies in the same chunks: those are matched, then the stream is relayed raw', async () => {
    const upstream = '$1\r\nA\r\n+OK\r\n\n+FULLRESYNC x 0\r\n$3\r\nabc*1\r\n';
    for (const chunks of splits(upstream)) {
      const h = new Harness(client, replicating);
      h.send('GET a\r\nSET k v\r\nSYNC\r\n');
      h.recv(...chunks);
      await client.expectExactly(upstream, describeSplit(chunks));
      expect([h.replicationStarted, observed(h, 'get'), observed(h, 'set'), h.upstreamProtocolErrors]).toEqual([1, 1, 1, []]);
    }
  });

  it('a SYNC sent while an earlier reply is half received: the look is taken where that reply ends', async () => {
    const h = new Harness(client, replicating);
    h.send('GET a\r\n');
    h.recv('$1\r\n');
    h.send('SYNC\r\n');
    h.recv('A\r\n\n+FULLRESYNC x 0\r\n$3\r\nabc');
    await client.expectExactly('$1\r\nA\r\n\n+FULLRESYNC x 0\r\n$3\r\nabc');
    expect([h.replicationStarted, observed(h, 'get')]).toEqual([1, 1]);
  });

  it('a RESP3 push ahead of the reply is scanned first; the look is taken after it', async () => {
    const push = '>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n';
    for (const [tail, started] of [['\n+FULLRESYNC x 0\r\n$2\r\nab', 1], ["-ERR Can't SYNC\r\n", 0]] as const) {
      for (const chunks of splits(push + tail)) {
        const h = new Harness(client, replicating);
        h.send('SYNC\r\n');
        h.recv(...chunks);
        await client.expectExactly(push + tail, describeSplit(chunks));
        expect([describeSplit(chunks), h.replicationStarted, h.upstreamProtocolErrors]).toEqual([describeSplit(chunks), started, []]);
      }
    }
  });
});
