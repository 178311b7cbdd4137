/**
 * What the proxy needs to sign a client in, and nothing more. Direct mode's
 * implementation asks the directory and syncs the roles itself
 * (DirectoryAuthenticator); team mode's asks the broker (BrokerAuthenticator).
 * The proxy holds only this interface, so either plugs in.
 */
export interface Authenticator {
  /** Counts work, not time (the perf guard and `rolecall status` read them). */
  readonly counters: AuthCounters;
  /**
   * Checks the password and makes the database ready for the login, or throws
   * the ClientError the client should see (28P01, 28000, 57P03, ...).
   */
  authenticate(typedLogin: string, password: string, clientInfo: ClientInfo): Promise<AuthResult>;
  /** Forgets cached successes of a login (upstream said 28P01, or access was revoked). */
  forget(login: string): void;
  forgetAll(): void;
  /**
   * Revalidation: why a login with open sessions must lose access now, or null
   * when it keeps it. Throws when it cannot tell; an outage keeps sessions.
   */
  recheck(login: string): Promise<string | null>;
  /** Takes the login's access away where it was granted (the database), saying why. */
  revoke(login: string, reason: string): Promise<void>;
  /**
   * True when recheck itself may end the login's access (team mode: the
   * broker revokes before it answers), so its sessions must know what to tell
   * their clients before recheck is called.
   */
  readonly recheckRevokes?: boolean;
  close(): Promise<void>;
}

/** About the client, for the database's audit trail (application_name, client_addr, database). */
export type ClientInfo = Record<string, unknown>;

export interface AuthResult {
  /** The database login: the directory's canonical account name. */
  login: string;
  /** Directory groups that passed the profile's filter. */
  groups: string[];
  /** Allow-listed database roles the login holds after sync. */
  roles: string[];
  cacheHit: boolean;
  /**
   * Team mode: the short-lived database password the broker gave, which the
   * proxy logs in upstream with. Absent in direct mode, where the client's own
   * password is the database password. Held in memory only.
   */
  databasePassword?: string;
  /**
   * When the user's directory password expires, as the directory (or the
   * broker, only when it is soon) said at the sign-in this result comes from:
   * cache hits carry it too, so every connection can warn.
   */
  passwordExpiresAt?: Date;
}

export interface AuthCounters {
  directoryCalls: number;
  syncCalls: number;
  /** Team mode: requests to the broker (sign-ins and revalidations); always 0 in direct mode. */
  brokerCalls: number;
  cacheHits: number;
  negativeHits: number;
}
