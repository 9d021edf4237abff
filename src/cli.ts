#!/usr/bin/env node
/**
 * Process entry. As PID 1 in a container nothing else handles signals, so SIGTERM and SIGINT are
 * caught here: stop accepting, let replies in flight finish (bounded), exit 0.
 */
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { loadConfig } from './config/loadConfig.js';
import { CONFIG_EXIT_CODE, ConfigError } from './config/configError.js';
import { helpText } from './config/helpText.js';
import { Logger } from './log/logger.js';
import { Ambassador } from './ambassador.js';
import { TRAITS } from './resp/commandTraits.js';
import type { Runtime } from './runtime.js';
import { WorkerPool } from './workers/workerPool.js';

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env, { isCommand: (name) => TRAITS.isLabel(name) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`redis-ambassador: ${err.message}\n`);
    process.exit(CONFIG_EXIT_CODE);
  }
  if (loaded.kind === 'help') {
    process.stdout.write(helpText(version));
    return;
  }
  if (loaded.kind === 'version') {
    process.stdout.write(`redis-ambassador ${version}\n`);
    return;
  }
  let config = loaded.config;
  let log = new Logger(config.logLevel);
  const pooled = config.workers > 1;
  if (pooled && cluster.isWorker) {
    // The primary serves the admin endpoint; workers report their metrics to it.
    config = { ...config, admin: null, notes: [] };
    log = log.child({ worker: Number(process.env.AMBASSADOR_WORKER_ID ?? 0) });
  }
  const ambassador: Runtime = pooled && cluster.isPrimary ? new WorkerPool(config, log) : new Ambassador(config, log, pooled);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('signal received', { signal });
    ambassador.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: Error) => {
        log.error('stop failed', { error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Without a handler SIGHUP would end the process; here it re-reads certificates and password files.
  process.on('SIGHUP', () => {
    log.info('signal received', { signal: 'SIGHUP' });
    ambassador.reload('SIGHUP');
  });
  try {
    await ambassador.start();
  } catch (err) {
    log.error('start failed', { error: (err as Error).message });
    // What only showed once the upstream answered (a seed that is no cluster node) is still a
    // configuration mistake.
    if (err instanceof ConfigError) {
      process.stderr.write(`redis-ambassador: ${err.message}\n`);
      process.exit(CONFIG_EXIT_CODE);
    }
    process.exit(1);
  }
  log.info('started', { version, listeners: config.listeners.length, metrics: config.metrics });
}

main().catch((err: Error) => {
  process.stderr.write(`redis-ambassador: unexpected error: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
