/**
 * What the ambassador's log says when it closes a client on purpose after its upstream
 * connection ended: because Redis itself closed it (CLIENT KILL, `timeout`,
 * `client-output-buffer-limit`, ACL changes), or because replaying the client's state on a new
 * connection failed (AUTH, HELLO, SELECT, … answered with an error).
 *
 * The names are matched here, and only here, so renaming them is a one-line change. Both
 * patterns were checked against every other event the ambassador logs, so that none matches by
 * accident (see the list in the comment below).
 */
import { eventLine, type AmbassadorProcess } from './ambassadorProcess.js';

/** A client closed because Redis closed its connection on purpose ('upstream closed the connection on purpose; closing the client'). */
export const SERVER_CLOSE_EVENT = /closed the connection on purpose|closed by (the )?(server|redis)/i;

/** A client closed because the replay of its connection state failed ('connection state could not be restored after a reconnect; closing the client'). */
export const REPLAY_FAILED_EVENT = /state could not be restored|replay.*(fail|refus)/i;

/** The counters of the same two kinds (and of failures, which reconnect). */
export const DISCONNECTS_METRIC = 'redis_ambassador_upstream_disconnects_total';
export const CLOSED_BY_SERVER = { cause: 'closed_by_server' } as const;
export const LOST = { cause: 'lost' } as const;
export const REPLAY_FAILURES_METRIC = 'redis_ambassador_replay_failures_total';

// Other events, none of which may match the patterns above: 'upstream connection lost',
// 'upstream reconnected', 'upstream down', 'upstream up', 'upstream still unavailable',
// 'upstream unreachable', 'upstream protocol error', 'command too large to remember for replay',
// 'idle client closed', 'client protocol error', 'replication stream',
// 'command refused inside a replication stream; closing the client', …

/** A position in the ambassador's log, to look only at what came after it. */
export function logMark(amb: AmbassadorProcess): number {
  return amb.logs().length;
}

/** Log lines after `mark` whose event matches `pattern`. */
export function eventsSince(amb: AmbassadorProcess, mark: number, pattern: RegExp): Record<string, unknown>[] {
  return amb
    .logs()
    .slice(mark)
    .filter((l) => pattern.test(String(l.event)));
}

/** The events logged after `mark`, for failure messages. */
export function eventNamesSince(amb: AmbassadorProcess, mark: number): string[] {
  return amb
    .logs()
    .slice(mark)
    .filter((l) => l.level !== 'debug')
    .map(eventLine);
}
