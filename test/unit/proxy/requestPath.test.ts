/**
 * RequestPath between a real client socket pair and a recording UpstreamLink: bytes go upstream
 * unchanged however they are cut; with a gate, frames are held until their fate is known,
 * answered locally in their turn, or rewritten (HELLO AUTH); bad bytes forward the good prefix
 * and then report Redis's error; and the callbacks the session relies on fire when they should.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandPolicy } from '../../../src/proxy/commandPolicy.js';
import { TRANSACTION_POISON } from '../../../src/proxy/connectionState.js';
import { RequestGate } from '../../../src/proxy/requestGate.js';
import { REJECT_REASONS } from '../../../src/metrics/metricTable.js';
import { decodeCommand, encodeCommand } from '../../../src/resp/commandCodec.js';
import { ROLE, TRAITS } from '../../../src/resp/commandTraits.js';
import { cmd } from '../../support/resp.js';
import { Harness, SocketPair, cut, describeSplit, splits } from './pathHarness.js';

const id = (label: string): number => TRAITS.idOf(label);
const PASS = 'pw';
const NOAUTH = '-NOAUTH Authentication required.\r\n';
const noperm = (name: string, source = 'AMBASSADOR_DENY_COMMANDS'): string => `-NOPERM this ambassador does not allow the '${name}' command (${source})\r\n`;
const latin1 = (b: Buffer): string => b.toString('latin1');

function deny(...names: string[]): CommandPolicy {
  return new CommandPolicy({ mode: 'deny', names, source: 'AMBASSADOR_DENY_COMMANDS' });
}

function rejected(h: Harness, label: string, reason: string): number {
  return h.stats.rejected[id(label) * REJECT_REASONS.length + REJECT_REASONS.indexOf(reason)]!;
}

let client: SocketPair;
beforeAll(async () => {
  client = await SocketPair.open();
});
afterAll(() => client?.close());

describe('RequestPath without a gate', () => {
  // Inline and multibulk, empty commands, a state command, a subcommand, a bulk longer than a token.
  const PIPELINE =
    'GET a\r\n' +
    latin1(cmd('SET', 'k', 'v')) +
    '*0\r\n' +
    '\r\n' +
    'SUBSCRIBE news\r\n' +
    latin1(cmd('CLIENT', 'SETNAME', 'worker')) +
    latin1(cmd('ECHO', 'x'.repeat(40)));

  it('forwards every chunk whole and unchanged, at every split offset, and names every command', async () => {
    for (const chunks of splits(PIPELINE)) {
      const h = new Harness(client);
      h.send(...chunks);
      expect(h.link.nonEmpty().map(latin1), describeSplit(chunks)).toEqual(chunks.map(latin1));
      expect([h.commands('get'), h.commands('set'), h.commands('subscribe'), h.commands('client|setname'), h.commands('echo')]).toEqual([1, 1, 1, 1, 1]);
      expect([h.matcher.pending, h.stats.bytesIn]).toEqual([5, PIPELINE.length]);
      // State commands' arguments were decoded from frames cut anywhere: the replies make them replayable.
      h.recv('$-1\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n+OK\r\n$40\r\n' + 'x'.repeat(40) + '\r\n');
      await client.take(Buffer.byteLength('$-1\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n+OK\r\n$40\r\n') + 42);
      expect(h.state.replay().map((c) => decodeCommand(c.bytes)!.map(latin1).join(' ')), describeSplit(chunks)).toEqual(['CLIENT SETNAME worker', 'SUBSCRIBE news']);
    }
    await client.expectExactly('');
  });

  it('a state command larger than 1 MB still goes through unchanged; it is logged as too large to remember', () => {
    const h = new Harness(client);
    const frame = cmd('SUBSCRIBE', 'c'.repeat(1200 * 1024));
    const chunks: Buffer[] = [];
    for (let at = 0; at < frame.length; at += 64 * 1024) chunks.push(frame.subarray(at, at + 64 * 1024));
    h.send(...chunks);
    expect(h.link.bytes().equals(frame)).toBe(true);
    expect([h.commands('subscribe'), h.matcher.pending]).toEqual([1, 1]);
    expect(h.logs.some((l) => l.includes('command too large to remember for replay'))).toBe(true);
  });

  it('partialFrame: [] at a boundary, the bytes of the frame in progress otherwise', () => {
    const h = new Harness(client);
    expect(h.requests.partialFrame()).toEqual([]);
    h.send('PING\r\n*2\r\n$3\r\nGET', '\r\n$1');
    expect(h.requests.atBoundary).toBe(false);
    expect(Buffer.concat(h.requests.partialFrame()!).toString('latin1')).toBe('*2\r\n$3\r\nGET\r\n$1');
    h.send('\r\na\r\n');
    expect([h.requests.atBoundary, h.requests.partialFrame()]).toEqual([true, []]);
  });

  it('partialFrame is null once the frame in progress passed 1 MB (it was not all kept)', () => {
    const h = new Harness(client);
    h.send('*2\r\n$3\r\nSET\r\n$2000000\r\n', Buffer.alloc(1100 * 1024, 0x61));
    expect(h.requests.partialFrame()).toBeNull();
  });

  it('bad bytes: the good prefix goes upstream, then the error is reported once, with Redis\'s text', () => {
    const good = 'PING\r\n' + latin1(cmd('GET', 'a'));
    const input = good + '*1\r\n$-5\r\nGET b\r\n';
    // The scanner fails at the byte that ends the bad length line.
    const failsAt = input.indexOf('$-5\r') + 4;
    for (const [k, chunks] of [...Array(input.length).keys()].map((k) => [k, cut(input, k).filter((c) => c.length > 0)] as const)) {
      const h = new Harness(client);
      h.send(...chunks);
      h.send('PING\r\n'); // after the error, nothing more is forwarded
      // Chunks before the one holding the bad byte were forwarded whole when they came.
      const forwarded = k > 0 && k <= failsAt ? Math.max(good.length, k) : good.length;
      expect([k, h.link.text()]).toEqual([k, input.slice(0, forwarded)]);
      expect([k, h.clientProtocolErrors]).toEqual([k, ['Protocol error: invalid bulk length']]);
      expect([k, h.commands('ping'), h.commands('get')]).toEqual([k, 1, 1]);
    }
  });

  it('more commands in flight than allowed: onTooManyPending, and the bytes still go', () => {
    const h = new Harness(client, { maxPendingCommands: 2 });
    h.send('PING\r\nPING\r\n');
    expect(h.tooManyPending).toBe(0);
    h.send('PING\r\n');
    expect([h.tooManyPending, h.link.text()]).toEqual([1, 'PING\r\n'.repeat(3)]);
  });

  it('a replication stream without a gate is relayed unscanned: not RESP, no error, still counted in bytes', () => {
    const h = new Harness(client);
    h.state.replicating = true;
    const raw = Buffer.from([0x00, 0xff, 0x0a, 0x2a, 0x2d, 0x31, 0x0d]);
    h.send(raw, 'REPLCONF ACK 0\r\n');
    expect([h.link.bytes().equals(Buffer.concat([raw, Buffer.from('REPLCONF ACK 0\r\n')])), h.clientProtocolErrors, h.matcher.pending, h.stats.bytesIn]).toEqual([true, [], 0, raw.length + 16]);
  });

  it('a MULTI after a lost WATCH is followed by the poison, so its EXEC fails', () => {
    const h = new Harness(client);
    h.state.onSent(ROLE.WATCH);
    h.state.connectionLost();
    h.send('MULTI\r\nSET a 1\r\nEXEC\r\n');
    expect(h.link.text()).toBe('MULTI\r\n' + latin1(TRANSACTION_POISON) + 'SET a 1\r\nEXEC\r\n');
    expect([h.state.watchLost, h.matcher.internalPending, h.matcher.clientPending]).toEqual([false, true, 3]);
  });

  it('inside MULTI the subscribe family\'s arguments are still decoded: they take effect when EXEC commits', async () => {
    const input = 'MULTI\r\nSUBSCRIBE qa qb\r\nSELECT 4\r\nEXEC\r\n';
    const reply = '+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nqa\r\n:1\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nqb\r\n:2\r\n';
    for (const chunks of splits(input)) {
      const h = new Harness(client);
      h.send(...chunks);
      h.recv(reply);
      await client.take(reply.length);
      // SELECT inside MULTI is not remembered for replay (only its +QUEUED was seen).
      expect([describeSplit(chunks), h.state.replay().map((c) => decodeCommand(c.bytes)!.map(latin1).join(' '))]).toEqual([describeSplit(chunks), ['SUBSCRIBE qa qb']]);
    }
    await client.expectExactly('');
  });

  it('bytes in are not counted with per-command metrics off', () => {
    const h = new Harness(client, { perCommand: false });
    h.send('PING\r\n');
    expect([h.stats.bytesIn, h.link.text()]).toEqual([0, 'PING\r\n']);
  });
});

describe('RequestPath with AMBASSADOR_REQUIREPASS', () => {
  const gate = (): RequestGate => new RequestGate(null, Buffer.from(PASS));

  it('holds AUTH and refused commands back, forwards the rest, answers locally in turn: at every split offset', async () => {
    const input = 'GET a\r\n' + latin1(cmd('AUTH', PASS)) + latin1(cmd('GET', 'b')) + 'AUTH wrong\r\n' + 'PING\r\n';
    for (const chunks of splits(input)) {
      const h = new Harness(client, { gate: gate() });
      h.send(...chunks);
      expect([describeSplit(chunks), h.link.text()]).toEqual([describeSplit(chunks), latin1(cmd('GET', 'b')) + 'PING\r\n']);
      h.recv('$1\r\nB\r\n+PONG\r\n');
      await client.expectExactly(NOAUTH + '+OK\r\n$1\r\nB\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+PONG\r\n', describeSplit(chunks));
      expect([rejected(h, 'get', 'noauth'), rejected(h, 'auth', 'noauth'), h.commands('get'), h.commands('auth')]).toEqual([1, 1, 1, 0]);
    }
  });

  it('HELLO 3 AUTH default <pass> SETNAME n goes upstream rewritten without its AUTH, and only that is remembered', async () => {
    const hello = cmd('HELLO', '3', 'AUTH', 'default', PASS, 'SETNAME', 'me');
    for (const chunks of splits(Buffer.concat([hello, cmd('GET', 'k')]))) {
      const h = new Harness(client, { gate: gate() });
      h.send(...chunks);
      expect([describeSplit(chunks), h.link.text()]).toEqual([describeSplit(chunks), latin1(encodeCommand(['HELLO', '3', 'SETNAME', 'me'])) + latin1(cmd('GET', 'k'))]);
      h.recv('%1\r\n$5\r\nproto\r\n:3\r\n_\r\n');
      await client.take(Buffer.byteLength('%1\r\n$5\r\nproto\r\n:3\r\n_\r\n'));
      expect([h.state.protocol, h.state.replay().map((c) => latin1(c.bytes))]).toEqual([3, [latin1(encodeCommand(['HELLO', '3', 'SETNAME', 'me']))]]);
      expect(h.state.replay().some((c) => latin1(c.bytes).includes(PASS))).toBe(false);
    }
    await client.expectExactly('');
  });

  it('RESET is forwarded and locks the connection again', async () => {
    const h = new Harness(client, { gate: gate() });
    h.send(`AUTH ${PASS}\r\nRESET\r\nGET a\r\n`);
    expect(h.link.text()).toBe('RESET\r\n');
    h.recv('+RESET\r\n');
    await client.expectExactly('+OK\r\n+RESET\r\n' + NOAUTH);
  });
});

describe('RequestPath with a command policy', () => {
  it('refused commands never go upstream; their -NOPERM comes after the replies before them: at every split offset', async () => {
    const input = latin1(cmd('GET', 'a')) + 'FLUSHALL\r\n' + latin1(cmd('FLUSHALL', 'ASYNC')) + 'GET b\r\n';
    for (const chunks of splits(input)) {
      const h = new Harness(client, { gate: new RequestGate(deny('flushall'), null) });
      h.send(...chunks);
      expect([describeSplit(chunks), h.link.text()]).toEqual([describeSplit(chunks), latin1(cmd('GET', 'a')) + 'GET b\r\n']);
      h.recv('$1\r\nA\r\n$1\r\nB\r\n');
      await client.expectExactly('$1\r\nA\r\n' + noperm('flushall') + noperm('flushall') + '$1\r\nB\r\n', describeSplit(chunks));
      expect([rejected(h, 'flushall', 'policy'), h.commands('flushall')]).toEqual([2, 0]);
    }
  });

  it('a command with subcommands is held until its subcommand is known, then released or refused', async () => {
    const get = latin1(cmd('CONFIG', 'GET', 'maxmemory'));
    const input = get + latin1(cmd('CONFIG', 'SET', 'maxmemory', '1')) + get;
    for (const chunks of splits(input)) {
      const h = new Harness(client, { gate: new RequestGate(deny('config|set'), null) });
      h.send(...chunks);
      expect([describeSplit(chunks), h.link.text()]).toEqual([describeSplit(chunks), get + get]);
      h.recv('*0\r\n*0\r\n');
      await client.expectExactly('*0\r\n' + noperm('config|set') + '*0\r\n', describeSplit(chunks));
    }
  });

  it('a refusal inside MULTI also poisons the upstream transaction; the poison\'s error never reaches the client', async () => {
    const input = 'MULTI\r\nFLUSHALL\r\nEXEC\r\n';
    for (const chunks of splits(input)) {
      const h = new Harness(client, { gate: new RequestGate(deny('flushall'), null) });
      h.send(...chunks);
      expect([describeSplit(chunks), h.link.text()]).toEqual([describeSplit(chunks), 'MULTI\r\n' + latin1(TRANSACTION_POISON) + 'EXEC\r\n']);
      const upstream = "+OK\r\n-ERR unknown command 'ambassador-upstream-was-lost-transaction-aborted', with args beginning with: \r\n-EXECABORT Transaction discarded because of previous errors.\r\n";
      for (const replyChunks of [[Buffer.from(upstream, 'latin1')], cut(upstream, 7), cut(upstream, 20, upstream.indexOf('-EXEC') + 3)]) {
        const r = new Harness(client, { gate: new RequestGate(deny('flushall'), null) });
        r.send(...chunks);
        r.recv(...replyChunks);
        await client.expectExactly('+OK\r\n' + noperm('flushall') + '-EXECABORT Transaction discarded because of previous errors.\r\n', `${describeSplit(chunks)} / ${describeSplit(replyChunks)}`);
        expect(r.matcher.pending).toBe(0);
      }
    }
  });

  it('a held frame past 1 MB is decided with the tokens it has: refused as it streams, or released whole', async () => {
    const big = 'v'.repeat(1500 * 1024);
    const chunked = (frame: Buffer): Buffer[] => {
      const out: Buffer[] = [];
      for (let at = 0; at < frame.length; at += 64 * 1024) out.push(frame.subarray(at, at + 64 * 1024));
      return out;
    };
    const refused = new Harness(client, { gate: new RequestGate(deny('config|set'), null) });
    refused.send(...chunked(cmd('CONFIG', 'SET', 'x', big)), 'PING\r\n');
    expect(refused.link.text()).toBe('PING\r\n');
    refused.recv('+PONG\r\n');
    await client.expectExactly(noperm('config|set') + '+PONG\r\n');

    const allowed = new Harness(client, { gate: new RequestGate(deny('config|set'), null) });
    const frame = cmd('CONFIG', 'GET', big);
    allowed.send(...chunked(frame));
    expect(allowed.link.bytes().equals(frame)).toBe(true);
    expect(allowed.commands('config|get')).toBe(1);
  });

  it('inside a replication stream a refused command ends the session (nothing can be answered there)', () => {
    // The session closes its link from inside the callback, as Session.onRefusedInReplication does.
    const h = new Harness(client, { gate: new RequestGate(deny('flushall'), null), onRefusedInReplication: (x) => x.link.close() });
    h.state.replicating = true;
    h.send(latin1(cmd('REPLCONF', 'ACK', '0')), latin1(cmd('FLUSHALL')));
    expect(h.link.text()).toBe(latin1(cmd('REPLCONF', 'ACK', '0')));
    expect([h.refusedInReplication, rejected(h, 'flushall', 'policy'), h.matcher.pending]).toEqual([[id('flushall')], 1, 0]);
    // In one chunk with a command before it: nothing of the chunk reaches an open link. (RequestPath
    // hands the chunk, refused frame included, to send() after the callback: only the link being
    // closed by then keeps those bytes from the upstream.)
    const one = new Harness(client, { gate: new RequestGate(deny('flushall'), null), onRefusedInReplication: (x) => x.link.close() });
    one.state.replicating = true;
    one.send(latin1(cmd('REPLCONF', 'ACK', '0')) + latin1(cmd('FLUSHALL')));
    expect([one.link.text(), one.refusedInReplication]).toEqual(['', [id('flushall')]]);
  });

  it('a SYNC is forwarded and tells the reply path its reply may start a replication stream', () => {
    const h = new Harness(client, { gate: new RequestGate(deny('flushall'), null) });
    h.send('SYNC\r\n');
    expect([h.link.text(), h.matcher.replicationReplyDue]).toEqual(['SYNC\r\n', true]);
  });
});
