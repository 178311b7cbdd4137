import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { freePort } from '../harness/ports.js';
import { createLogger } from '../../src-main/core/log.js';
import { buildScramVerifier } from '../../src-main/core/sync/scram-verifier.js';
import type { PeerCertificate } from 'node:tls';
import { pgSslConfig } from '../../src-main/core/sync/pg-ssl.js';
import { SyncClient, SyncError, type SyncFailure, type SyncTarget } from '../../src-main/core/sync/sync-client.js';

const installSql = readFileSync(path.resolve(import.meta.dirname, '../../sql/postgres/install.sql'), 'utf8');
const SYNC_PASSWORD = 'sync-account-password-for-tests';

async function failureOf(p: Promise<unknown>): Promise<{ failure: SyncFailure; sqlstate: string | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SyncError);
    const err = e as SyncError;
    return { failure: err.failure, sqlstate: err.sqlstate, message: err.message };
  }
  throw new Error('expected a SyncError');
}

describe.each([15, 18] as const)('SyncClient against PostgreSQL %i', (version) => {
  let server: PgServer;
  const clients: SyncClient[] = [];
  const target = (over: Partial<SyncTarget> = {}): SyncTarget => ({
    host: server.host,
    port: server.port,
    database: 'postgres',
    sslmode: 'verify-full',
    caFile: server.pki.caFile,
    user: 'rolecall_sync',
    password: SYNC_PASSWORD,
    poolSize: 2,
    connectTimeoutMs: 3000,
    ...over,
  });
  const client = (over: Partial<SyncTarget> = {}, logger?: Parameters<typeof createLogger>[0]) => {
    const c = new SyncClient(target(over), logger ? createLogger(logger) : undefined);
    clients.push(c);
    return c;
  };
  const canLogIn = async (user: string, password: string) => {
    try {
      await (await server.connect({ user, password })).end();
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    server = await startPostgres({ version });
    await server.query(installSql);
    await server.query(`ALTER ROLE rolecall_sync LOGIN PASSWORD '${buildScramVerifier(SYNC_PASSWORD)}'`);
    await server.query(`CREATE ROLE devs NOLOGIN; SELECT rolecall.allow_group('Developers', 'devs')`);
    await server.query('CREATE DATABASE empty_db');
    await server.query(`CREATE ROLE stranger LOGIN PASSWORD '${buildScramVerifier(SYNC_PASSWORD)}'`);
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await server?.stop();
  });

  it('syncs a login, reports the installed version and revokes; never logs the verifier', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const sync = client({}, { level: 'debug', destination: sink });
    expect(await sync.installedVersion()).toBe('2');

    const password = 'alice-directory-password';
    const verifier = buildScramVerifier(password);
    const result = await sync.syncLogin({ login: 'alice', verifier, groups: ['developers'], validForSeconds: 600, clientInfo: { app: 'psql' } });
    expect(result).toEqual({ created: true, granted: ['devs'], revoked: [], roles: ['devs'], unchanged: false, validUntil: expect.any(String) });
    expect(await canLogIn('alice', password)).toBe(true);
    // The same verifier and roles again: the database writes nothing and says so.
    const again = await sync.syncLogin({ login: 'alice', verifier, groups: ['Developers'], validForSeconds: 600, clientInfo: {} });
    expect(again).toEqual({ created: false, granted: [], revoked: [], roles: ['devs'], unchanged: true, validUntil: result.validUntil });
    // An exact VALID UNTIL (the broker's window end + grace) lands as given, to the second.
    const until = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_600_000);
    const exact = await sync.syncLogin({ login: 'alice', verifier: buildScramVerifier(password), groups: ['developers'], validUntil: until, clientInfo: {} });
    expect(exact).toMatchObject({ unchanged: false, validUntil: until.toISOString().replace('.000Z', 'Z') });
    const { rows } = await server.query<{ v: Date }>(`SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = 'alice'`);
    expect(rows[0]?.v.getTime()).toBe(until.getTime());

    await sync.revokeLogin('alice', 'left the group');
    expect(await canLogIn('alice', password)).toBe(false);

    const log = lines.join('');
    expect(log).toContain('login synced');
    expect(log).not.toContain(verifier);
    expect(log).not.toContain(verifier.split('$')[2]!);
    expect(log).not.toContain(password);
  });

  it('maps "no group maps to a role" to no-roles (28000) and a protected name to refused (42501)', async () => {
    const sync = client();
    const verifier = buildScramVerifier('whatever');
    const noRoles = await failureOf(sync.syncLogin({ login: 'bob', verifier, groups: ['Sales'], validForSeconds: 600, clientInfo: {} }));
    expect(noRoles).toMatchObject({ failure: 'no-roles', sqlstate: '28000' });
    expect(noRoles.message).toMatch(/maps to a database role/);
    const refused = await failureOf(sync.syncLogin({ login: 'postgres', verifier, groups: ['developers'], validForSeconds: 600, clientInfo: {} }));
    expect(refused).toMatchObject({ failure: 'refused', sqlstate: '42501' });
    expect(refused.message).toMatch(/refuses to manage role "postgres"/);
    expect((await failureOf(sync.revokeLogin('stranger', 'x'))).failure).toBe('refused');
  });

  it('reads the iteration floor an admin set (cached for a while); 4096 where the SQL predates it', async () => {
    const sync = client();
    expect(await sync.minScramIterations()).toBe(4096);
    await server.query(`SELECT rolecall.configure('min_scram_iterations', '20000')`);
    try {
      expect(await sync.minScramIterations()).toBe(4096); // still the cached answer
      expect(await sync.minScramIterations(Date.now() + 11 * 60_000)).toBe(20000);
      expect(await client().minScramIterations()).toBe(20000);
      expect(await client({ database: 'empty_db' }).minScramIterations()).toBe(4096);
    } finally {
      await server.query(`SELECT rolecall.configure('min_scram_iterations', '4096')`);
    }
  });

  it('maps a database without the rolecall schema to not-installed, naming install.sql', async () => {
    const sync = client({ database: 'empty_db' });
    expect(await sync.installedVersion()).toBeNull();
    const f = await failureOf(
      sync.syncLogin({ login: 'carol', verifier: buildScramVerifier('x'), groups: ['developers'], validForSeconds: 600, clientInfo: {} }),
    );
    expect(f.failure).toBe('not-installed');
    expect(f.message).toContain('sql/postgres/install.sql');
  });

  it('maps a login without EXECUTE on the functions to permission', async () => {
    const f = await failureOf(client({ user: 'stranger' }).installedVersion());
    expect(f).toMatchObject({ failure: 'permission', sqlstate: '42501' });
  });

  it('maps a wrong sync password to auth (28P01)', async () => {
    const f = await failureOf(client({ password: 'wrong' }).installedVersion());
    expect(f).toMatchObject({ failure: 'auth', sqlstate: '28P01' });
  });

  it('maps a closed port to unreachable', async () => {
    const f = await failureOf(client({ port: await freePort() }).installedVersion());
    expect(f.failure).toBe('unreachable');
  });

  it('checks the server certificate for verify-full and verify-ca, and encrypts without checking for require', async () => {
    const wrongCa = await failureOf(client({ caFile: server.pki.otherCaFile }).installedVersion());
    expect(wrongCa.failure).toBe('unreachable');
    expect(wrongCa.message).toMatch(/TLS|certificate/i);
    const noCa = await failureOf(client({ caFile: undefined }).installedVersion()); // the test CA is not in Node's roots
    expect(noCa.failure).toBe('unreachable');
    expect(await client({ sslmode: 'verify-ca' }).installedVersion()).toBe('2');
    expect(await client({ sslmode: 'require', caFile: server.pki.otherCaFile }).installedVersion()).toBe('2');
    expect(await client({ sslmode: 'prefer', caFile: undefined }).installedVersion()).toBe('2');
  });
});

describe('pgSslConfig', () => {
  // What the test server presents (test/harness/tls.ts): SAN IP:127.0.0.1, DNS:localhost.
  const cert = { subject: { CN: 'localhost' }, subjectaltname: 'IP Address:127.0.0.1, DNS:localhost' } as unknown as PeerCertificate;

  /** What the identity check of an sslmode says for a configured host: undefined = accepted. */
  const identity = (mode: 'verify-ca' | 'verify-full', host: string): unknown => {
    const options = pgSslConfig(mode, undefined, host);
    if (options === false || !options.checkServerIdentity) throw new Error('no identity check');
    return options.checkServerIdentity('localhost', cert); // SNI name; the configured host is what counts
  };

  it('checks the host name only for verify-full', () => {
    expect(identity('verify-full', 'db.example.com')).toBeInstanceOf(Error);
    expect(identity('verify-full', '127.0.0.1')).toBeUndefined();
    expect(identity('verify-full', 'localhost')).toBeUndefined();
    expect(identity('verify-ca', 'db.example.com')).toBeUndefined();
    expect(pgSslConfig('disable', undefined, 'h')).toBe(false);
    expect(pgSslConfig('prefer', undefined, 'h')).toEqual({ rejectUnauthorized: false });
    expect(pgSslConfig('require', undefined, 'h')).toEqual({ rejectUnauthorized: false });
    expect(() => pgSslConfig('verify-full', '/nonexistent/ca.pem', 'h')).toThrow(/cannot read the database CA file/);
  });
});
