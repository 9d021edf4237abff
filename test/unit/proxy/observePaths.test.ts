/**
 * What the request and reply paths hand the slow log, the hot keys and the reply-size histogram,
 * however the client's and the upstream's bytes are cut: each command's reply size, its
 * arguments as SLOWLOG shows them (kept as a view of its chunk, or a digest when the frame
 * spanned chunks), and the keys of every command read from the frame's own bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Logger } from '../../../src/log/logger.js';
import { HotKeys } from '../../../src/observe/hotKeys.js';
import { SlowLog } from '../../../src/observe/slowLog.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { Harness, SocketPair, describeSplit, splits } from './pathHarness.js';

const id = (label: string): number => TRAITS.idOf(label);

let client: SocketPair;
beforeAll(async () => {
  client = await SocketPair.open();
});
afterAll(() => client?.close());

const REQUESTS = '*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$140\r\n' + 'v'.repeat(140) + '\r\nMGET a key\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n';
const REPLIES = '+OK\r\n*2\r\n$-1\r\n$140\r\n' + 'v'.repeat(140) + '\r\n$-1\r\n';
const ARGS = [['SET', 'key', `${'v'.repeat(128)}... (12 more bytes)`], ['MGET', 'a', 'key'], ['GET', 'a']];

describe('paths → slow log, hot keys, reply sizes', () => {
  it('every command, at every split of requests and of replies: arguments, keys and reply sizes', async () => {
    for (const chunks of splits(REQUESTS)) {
      const slowLog = new SlowLog({ thresholdMs: 0, length: 8, args: true }, new Logger('error', () => {}));
      const hotKeys = new HotKeys();
      const h = new Harness(client, { slowLog, hotKeys });
      h.send(...chunks);
      h.recv(REPLIES);
      await client.expectExactly(REPLIES, describeSplit(chunks));
      const entries = slowLog.entries().reverse();
      expect([describeSplit(chunks), entries.map((e) => e.args)]).toEqual([describeSplit(chunks), ARGS]);
      expect(entries.map((e) => [e.cmd, e.reply_bytes])).toEqual([['set', 5], ['mget', 4 + 5 + 148], ['get', 5]]);
      expect(Object.fromEntries(hotKeys.view(1).keys.map((k) => [k.key, k.count]))).toEqual({ key: 2, a: 2 });
      expect(h.stats.slowCommands[id('set')]).toBe(1);
    }
    for (const chunks of splits(REPLIES)) {
      const h = new Harness(client);
      h.send(REQUESTS);
      h.recv(...chunks);
      await client.expectExactly(REPLIES, describeSplit(chunks));
      const sums = ['set', 'mget', 'get'].map((c) => h.stats.replySizes.sums[id(c)]);
      expect([describeSplit(chunks), sums]).toEqual([describeSplit(chunks), [5, 157, 5]]);
    }
  });

  it('keeps no arguments unless AMBASSADOR_SLOWLOG_ARGS is on, and names the client', async () => {
    const slowLog = new SlowLog({ thresholdMs: 0, length: 8, args: false }, new Logger('error', () => {}));
    const h = new Harness(client, { slowLog });
    h.send('CLIENT SETNAME worker-7\r\nGET secret-key\r\n');
    h.recv('+OK\r\n$-1\r\n');
    await client.expectExactly('+OK\r\n$-1\r\n', 'replies');
    const [get] = slowLog.entries();
    expect(get).toMatchObject({ cmd: 'get', client: '127.0.0.1:5000', client_name: 'worker-7', listener: 'test:1' });
    expect(get).not.toHaveProperty('args');
    expect(JSON.stringify(slowLog.entries())).not.toContain('secret-key');
  });

  it('keeps the newest AMBASSADOR_SLOWLOG_LEN entries, newest first, and leaves blocking commands out', async () => {
    const slowLog = new SlowLog({ thresholdMs: 0, length: 3, args: false }, new Logger('error', () => {}));
    const h = new Harness(client, { slowLog });
    h.send('INCR a\r\nINCR b\r\nBLPOP l 0\r\nINCR c\r\nINCR d\r\n');
    h.recv(':1\r\n:1\r\n*2\r\n$1\r\nl\r\n$1\r\nx\r\n:1\r\n:1\r\n');
    await client.expectExactly(':1\r\n:1\r\n*2\r\n$1\r\nl\r\n$1\r\nx\r\n:1\r\n:1\r\n', 'replies');
    expect(slowLog.entries().map((e) => e.id)).toEqual([4, 3, 2]);
    expect(slowLog.entries().map((e) => e.cmd)).toEqual(['incr', 'incr', 'incr']);
    slowLog.reset();
    expect(slowLog.entries()).toEqual([]);
  });
});
