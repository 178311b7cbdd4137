import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../harness/ports.js';
import { failureOf, startRolecallDb, verifierOf, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * The database side of team mode: the broker's own login, direct mode turned
 * off, syncs that write nothing when nothing changed, the shared wrong-password
 * throttle, the sweep (candidates, reconcile) and its lease.
 */
describe.each([15, 18] as const)('the team broker\'s SQL, PostgreSQL %i', (version) => {
  let db: RolecallDb;
  let broker: pg.Client;
  const brokerPassword = `Broker-${Math.random().toString(36).slice(2)}`;
  const connectBroker = async (user = 'rolecall_broker', password = brokerPassword) => {
    const c = new pg.Client({ ...db.syncConfig(), user, password });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const xminOf = async (login: string) => {
    const res = await db.admin.query(
      `SELECT (SELECT xmin::text FROM pg_authid WHERE rolname = $1) AS role, (SELECT xmin::text FROM rolecall.managed_login WHERE login = $1) AS managed`,
      [login],
    );
    return res.rows[0];
  };

  beforeAll(async () => {
    db = await startRolecallDb(version);
    await db.admin.query(`ALTER ROLE rolecall_broker LOGIN PASSWORD '${verifierOf(brokerPassword)}'`);
    await db.admin.query(`CREATE ROLE bk_read NOLOGIN; CREATE ROLE bk_write NOLOGIN;
                          SELECT rolecall.allow_group('bk-read', 'bk_read'), rolecall.allow_group('bk-write', 'bk_write')`);
    broker = await connectBroker();
  });
  afterAll(async () => {
    await broker?.end();
    await db?.close();
  });

  it('install.sql creates rolecall_broker NOLOGIN with the sync logins\' session defaults; the audit names the principal', async () => {
    const defaults = await db.admin.query<{ s: string[] }>(
      `SELECT setconfig AS s FROM pg_db_role_setting WHERE setrole = 'rolecall_broker'::regrole AND setdatabase = 0`,
    );
    expect(defaults.rows[0]!.s).toEqual(expect.arrayContaining(['log_statement=none', 'statement_timeout=30s', 'lock_timeout=5s']));
    await db.syncRaw({ login: 'bk_direct', verifier: verifierOf(db.newPassword()), groups: ['bk-read'] });
    await db.syncRaw({ login: 'bk_team', verifier: verifierOf(db.newPassword()), groups: ['bk-read'] }, broker);
    const rows = await db.admin.query(`SELECT login, principal, db_session_user FROM rolecall.audit WHERE login IN ('bk_direct', 'bk_team') ORDER BY id`);
    expect(rows.rows).toEqual([
      { login: 'bk_direct', principal: 'direct', db_session_user: 'rolecall_sync' },
      { login: 'bk_team', principal: 'broker', db_session_user: 'rolecall_broker' },
    ]);
  });

  it('a repeated sync with the same verifier and roles writes nothing: no catalog row, no audit row', async () => {
    const verifier = verifierOf(db.newPassword(), { salt: Buffer.alloc(16, 9) });
    const first = await db.syncRaw({ login: 'bk_same', verifier, groups: ['bk-read'], validFor: '75 minutes' }, broker);
    expect(first).toMatchObject({ created: true });
    const before = await xminOf('bk_same');
    const audit = await db.auditRows('bk_same');
    const again = await db.syncRaw({ login: 'bk_same', verifier, groups: ['bk-read'], validFor: '75 minutes' }, broker);
    expect(again).toMatchObject({ created: false, denied: false, unchanged: true, roles: ['bk_read'], valid_until: first.valid_until });
    expect(await xminOf('bk_same')).toEqual(before);
    expect(await db.auditRows('bk_same')).toEqual(audit);
    // A group change, or a new verifier (the next window), writes again.
    expect(await db.syncRaw({ login: 'bk_same', verifier, groups: ['bk-read', 'bk-write'], validFor: '75 minutes' }, broker)).toMatchObject({
      granted: ['bk_write'],
    });
    const next = await db.syncRaw({ login: 'bk_same', verifier: verifierOf(db.newPassword()), groups: ['bk-read', 'bk-write'] }, broker);
    expect(next.unchanged).toBeUndefined();
  });

  it('direct_mode off: sync logins are refused, the broker is not', async () => {
    await db.admin.query(`SELECT rolecall.configure('direct_mode', 'off')`);
    try {
      const f = await failureOf(db.syncRaw({ login: 'bk_direct', verifier: verifierOf(db.newPassword()), groups: ['bk-read'] }));
      expect(f.code).toBe('42501');
      expect(f.message).toMatch(/direct mode is off for this database: rolecall_sync may not sync logins/);
      expect(f.hint).toMatch(/team broker/);
      expect((await failureOf(db.sync.query(`SELECT rolecall.revoke_login('bk_direct', 'x')`))).code).toBe('42501');
      expect(await db.syncRaw({ login: 'bk_direct', verifier: verifierOf(db.newPassword()), groups: ['bk-read'] }, broker)).toMatchObject({
        denied: false,
      });
    } finally {
      await db.admin.query(`SELECT rolecall.configure('direct_mode', 'on')`);
    }
  });

  it('only the broker may call the broker\'s functions', async () => {
    for (const sql of [
      `SELECT rolecall.throttle_enter('x')`,
      `SELECT rolecall.throttle_leave('x', true, 30)`,
      'SELECT * FROM rolecall.sweep_candidates()',
      `SELECT rolecall.reconcile_login('bk_team', '{}', 'x')`,
      `SELECT rolecall.sweep_lease('me', 60)`,
      `SELECT rolecall.sweep_release('me')`,
      'SELECT * FROM rolecall.signin_throttle',
      'SELECT * FROM rolecall.lease',
    ]) {
      expect({ sql, code: (await failureOf(db.sync.query(sql))).code }).toEqual({ sql, code: '42501' });
    }
  });

  it('the throttle holds a login after a failure and serializes concurrent checks of the same login across sessions', async () => {
    const enter = async (c: pg.Client, login: string) => (await c.query(`SELECT rolecall.throttle_enter($1) AS r`, [login])).rows[0].r;
    const leave = async (c: pg.Client, login: string, failed: boolean) =>
      (await c.query(`SELECT rolecall.throttle_leave($1, $2, 30) AS r`, [login, failed])).rows[0].r;
    await broker.query('BEGIN');
    expect(await enter(broker, 'bk_typo')).toMatchObject({ held: false, failures: 0 });
    // A second replica checking the same login waits for the first.
    const other = await connectBroker();
    try {
      const second = (async () => {
        await other.query('BEGIN');
        const r = await enter(other, 'BK_TYPO');
        await other.query('COMMIT');
        return r;
      })();
      await db.waitForLockWait('rolecall_broker');
      expect(await leave(broker, 'bk_typo', true)).toMatchObject({ failures: 1 });
      await broker.query('COMMIT');
      expect(await second).toMatchObject({ held: true, failures: 1 });
    } finally {
      await other.end();
    }
    // A success clears the hold.
    await broker.query('BEGIN');
    await enter(broker, 'bk_typo');
    expect(await leave(broker, 'bk_typo', false)).toMatchObject({ failures: 0, held_until: null });
    await broker.query('COMMIT');
    expect((await failureOf(broker.query(`SELECT rolecall.throttle_leave('never_entered', true, 30)`))).code).toBe('55000');
    expect((await failureOf(broker.query(`SELECT rolecall.throttle_leave('bk_typo', true, 0)`))).code).toBe('22023');
  });

  it('sweep: candidates are the managed logins that can log in; reconcile takes back lost roles, revokes at none, never grants', async () => {
    const password = db.newPassword();
    await db.syncRaw({ login: 'bk_leaver', verifier: verifierOf(password), groups: ['bk-read', 'bk-write'] }, broker);
    await db.syncRaw({ login: 'bk_expired', verifier: verifierOf(db.newPassword()), groups: ['bk-read'] }, broker);
    await db.admin.query(`ALTER ROLE bk_expired VALID UNTIL '2000-01-01'`);
    const candidates = (await broker.query('SELECT login, roles FROM rolecall.sweep_candidates()')).rows;
    expect(candidates).toEqual(expect.arrayContaining([{ login: 'bk_leaver', roles: ['bk_read', 'bk_write'] }]));
    expect(candidates.map((c) => c.login)).not.toContain('bk_expired');

    const session = await db.server.connect({ user: 'bk_leaver', password });
    session.on('error', () => undefined);
    const call = async (groups: string[]) =>
      (await broker.query(`SELECT rolecall.reconcile_login($1, $2, $3) AS r`, ['bk_leaver', groups, 'sweep: test'])).rows[0].r;
    expect(await call(['bk-read', 'bk-write', 'bk-new'])).toMatchObject({ revoked: [], disabled: false });
    expect(await call(['bk-read'])).toMatchObject({ revoked: ['bk_write'], disabled: false, roles: ['bk_read'] });
    expect(await db.memberships('bk_leaver')).toEqual(['bk_read']);
    expect(await call([])).toMatchObject({ revoked: ['bk_read'], disabled: true, terminated: 1 });
    await expect(session.query('SELECT 1')).rejects.toThrow();
    expect(await db.canLogIn('bk_leaver', password)).toBe(false);
    expect((await db.auditRows('bk_leaver')).slice(-2)).toMatchObject([
      { action: 'reconcile', outcome: 'updated', revoked: ['bk_write'], message: 'sweep: test' },
      { action: 'reconcile', outcome: 'revoked', revoked: ['bk_read'] },
    ]);
  });

  it('the sweep lease has one holder; it passes on when released, expired, or when the holder\'s session ends', async () => {
    const lease = async (c: pg.Client, holder: string, ttl = 60) => (await c.query('SELECT rolecall.sweep_lease($1, $2) AS r', [holder, ttl])).rows[0].r;
    const a = await connectBroker();
    const b = await connectBroker();
    try {
      expect(await lease(a, 'replica-a')).toMatchObject({ held: true, holder: 'replica-a' });
      expect(await lease(b, 'replica-b')).toMatchObject({ held: false, holder: 'replica-a' });
      expect(await lease(a, 'replica-a')).toMatchObject({ held: true });
      expect((await a.query(`SELECT rolecall.sweep_release('replica-a') AS r`)).rows[0].r).toBe(true);
      expect(await lease(b, 'replica-b')).toMatchObject({ held: true, holder: 'replica-b' });
      await b.end();
      await waitFor('the holder\'s backend to end', async () =>
        (await db.admin.query(`SELECT 1 FROM pg_stat_activity WHERE usename = 'rolecall_broker' AND pid = (SELECT holder_pid FROM rolecall.lease)`)).rowCount === 0 || undefined,
      );
      expect(await lease(a, 'replica-a', 5)).toMatchObject({ held: true, holder: 'replica-a' });
      await db.admin.query(`UPDATE rolecall.lease SET expires_at = now() - interval '1 second'`);
      const c = await connectBroker();
      expect(await lease(c, 'replica-c')).toMatchObject({ held: true, holder: 'replica-c' });
      await c.end();
    } finally {
      await a.end();
      await b.end().catch(() => undefined);
    }
  });

  it('add_principal makes a per-machine login with the defaults; the audit then names that machine', async () => {
    const out = await db.admin.query(`SELECT rolecall.add_principal('laptop_ana', 'direct') AS r`);
    expect(out.rows[0].r).toMatch(/created laptop_ana \(member of rolecall_sync\)/);
    const pw = db.newPassword();
    await db.admin.query(`ALTER ROLE laptop_ana PASSWORD '${verifierOf(pw)}'`);
    const laptop = await connectBroker('laptop_ana', pw);
    try {
      await db.syncRaw({ login: 'bk_ana', verifier: verifierOf(db.newPassword()), groups: ['bk-read'] }, laptop);
    } finally {
      await laptop.end();
    }
    const row = await db.admin.query(`SELECT principal, db_session_user FROM rolecall.audit WHERE login = 'bk_ana'`);
    expect(row.rows).toEqual([{ principal: 'direct', db_session_user: 'laptop_ana' }]);
    expect((await failureOf(db.admin.query(`SELECT rolecall.add_principal('laptop_ana', 'direct')`))).code).toBe('42710');
    expect((await failureOf(db.admin.query(`SELECT rolecall.add_principal('x', 'root')`))).code).toBe('22023');
    expect((await failureOf(db.admin.query(`SELECT rolecall.add_principal('pg_evil', 'broker')`))).code).toBe('22023');
  });
});
