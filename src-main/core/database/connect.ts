import pg from 'pg';
import type { DatabaseTarget } from '../profiles/schema.js';
import { isUnreachable } from '../net-errors.js';
import { pgSslConfig } from '../sync/pg-ssl.js';

/** A database setting that cannot be used as it is (today: a CA file that cannot be read), naming its field. */
export class DatabaseConfigError extends Error {
  constructor(
    readonly field: 'database.caFile',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DatabaseConfigError';
  }
}

/**
 * One node-postgres connection to the profile's database with its sslmode
 * (the same TLS rules as the sync pool). The password is handed to pg only;
 * nothing here logs it.
 */
export async function connectPg(db: DatabaseTarget, user: string, password: string, applicationName: string): Promise<pg.Client> {
  let ssl: ReturnType<typeof pgSslConfig>;
  try {
    ssl = pgSslConfig(db.sslmode, db.caFile, db.host);
  } catch (e) {
    throw new DatabaseConfigError('database.caFile', (e as Error).message, { cause: e });
  }
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    database: db.database,
    user,
    password,
    ssl,
    connectionTimeoutMillis: db.connectTimeoutMs,
    application_name: applicationName,
  });
  // A connection lost later must not crash the process; the query in flight reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}

/** SQLSTATEs that mean "Rolecall's SQL is not installed in this database". */
export function isNotInstalled(e: unknown): boolean {
  return e instanceof pg.DatabaseError && (e.code === '3F000' || e.code === '42883');
}

/** Words for a failed connection, naming the account that tried; TLS and network problems say what to check. */
export function describeConnectFailure(e: unknown, who: string, where: string): string {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : String(e);
  if (e instanceof pg.DatabaseError) {
    if (code === '28P01') return `${where} refused ${who}: wrong password, or no such role (28P01)`;
    if (code === '28000') return `${where} does not let ${who} log in: ${message} (28000)`;
    if (code === '3D000') return `${message} (3D000): check database.database`;
    return `${where} answered: ${message} (${code})`;
  }
  // node-postgres reports its own connect timeout with words only ("timeout expired", "connection timeout").
  if (isUnreachable(code) || /timeout/i.test(message)) {
    return `cannot reach ${where} (${code || message}): check database.host, database.port and the network`;
  }
  if (/certificate|SSL|TLS|self.signed|CERT/i.test(`${code} ${message}`)) {
    return `TLS to ${where} failed (${message}): check database.sslmode and database.caFile`;
  }
  return `connecting to ${where} as ${who} failed: ${message}`;
}
