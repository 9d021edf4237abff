import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_DEFS } from '../../src/resp/commandTable.js';
import { Cleanup } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';

// The metric label set is the command table; if the installed Redis knows commands the table
// does not, they would all be counted as "unknown". Regenerate with
// `node test/support/generateCommandTable.mjs <port> > src/resp/commandTable.ts`.
describe('command table', () => {
  const cleanup = new Cleanup();
  let redis: RedisServer;
  beforeAll(async () => {
    redis = cleanup.track(await startRedis());
  });
  afterAll(() => cleanup.run());

  it('knows every command and subcommand of the installed redis-server', () => {
    const live = JSON.parse(
      execFileSync('redis-cli', ['-p', String(redis.port), '--json', 'COMMAND', 'INFO'], { encoding: 'utf8' }),
    ) as [string, number, string[], number, number, number, string[], string[], unknown[], [string, ...unknown[]][]][];
    const ours = new Map(COMMAND_DEFS.map((d) => [d.name, new Set(d.subcommands.map((s) => s.name))]));
    const missing: string[] = [];
    for (const c of live) {
      const name = c[0].toLowerCase();
      const subs = ours.get(name);
      if (!subs) {
        missing.push(name);
        continue;
      }
      for (const s of c[9] ?? []) {
        const sub = s[0].toLowerCase().split('|')[1]!;
        if (!subs.has(sub)) missing.push(`${name}|${sub}`);
      }
    }
    expect(missing).toEqual([]);
    expect(live.length).toBeGreaterThan(200);
  });
});
