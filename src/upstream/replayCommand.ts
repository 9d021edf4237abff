/** A command the ambassador writes itself on a fresh upstream connection, before the client's. */
export interface ReplayCommand {
  readonly bytes: Buffer;
  /** Command id (commandTraits), for matching its reply. */
  readonly cmd: number;
  /** Replies it will get (one per channel for the subscribe family). */
  readonly replies: number;
  /** Its error is the point (the MULTI poison): an error reply does not mean the replay failed. */
  readonly expectError?: boolean;
  /** The ambassador's own command (its upstream AUTH), not one replayed for the client. */
  readonly fromAmbassador?: boolean;
  /** For the ambassador's AUTH: the settings its credentials come from, named when it is refused. */
  readonly settings?: string;
}
