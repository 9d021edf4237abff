/**
 * Where a listener's sessions connect. Three ways to decide, one interface:
 * - StaticSelector: the one address of the contract (socat's case), health-checked with PING;
 * - CandidateSelector: an ordered candidate list, the one whose ROLE is master;
 * - SentinelSelector: the address Sentinel gives for a master name, following +switch-master.
 * None of them ever promotes a server: they only follow what the servers or Sentinel say.
 */
import type { UpstreamAddress } from '../config/address.js';
import type { HealthCheck } from './healthCheck.js';

export interface UpstreamStatus {
  readonly upstream: string;
  readonly up: boolean;
  readonly role?: string;
  readonly error?: string;
}

/** Called when the master changes (`next` null: no master known any more). */
export type MasterChange = (previous: UpstreamAddress | null, next: UpstreamAddress | null, reason: string) => void;

export interface UpstreamSelector {
  /** Where sessions connect now; null while no master is known. */
  current(): UpstreamAddress | null;
  start(): void;
  stop(): void;
  /** A session saw a sign that the master moved or failed (-READONLY, -LOADING, -MASTERDOWN, a lost connection). */
  suspect(reason: string): void;
  /** True when the current upstream answers its health check (and, where it matters, is master). */
  ready(): boolean;
  status(): UpstreamStatus[];
  /** The health check probing `url`, if this selector probes it. */
  healthOf(url: string): HealthCheck | null;
}

/** What /readyz says of one probed upstream. */
export function statusOf(check: HealthCheck): UpstreamStatus {
  return check.up
    ? { upstream: check.upstream.url, up: true, ...(check.role !== 'unknown' ? { role: check.role } : {}) }
    : { upstream: check.upstream.url, up: false, error: check.lastError };
}
