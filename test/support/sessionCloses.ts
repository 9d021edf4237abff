/**
 * What the ambassador's log says when it closes a client on purpose after its upstream
 * connection ended: because Redis itself closed it (CLIENT KILL, `timeout`,
 * `client-output-buffer-limit`, ACL changes), or because replaying the client's state on a new
 * connection failed (AUTH, HELLO, SELECT, … answered with an error).
 *
 * The event names are not fixed yet: they are matched here, and only here, so settling them is a
 * one-line change. Both patterns are checked against every event the ambassador logs today, so
 * that none of them matches by accident (see the list in the comment below).
 */
import type { AmbassadorProcess } from './ambassadorProcess.js';

/** A client closed because Redis closed its connection on purpose. */
export const SERVER_CLOSE_EVENT = /closed by (the )?(server|redis)|server closed|deliberate/i;

/** A client closed because the replay of its connection state failed. */
export const REPLAY_FAILED_EVENT = /replay.*(fail|error|refus|rejected)|(fail|error).*replay/i;

// Events logged before these rules existed, none of which may match the patterns above:
// 'upstream connection lost', 'upstream reconnected', 'upstream down', 'upstream up',
// 'upstream still unavailable', 'upstream unreachable', 'upstream protocol error',
// 'command too large to remember for replay', 'idle client closed', 'client protocol error', …

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
    .map((l) => `${String(l.event)}${l.error !== undefined ? ` (${String(l.error)})` : ''}`);
}
