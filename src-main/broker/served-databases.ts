import type { CatalogEntry } from '../core/broker-api/schema.js';
import type { AdmissionRules } from '../core/auth/admission.js';
import { permittedGroups } from '../core/directory/permitted.js';
import type { Logger } from '../core/log.js';
import { SyncClient } from '../core/sync/sync-client.js';
import type { BrokerConfig, BrokerDatabase, BrokerFiles } from './config.js';

/**
 * One place Rolecall's SQL is installed (host, port, sync database), reached
 * as the broker's sync login over one pool. Several catalog databases of one
 * server share it; the sweep runs once per target.
 */
export class SyncTargetPool {
  readonly databases: ServedDatabase[] = [];

  constructor(
    /** host:port/database, as messages name it. */
    readonly where: string,
    readonly sync: SyncClient,
    private readonly now: () => number,
  ) {}

  /** The first catalog database id served through this target: its name in metrics (a broker.json id, never an address). */
  get metricsId(): string {
    return this.databases[0]?.config.id ?? 'unknown';
  }

  /** The database's minimum SCRAM iterations (rolecall.sync_parameters), cached for a while by the sync client. */
  minIterations(): Promise<number> {
    return this.sync.minScramIterations(this.now());
  }

  /** The union of the group filters of the databases served through this target: what the sweep keeps. */
  permittedGroups(groups: string[]): string[] {
    return [...new Set(this.databases.flatMap((d) => d.rules.permittedGroups(groups)))].sort();
  }
}

/** A catalog database: its public entry, its admission rules and the pool that syncs its logins. */
export interface ServedDatabase {
  config: BrokerDatabase;
  entry: CatalogEntry;
  rules: AdmissionRules;
  pool: SyncTargetPool;
}

export interface Served {
  databases: Map<string, ServedDatabase>;
  pools: SyncTargetPool[];
}

export function serveDatabases(
  config: BrokerConfig,
  files: BrokerFiles,
  syncPasswords: Map<string, string>,
  logger: Logger,
  now: () => number,
): Served {
  const pools = new Map<string, SyncTargetPool>();
  const databases = new Map<string, ServedDatabase>();
  for (const db of config.databases) {
    const password = syncPasswords.get(db.id) ?? '';
    // Kept in memory only: databases of one target with one password share a pool.
    const key = [db.host, db.port, db.syncDatabase, password].join('\0');
    let pool = pools.get(key);
    if (pool === undefined) {
      const where = `${db.host}:${db.port}/${db.syncDatabase}`;
      const sync = new SyncClient(
        {
          host: db.host,
          port: db.port,
          database: db.syncDatabase,
          sslmode: db.sslmode,
          ...(db.caFile === undefined ? {} : { caFile: db.caFile }),
          user: config.sync.user,
          password,
          poolSize: config.sync.poolSize,
          connectTimeoutMs: db.connectTimeoutMs,
        },
        logger.child({ component: 'sync', database: where }),
      );
      pool = new SyncTargetPool(where, sync, now);
      pools.set(key, pool);
    }
    const filter = {
      groupPrefix: db.groupPrefix ?? config.directory.groupPrefix,
      groupPattern: db.groupPattern ?? config.directory.groupPattern,
    };
    const caPem = files.databaseCa.get(db.id);
    const served: ServedDatabase = {
      config: db,
      entry: {
        id: db.id,
        name: db.name,
        host: db.host,
        port: db.port,
        database: db.database,
        sslmode: db.sslmode,
        // Only when set: a laptop from before the field would refuse the whole catalog for it.
        ...(db.sslnegotiation === 'direct' ? { sslnegotiation: db.sslnegotiation } : {}),
        ...(caPem === undefined ? {} : { caPem }),
        sessionDefaults: db.sessionDefaults,
        suggestedLocalPort: db.suggestedLocalPort,
      },
      rules: { loginCase: config.loginCase, permittedGroups: (groups) => permittedGroups(groups, filter) },
      pool,
    };
    pool.databases.push(served);
    databases.set(db.id, served);
  }
  return { databases, pools: [...pools.values()] };
}
