import type Database from 'better-sqlite3';

/**
 * Schema steps, applied in order; PRAGMA user_version records how many ran.
 * Append new steps, never edit old ones.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE connection (
     id                INTEGER PRIMARY KEY,
     started_at        INTEGER NOT NULL,
     ended_at          INTEGER,
     profile_id        TEXT    NOT NULL,
     login             TEXT    NOT NULL COLLATE NOCASE,
     canonical_login   TEXT             COLLATE NOCASE,
     database          TEXT,
     application_name  TEXT,
     client_address    TEXT,
     outcome           TEXT    NOT NULL CHECK (outcome IN ('success', 'denied', 'error', 'aborted')),
     sqlstate          TEXT,
     message           TEXT,
     groups_json       TEXT    NOT NULL DEFAULT '[]',
     cache_hit         INTEGER NOT NULL DEFAULT 0,
     auth_latency_ms   INTEGER,
     bytes_from_client INTEGER NOT NULL DEFAULT 0,
     bytes_to_client   INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX connection_started_at ON connection (started_at);
   CREATE INDEX connection_profile_started_at ON connection (profile_id, started_at);
   CREATE INDEX connection_login_started_at ON connection (login, started_at);
   CREATE INDEX connection_canonical_login_started_at ON connection (canonical_login, started_at);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `the history database has schema version ${current}, written by a newer Rolecall (this one knows ${SCHEMA_VERSION})`,
    );
  }
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
