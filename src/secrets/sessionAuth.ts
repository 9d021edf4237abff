/**
 * Who a session's upstream connections authenticate as. Decided when the client is accepted
 * (the listener's AMBASSADOR_UPSTREAM_USERNAME, or the ACL user its verified certificate maps to)
 * and asked again on every new upstream connection, so a rotated password is used at once. What
 * is never done silently is to make a client someone else: if, at a reconnect, its identity is
 * no longer mapped, or mapped to another user, the answer is a refusal and the client is closed.
 */
import type { SecretStore } from './secretStore.js';
import { authCommand } from './secretStore.js';

export type AuthDecision =
  /** Write `bytes` (null: nothing) first on the new connection; `settings` name where its credentials come from. */
  | { readonly kind: 'auth'; readonly bytes: Buffer | null; readonly settings: string }
  /** The client must be closed; `reason` says why (for the log and the client's error). */
  | { readonly kind: 'refused'; readonly reason: string };

export interface SessionAuth {
  /** Asked for every new upstream connection of the session. */
  decide(): AuthDecision;
  /** The verified certificate identity it stands for, or null (for logs). */
  readonly identity: string | null;
}

/** The listener-wide credentials (AMBASSADOR_UPSTREAM_USERNAME / _PASSWORD[_FILE]), as they are now. */
export function listenerAuth(store: SecretStore): SessionAuth {
  return {
    identity: null,
    decide: () => ({ kind: 'auth', bytes: store.upstreamPreamble(), settings: 'AMBASSADOR_UPSTREAM_USERNAME and AMBASSADOR_UPSTREAM_PASSWORD' }),
  };
}

/** A verified identity that AMBASSADOR_TLS_CLIENT_USERS_FILE mapped to `user` when the client was accepted. */
export function identityAuth(store: SecretStore, identity: string, user: string): SessionAuth {
  return {
    identity,
    decide: () => {
      const now = store.clientUser(identity);
      if (now === undefined) return { kind: 'refused', reason: `identity "${identity}" is no longer named in AMBASSADOR_TLS_CLIENT_USERS_FILE` };
      if (now.user !== user) return { kind: 'refused', reason: `identity "${identity}" now maps to another ACL user in AMBASSADOR_TLS_CLIENT_USERS_FILE` };
      return { kind: 'auth', bytes: authCommand(user, now.password), settings: `AMBASSADOR_TLS_CLIENT_USERS_FILE (identity "${identity}")` };
    },
  };
}
