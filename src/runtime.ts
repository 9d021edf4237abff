/** What cli.ts starts and stops: one Ambassador, or the primary of a WorkerPool. */
export interface Runtime {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Re-read the secret files (SIGHUP). */
  reload(trigger: string): void;
}
