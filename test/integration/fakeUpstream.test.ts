/**
 * Replies a real redis-server 7.0 does not send on demand, from a scripted upstream, cut one byte
 * per TCP write: RESP3 attributes, blob errors, verbatim strings, big numbers, unsolicited pushes
 * between replies, and an upstream that sends garbage. The client must get exactly the bytes sent,
 * every command matched to its reply, and garbage must cost only that connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthz, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorFor } from '../support/ambassadorPresets.js';
import { startFakeRedis, type FakeRedis } from '../support/fakeRedis.js';
import { unmatched } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { openClient } from '../support/rawClient.js';
import { cmd } from '../support/resp.js';

const REPLIES: Record<string, string> = {
  attr: '|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n',
  bloberr: '!21\r\nSYNTAX invalid syntax\r\n',
  errcode: '-MOVED 3999 127.0.0.1:6381\r\n',
  verbatim: '=15\r\ntxt:Some string\r\n',
  bignum: '(3492890328409238509324850943850943825024385\r\n',
  misc: '*6\r\n#t\r\n,inf\r\n_\r\n~2\r\n+a\r\n+b\r\n%0\r\n$0\r\n\r\n',
  // A push the server sends on its own, just before the reply to this command.
  pushfirst: '>3\r\n+invalidate\r\n*1\r\n$3\r\nfoo\r\n+x\r\n+pushed-then-replied\r\n',
  nested: '*2\r\n*2\r\n*0\r\n*-1\r\n%1\r\n+k\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n',
  garbage: '+fine\r\n@what is this\r\n',
};

const cleanup = new Cleanup();
let fake: FakeRedis;
let amb: AmbassadorProcess;
let port: number;

beforeAll(async () => {
  fake = cleanup.add(await startFakeRedis((args) => REPLIES[args[1] ?? ''] ?? `-ERR fake does not know ${args[1]}\r\n`, { byteByByte: true }), (f) => f.close());
  ({ amb, port } = await ambassadorFor(cleanup, fake.url));
});
afterAll(() => cleanup.run());

describe('RESP3 replies from a scripted upstream, one byte per write', () => {
  it('reach the client byte for byte, each matched to its command', async () => {
    const names = ['attr', 'bloberr', 'errcode', 'verbatim', 'bignum', 'misc', 'pushfirst', 'nested'];
    const c = await openClient(cleanup, port);
    await c.write(Buffer.concat(names.map((n) => cmd('ECHO', n))));
    const expected = names.map((n) => REPLIES[n]).join('');
    await c.waitForBytes((b) => b.length >= expected.length, 'all replies', 20_000);
    expect(c.text()).toBe(expected);
    const text = await amb.metrics();
    expect(unmatched(text)).toEqual({});
    expect(await amb.metric('redis_ambassador_commands_total', { cmd: 'echo' })).toBe(names.length);
    expect(await amb.metric('redis_ambassador_command_duration_seconds_count', { cmd: 'echo' })).toBe(names.length);
    expect(await amb.metric('redis_ambassador_command_errors_total', { cmd: 'echo', error: 'MOVED' })).toBe(1);
    expect(await amb.metric('redis_ambassador_command_errors_total', { cmd: 'echo' })).toBe(2); // MOVED + the blob error
    expect(await amb.metric('redis_ambassador_push_messages_total', { kind: 'invalidate' })).toBe(1);
  });

  it('an upstream that sends garbage: that client gets what came before it and is closed; the process lives; side="upstream" counted', async () => {
    const bystander = await openClient(cleanup, port);
    await bystander.write(cmd('ECHO', 'verbatim'));
    await bystander.waitForBytes((b) => b.length >= REPLIES.verbatim!.length, 'bystander reply');
    const c = await openClient(cleanup, port);
    await c.write(cmd('ECHO', 'garbage'));
    await c.waitClosed(20_000);
    expect(c.text()).toBe('+fine\r\n');
    expect(await amb.metric('redis_ambassador_protocol_errors_total', { side: 'upstream' })).toBe(1);
    expect(await healthz(amb)).toBe(200);
    // The other client is untouched.
    await bystander.write(cmd('ECHO', 'bignum'));
    await bystander.waitForBytes((b) => b.length >= REPLIES.verbatim!.length + REPLIES.bignum!.length, 'bystander second reply');
    expect(bystander.text()).toBe(REPLIES.verbatim! + REPLIES.bignum!);
  });
});
