/**
 * What /slowlog and /hotkeys answer. In one process: its slow log and each listener's hot keys.
 * With AMBASSADOR_WORKERS the primary asks every worker over the node:cluster channel and adds
 * their answers up: slow log entries merged newest first; hot keys summed per key, where a key
 * one worker did not list counts that worker's bound for unlisted keys in both its count and its
 * error, so [count − error, count] still holds the true count.
 */
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { BUCKETS, CAPACITY, TOP_KEYS, WINDOW_MS, type HotKey, type HotKeys, type HotKeysView } from '../observe/hotKeys.js';
import type { SlowEntry, SlowLog } from '../observe/slowLog.js';

export interface SlowLogAnswer {
  readonly threshold_ms: number;
  readonly length: number;
  readonly args: boolean;
  /** Newest first. */
  readonly entries: (SlowEntry & { worker?: number })[];
}

export interface HotKeysAnswer {
  readonly top: number;
  readonly window_ms: number;
  readonly buckets: number;
  readonly capacity: number;
  readonly listeners: Record<string, HotKeysView>;
}

/** What the admin endpoint reads; null where the feature is off. */
export interface ObserveSource {
  slowlog(reset: boolean): Promise<SlowLogAnswer | null>;
  hotkeys(): Promise<HotKeysAnswer | null>;
}

export class ObserveViews implements ObserveSource {
  constructor(
    private readonly slowLog: SlowLog | null,
    private readonly hotKeys: ReadonlyMap<string, HotKeys> | null,
  ) {}

  async slowlog(reset: boolean): Promise<SlowLogAnswer | null> {
    const log = this.slowLog;
    if (log === null) return null;
    const entries = log.entries();
    if (reset) log.reset();
    return { threshold_ms: log.settings.thresholdMs!, length: log.settings.length, args: log.settings.args, entries };
  }

  async hotkeys(): Promise<HotKeysAnswer | null> {
    if (this.hotKeys === null) return null;
    const now = performance.now();
    const listeners: Record<string, HotKeysView> = {};
    for (const [name, h] of this.hotKeys) listeners[name] = h.view(now);
    return { top: TOP_KEYS, window_ms: WINDOW_MS, buckets: BUCKETS, capacity: CAPACITY, listeners };
  }
}

const REQUEST = 'redis-ambassador:observe';
const ANSWER = 'redis-ambassador:observe-answer';
interface Request {
  readonly type: typeof REQUEST;
  readonly id: number;
  readonly what: 'slowlog' | 'slowlog-reset' | 'hotkeys';
}

/** In a worker: answer the primary's questions from this process's views. */
export function answerPrimary(views: ObserveSource): void {
  process.on('message', (m: Request) => {
    if (m?.type !== REQUEST) return;
    const answer = m.what === 'hotkeys' ? views.hotkeys() : views.slowlog(m.what === 'slowlog-reset');
    void answer.then((value) => process.send?.({ type: ANSWER, id: m.id, value }));
  });
}

/** In the primary: every worker's views, added up. */
export class WorkerViews implements ObserveSource {
  private nextId = 0;

  async slowlog(reset: boolean): Promise<SlowLogAnswer | null> {
    const answers = await this.ask<SlowLogAnswer>(reset ? 'slowlog-reset' : 'slowlog');
    const first = answers.find((a) => a.value !== null)?.value;
    if (!first) return null;
    const entries = answers.flatMap((a) => (a.value?.entries ?? []).map((e) => ({ ...e, worker: a.worker })));
    entries.sort((x, y) => (x.time < y.time ? 1 : x.time > y.time ? -1 : 0));
    return { ...first, entries: entries.slice(0, first.length) };
  }

  async hotkeys(): Promise<HotKeysAnswer | null> {
    const answers = (await this.ask<HotKeysAnswer>('hotkeys')).map((a) => a.value).filter((v): v is HotKeysAnswer => v !== null);
    if (answers.length === 0) return null;
    const listeners: Record<string, HotKeysView> = {};
    for (const name of new Set(answers.flatMap((a) => Object.keys(a.listeners)))) {
      listeners[name] = mergeViews(answers.map((a) => a.listeners[name]).filter((v): v is HotKeysView => v !== undefined), answers[0]!.top);
    }
    return { ...answers[0]!, listeners };
  }

  private ask<T>(what: Request['what']): Promise<{ worker: number; value: T | null }[]> {
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && w.isConnected());
    const id = ++this.nextId;
    return Promise.all(
      workers.map(
        (w) =>
          new Promise<{ worker: number; value: T | null }>((resolve) => {
            const worker = Number((w as typeof w & { workerId?: number }).workerId ?? w!.id);
            const timer = setTimeout(() => done(null), 2000);
            const onMessage = (m: { type?: string; id?: number; value?: T | null }): void => {
              if (m?.type === ANSWER && m.id === id) done(m.value ?? null);
            };
            const done = (value: T | null): void => {
              clearTimeout(timer);
              w!.off('message', onMessage);
              resolve({ worker, value });
            };
            w!.on('message', onMessage);
            w!.send({ type: REQUEST, id, what } satisfies Request);
          }),
      ),
    );
  }
}

/** One listener's hot keys from several workers, as one view (see the file's comment). */
export function mergeViews(views: readonly HotKeysView[], top: number): HotKeysView {
  const byKey = new Map<string, { key: HotKey; count: number; error: number; seen: Set<number>; commands: Map<string, number> }>();
  views.forEach((v, w) => {
    for (const k of v.keys) {
      const id = `${k.key_bytes ?? ''}:${k.key}`;
      let m = byKey.get(id);
      if (m === undefined) byKey.set(id, (m = { key: k, count: 0, error: 0, seen: new Set(), commands: new Map() }));
      m.count += k.count;
      m.error += k.error;
      m.seen.add(w);
      for (const c of k.commands) m.commands.set(c.cmd, (m.commands.get(c.cmd) ?? 0) + c.count);
    }
  });
  const keys = [...byKey.values()].map((m) => {
    const absent = views.reduce((n, v, w) => n + (m.seen.has(w) ? 0 : v.unlisted_max), 0);
    const commands = [...m.commands].sort((x, y) => y[1] - x[1]).map(([cmd, count]) => ({ cmd, count }));
    return { ...m.key, count: m.count + absent, error: m.error + absent, commands };
  });
  keys.sort((x, y) => y.count - x.count);
  const unlisted = views.reduce((n, v) => n + v.unlisted_max, 0);
  return {
    window_ms: Math.max(0, ...views.map((v) => v.window_ms)),
    keys_counted: views.reduce((n, v) => n + v.keys_counted, 0),
    unlisted_max: Math.max(unlisted, keys[top]?.count ?? 0),
    keys: keys.slice(0, top),
  };
}
