import type { DatabaseTarget, SslMode, SslNegotiation } from '../profiles/schema.js';

/**
 * Where a profile's database is and how to reach it: host, port, the sslmode
 * and CA that check its certificate, and how long connecting may take. Built
 * once from the profile (databaseEndpoint) for everything that connects to the
 * database: the proxy's upstream, cancel forwarding, the sync pool and the checks.
 */
export interface DatabaseEndpoint {
  host: string;
  port: number;
  sslmode: SslMode;
  /** How the proxy's upstream starts TLS; node-postgres (sync pool, checks) always sends SSLRequest. */
  sslnegotiation?: SslNegotiation;
  caFile?: string;
  /** TCP + TLS + login; 0 = no limit. */
  connectTimeoutMs: number;
}

export function databaseEndpoint(db: DatabaseTarget): DatabaseEndpoint {
  return {
    host: db.host,
    port: db.port,
    sslmode: db.sslmode,
    sslnegotiation: db.sslnegotiation,
    ...(db.caFile ? { caFile: db.caFile } : {}),
    connectTimeoutMs: db.connectTimeoutMs,
  };
}

/** host:port, as messages name the server. */
export function addressOf(endpoint: Pick<DatabaseEndpoint, 'host' | 'port'>): string {
  return `${endpoint.host}:${endpoint.port}`;
}
