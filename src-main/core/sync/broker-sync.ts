import type pg from 'pg';

/*
 * The team broker's database functions (sql/postgres/install.sql, "The
 * broker's functions"), one typed call each, on a connection the caller
 * holds: the throttle needs its two calls in one transaction, the sweep lease
 * belongs to one database session. Errors propagate as pg errors; callers run
 * these through SyncClient.transaction / withClient, which turn them into
 * SyncErrors.
 */

async function one<T>(client: pg.ClientBase, sql: string, params: unknown[]): Promise<T> {
  const { rows } = await client.query<{ r: T }>(sql, params);
  if (!rows[0]) throw new Error(`${sql.split('(')[0]} returned no row`);
  return rows[0].r;
}

export interface ThrottleState {
  /** An earlier wrong password still holds this login: answer without asking the directory. */
  held: boolean;
  /** ISO time the hold ends, or null. */
  held_until: string | null;
  failures: number;
}

/** Locks the login's throttle row until the transaction ends (other replicas checking it wait) and says whether it is held. */
export function throttleEnter(client: pg.ClientBase, login: string): Promise<ThrottleState> {
  return one(client, 'SELECT rolecall.throttle_enter($1) AS r', [login]);
}

/** Records the directory's answer in the same transaction: a failure holds the login for holdSeconds, a success clears it. */
export function throttleLeave(client: pg.ClientBase, login: string, failed: boolean, holdSeconds: number): Promise<Omit<ThrottleState, 'held'>> {
  return one(client, 'SELECT rolecall.throttle_leave($1, $2, $3) AS r', [login, failed, holdSeconds]);
}

export interface SweepCandidate {
  login: string;
  valid_until: Date | null;
  roles: string[];
}

/** The managed logins that can log in now, with the roles Rolecall gave them. */
export async function sweepCandidates(client: pg.ClientBase): Promise<SweepCandidate[]> {
  const { rows } = await client.query<SweepCandidate>('SELECT login, valid_until, roles FROM rolecall.sweep_candidates()');
  return rows;
}

export interface ReconcileResult {
  existed: boolean;
  /** Set when Rolecall refused to touch the login (protected, unmanaged, privileged). */
  refused?: string;
  revoked: string[];
  /** No role was left: the login is NOLOGIN now and its sessions were ended. */
  disabled: boolean;
  terminated?: number | null;
  roles?: string[];
}

/** Takes back what the login's directory groups no longer map to (revokes it at none); never grants. Audited with `reason`. */
export function reconcileLogin(client: pg.ClientBase, login: string, groups: string[], reason: string): Promise<ReconcileResult> {
  return one(client, 'SELECT rolecall.reconcile_login($1, $2::text[], $3) AS r', [login, groups, reason]);
}

export interface LeaseState {
  /** This session holds the lease now. */
  held: boolean;
  holder: string;
  expires_at: string;
}

/** Takes or renews the sweep lease for `holder` on this session; another live, unexpired holder keeps it. */
export function sweepLease(client: pg.ClientBase, holder: string, ttlSeconds: number): Promise<LeaseState> {
  return one(client, 'SELECT rolecall.sweep_lease($1, $2) AS r', [holder, ttlSeconds]);
}

/** Gives the lease up, so another replica takes it at its next run. */
export function sweepRelease(client: pg.ClientBase, holder: string): Promise<boolean> {
  return one(client, 'SELECT rolecall.sweep_release($1) AS r', [holder]);
}
