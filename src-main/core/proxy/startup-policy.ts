import { ClientError, SqlState } from '../client-errors.js';
import type { Profile } from '../profiles/schema.js';

/**
 * What a client may ask for in its StartupMessage, decided from the
 * parameters and the profile alone (a pure function; capacity is the
 * session's own check): a user name is required, replication is refused, and
 * the database must be the profile's or one it allows.
 */

export interface StartupRequest {
  /** The login as the client typed it (alice, CORP\alice, alice@corp...). */
  typedLogin: string;
  /** The database to open upstream. */
  database: string;
  applicationName: string | null;
}

export type StartupCheck =
  | { ok: true; request: StartupRequest }
  /** Refused; the history row still gets the login and application the client gave. */
  | { ok: false; error: ClientError; typedLogin: string | null; applicationName: string | null };

export function checkStartup(params: Record<string, string>, profile: Pick<Profile, 'database'>): StartupCheck {
  const applicationName = params.application_name ?? null;
  const typedLogin = params.user ?? '';
  if (!typedLogin) {
    return refuse(null, applicationName, {
      sqlstate: SqlState.invalidAuthorization,
      message: 'no PostgreSQL user name specified in startup packet',
      hint: 'Connect with your directory account name, e.g. psql -U alice.',
    });
  }
  const replication = params.replication?.toLowerCase();
  if (replication !== undefined && !['false', 'off', 'no', '0'].includes(replication)) {
    return refuse(typedLogin, applicationName, {
      sqlstate: SqlState.featureNotSupported,
      message: 'replication connections are not supported through Rolecall',
      hint: 'Connect to the database directly for replication.',
    });
  }
  const db = profile.database;
  const requested = params.database;
  // libpq sends database = user name when none is given: that means "the profile's database".
  if (!requested || requested === typedLogin || requested === db.database) {
    return { ok: true, request: { typedLogin, database: db.database, applicationName } };
  }
  if (db.allowedDatabases.includes(requested)) return { ok: true, request: { typedLogin, database: requested, applicationName } };
  return refuse(typedLogin, applicationName, {
    sqlstate: SqlState.invalidCatalogName,
    message: `database "${requested}" is not served by this Rolecall profile`,
    hint: `This profile serves "${db.database}"${db.allowedDatabases.length ? ` and ${db.allowedDatabases.map((d) => `"${d}"`).join(', ')}` : ''}: connect with dbname=${db.database}, or add it to database.allowedDatabases.`,
  });
}

function refuse(
  typedLogin: string | null,
  applicationName: string | null,
  fields: ConstructorParameters<typeof ClientError>[0],
): StartupCheck {
  return { ok: false, error: new ClientError(fields), typedLogin, applicationName };
}

/** One client too many (listen.maxClients counts clients past their startup packet). */
export function tooManyClients(maxClients: number): ClientError {
  return new ClientError({
    sqlstate: SqlState.tooManyConnections,
    message: `sorry, too many clients already (this Rolecall profile allows ${maxClients})`,
    hint: 'Close idle connections in your tools, or raise listen.maxClients in the profile.',
  });
}

/**
 * The StartupMessage parameters sent upstream: the profile's session defaults,
 * overridden by the client's own, with the database decided above. `user` is
 * the upstream login's; replication never passes.
 */
export function upstreamParameters(
  params: Record<string, string>,
  database: string,
  profile: Pick<Profile, 'database'>,
): Record<string, string> {
  const upstream: Record<string, string> = { ...profile.database.sessionDefaults };
  for (const [k, v] of Object.entries(params)) {
    if (k === 'user' || k === 'database' || k === 'replication') continue;
    upstream[k] = v;
  }
  upstream.database = database;
  return upstream;
}
