import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, startRolecallDb, verifierOf, verifierParts, type RolecallDb, type SqlFailure } from '../../harness/rolecall-sql.js';

/*
 * Attack class 2: a failing CREATE ROLE / ALTER ROLE ... PASSWORD quoted the
 * whole statement, verifier included, in the error's CONTEXT: to the client and
 * into the server log. Each failure is forced for real, with the sync client's
 * own bind-parameter call.
 */
describe.each([15, 18] as const)('no verifier in any error or log line, PostgreSQL %i', (version) => {
  let db: RolecallDb;
  const secrets: string[] = [];
  const everything = (f: SqlFailure) => JSON.stringify(f);

  /** Holds the row lock on `login` in pg_authid (an uncommitted ALTER ROLE) until release() is called. */
  const holdRole = async (login: string) => {
    const blocker = await db.server.connect();
    await blocker.query('BEGIN');
    await blocker.query(`ALTER ROLE ${login} VALID UNTIL '2099-01-01'`);
    return async () => {
      await blocker.query('ROLLBACK');
      await blocker.end();
    };
  };
  const newVerifier = () => {
    const v = verifierOf(db.newPassword());
    secrets.push(...verifierParts(v));
    return v;
  };

  beforeAll(async () => {
    db = await startRolecallDb(version);
    await db.admin.query(`CREATE ROLE ve_read NOLOGIN; SELECT rolecall.allow_group('ve', 've_read')`);
  });
  afterAll(() => db?.close());

  it('a statement timeout while the password statement waits: the error names the login, not the statement', async () => {
    const password = db.newPassword();
    await db.syncLogin('ve_timeout', password, ['ve']);
    const release = await holdRole('ve_timeout');
    const s = await db.connectSync();
    try {
      await s.query(`SET statement_timeout = '300ms'`);
      const verifier = newVerifier();
      const f = await failureOf(db.syncRaw({ login: 've_timeout', verifier, groups: ['ve'] }, s));
      expect(f.code).toBe('57014');
      expect(f.message).toMatch(/could not set the password of login "ve_timeout"/);
      for (const part of verifierParts(verifier)) expect(everything(f)).not.toContain(part);
    } finally {
      await s.end();
      await release();
    }
    expect(await db.canLogIn('ve_timeout', password)).toBe(true);
  });

  it('a lock wait that outlasts lock_timeout (the functions pin 5 s, whatever the caller set): 55P03, no verifier', async () => {
    await db.syncLogin('ve_lock', db.newPassword(), ['ve']);
    const release = await holdRole('ve_lock');
    const s = await db.connectSync();
    try {
      await s.query(`SET lock_timeout = 0; SET statement_timeout = '20s'`);
      const verifier = newVerifier();
      const f = await failureOf(db.syncRaw({ login: 've_lock', verifier, groups: ['ve'] }, s));
      expect(f.code).toBe('55P03');
      for (const part of verifierParts(verifier)) expect(everything(f)).not.toContain(part);
    } finally {
      await s.end();
      await release();
    }
  });

  it.skipIf(version < 16)('a login the owner lost ADMIN OPTION on (PostgreSQL 16+): permission error, no verifier', async () => {
    const password = db.newPassword();
    await db.syncLogin('ve_admin', password, ['ve']);
    // The bootstrap superuser is the grantor of the owner's implicit ADMIN OPTION on logins it created.
    await db.admin.query(`REVOKE ve_admin FROM rolecall_owner GRANTED BY ${await bootstrapSuperuser(db.admin)}`);
    const verifier = newVerifier();
    const f = await failureOf(db.syncRaw({ login: 've_admin', verifier, groups: ['ve'] }));
    expect(f.code).toBe('42501');
    expect(f.message).toMatch(/could not set the password of login "ve_admin"/);
    for (const part of verifierParts(verifier)) expect(everything(f)).not.toContain(part);
    expect(await db.canLogIn('ve_admin', password)).toBe(true);
  });

  it('a REPEATABLE READ caller is refused before anything runs (its snapshot could race the password statement)', async () => {
    const password = db.newPassword();
    await db.syncLogin('ve_rr', password, ['ve']);
    const before = await db.stateOf('ve_rr');
    const s = await db.connectSync();
    try {
      await s.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await s.query('SELECT 1');
      await db.admin.query(`ALTER ROLE ve_rr VALID UNTIL '2098-01-01'`);
      const verifier = newVerifier();
      const f = await failureOf(db.syncRaw({ login: 've_rr', verifier, groups: ['ve'] }, s));
      expect(f.code).toBe('25000');
      expect(f.message).toMatch(/must run in a READ COMMITTED transaction/);
      for (const part of verifierParts(verifier)) expect(everything(f)).not.toContain(part);
      await s.query('ROLLBACK');
    } finally {
      await s.end();
    }
    await db.admin.query(`ALTER ROLE ve_rr VALID UNTIL '${JSON.parse(before).role[0].rolvaliduntil}'`);
    expect(await db.canLogIn('ve_rr', password)).toBe(true);
  });

  it('a concurrent CREATE ROLE of the same name (an admin wins the race): clean error, no verifier', async () => {
    // The admin's uncommitted CREATE ROLE holds the name; the sync's CREATE ROLE waits, then fails on the unique name.
    const admin2 = await db.server.connect();
    await admin2.query('BEGIN');
    await admin2.query('CREATE ROLE ve_race NOLOGIN');
    const verifier = newVerifier();
    const pending = failureOf(db.syncRaw({ login: 've_race', verifier, groups: ['ve'] }));
    await db.waitForLockWait('rolecall_sync');
    await admin2.query('COMMIT');
    await admin2.end();
    const f = await pending;
    expect(f.code).toBe('23505');
    expect(f.message).toMatch(/could not create login "ve_race"/);
    for (const part of verifierParts(verifier)) expect(everything(f)).not.toContain(part);
    const managed = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.managed_login WHERE login = 've_race'`);
    expect(managed.rows[0].n).toBe(0);
  });

  it('the server log holds none of those verifiers, but does hold the failures', async () => {
    const log = await db.serverLog();
    expect(log).toMatch(/could not set the password of login "ve_timeout"/);
    expect(secrets.length).toBeGreaterThanOrEqual(16);
    for (const s of secrets) expect(log).not.toContain(s);
  });
});

async function bootstrapSuperuser(admin: pg.Client): Promise<string> {
  const res = await admin.query<{ n: string }>(`SELECT rolname AS n FROM pg_roles WHERE oid = 10`);
  return `"${res.rows[0]!.n}"`;
}
