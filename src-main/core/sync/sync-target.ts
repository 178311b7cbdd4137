import { databaseEndpoint } from '../database/endpoint.js';
import type { DatabaseConfig } from '../profiles/schema.js';
import type { SyncTarget } from './sync-client.js';

/** How the sync pool reaches the profile's database as the sync account. */
export function syncTarget(db: DatabaseConfig, password: string): SyncTarget {
  return { ...databaseEndpoint(db), database: db.database, user: db.syncUser, password, poolSize: db.syncPoolSize };
}
