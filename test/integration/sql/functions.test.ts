import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installSql, sqlstateOf, startRolecallDb, uninstallSql, type RolecallDb, type SyncJson } from '../../harness/rolecall-sql.js';
import { buildScramVerifier } from '../../../src-main/core/sync/scram-verifier.js';

const SYNC_CALL = 'SELECT rolecall.sync_login($1, $2, $3::text[], make_interval(secs => $4), $5::jsonb) AS r';

describe.each([15, 18] as const)('rolecall SQL on PostgreSQL %i', (version) => {
  let db: RolecallDb;
  let server: RolecallDb['server'];
  let admin: pg.Client;
  let sync: pg.Client;
  let syncPassword: string;
  const newPassword = () => db.newPassword();
  const syncConfig = () => db.syncConfig();
  const syncLogin = (login: string, password: string, groups: string[], client?: pg.Client | pg.Pool) => db.syncLogin(login, password, groups, client);
  const canLogIn = (user: string, password: string) => db.canLogIn(user, password);
  const memberships = (login: string) => db.memberships(login);
  const stateOf = (name: string) => db.stateOf(name);

  beforeAll(async () => {
    db = await startRolecallDb(version);
    ({ server, admin, sync, syncPassword } = db);
    await admin.query(`CREATE ROLE app_read NOLOGIN; CREATE ROLE app_write NOLOGIN; CREATE ROLE "we""ird; role" NOLOGIN;
                       CREATE ROLE x NOLOGIN; CREATE TABLE public.secret_stuff (v text); INSERT INTO public.secret_stuff VALUES ('s');
                       GRANT SELECT ON public.secret_stuff TO app_read`);
    await admin.query(`SELECT rolecall.allow_group('PG-Readers', 'app_read'), rolecall.allow_group('pg-writers', 'app_write')`);
    await admin.query(`SELECT rolecall.allow_group($1, $2)`, [`grp'; DROP ROLE x; --`, 'we"ird; role']);
  });

  afterAll(() => db?.close());

  it('installs idempotently and leaves an existing rolecall_sync login and password alone', async () => {
    await admin.query(installSql);
    await admin.query(installSql);
    const v = await admin.query<{ v: string }>('SELECT rolecall.version() AS v');
    expect(v.rows[0]!.v).toBe('2');
    const roles = await admin.query(
      `SELECT rolname, rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname IN ('rolecall_owner', 'rolecall_sync') ORDER BY 1`,
    );
    expect(roles.rows).toEqual([
      { rolname: 'rolecall_owner', rolcanlogin: false, rolsuper: false, rolcreaterole: true },
      { rolname: 'rolecall_sync', rolcanlogin: true, rolsuper: false, rolcreaterole: false },
    ]);
    // The sync password set before the re-install still works.
    const again = new pg.Client(syncConfig());
    await again.connect();
    await again.end();
    const owner = await admin.query(
      `SELECT DISTINCT pg_get_userbyid(p.proowner) AS owner, p.prosecdef FROM pg_proc p
       WHERE p.pronamespace = 'rolecall'::regnamespace AND p.proname IN ('sync_login', 'revoke_login')`,
    );
    expect(owner.rows).toEqual([{ owner: 'rolecall_owner', prosecdef: true }]);
  });

  it('creates a login that can then log in with the password whose verifier was sent', async () => {
    const password = newPassword();
    const before = Date.now();
    const r = await syncLogin('alice', password, ['PG-READERS']);
    expect(r).toMatchObject({ created: true, denied: false, granted: ['app_read'], revoked: [], roles: ['app_read'] });

    const c = await server.connect({ user: 'alice', password });
    const rows = await c.query('SELECT current_user AS u, (SELECT v FROM public.secret_stuff) AS v');
    expect(rows.rows[0]).toEqual({ u: 'alice', v: 's' });
    await c.end();
    expect(await canLogIn('alice', 'not-the-password')).toBe(false);

    const role = await admin.query<{ rolvaliduntil: Date; rolsuper: boolean; rolcreaterole: boolean; rolinherit: boolean }>(
      `SELECT rolvaliduntil, rolsuper, rolcreaterole, rolinherit FROM pg_roles WHERE rolname = 'alice'`,
    );
    const until = role.rows[0]!.rolvaliduntil.getTime();
    expect(until).toBeGreaterThan(before + 3600_000 - 60_000);
    expect(until).toBeLessThan(Date.now() + 3600_000 + 60_000);
    expect(role.rows[0]).toMatchObject({ rolsuper: false, rolcreaterole: false, rolinherit: true });
    const grantor = await admin.query(
      `SELECT DISTINCT pg_get_userbyid(grantor) AS g FROM pg_auth_members WHERE member = 'alice'::regrole`,
    );
    expect(grantor.rows).toEqual([{ g: 'rolecall_owner' }]);
  });

  it('grants and revokes allow-listed roles as the groups change, and a new password replaces the old', async () => {
    const p1 = newPassword();
    const p2 = newPassword();
    expect(await syncLogin('bruno', p1, ['pg-readers'])).toMatchObject({ created: true, roles: ['app_read'] });
    expect(await syncLogin('bruno', p1, ['pg-readers', 'PG-Writers', 'unrelated'])).toMatchObject({
      created: false,
      granted: ['app_write'],
      revoked: [],
      roles: ['app_read', 'app_write'],
    });
    expect(await memberships('bruno')).toEqual(['app_read', 'app_write']);
    expect(await syncLogin('bruno', p2, ['pg-writers'])).toMatchObject({ granted: [], revoked: ['app_read'], roles: ['app_write'] });
    expect(await memberships('bruno')).toEqual(['app_write']);
    expect(await canLogIn('bruno', p2)).toBe(true);
    expect(await canLogIn('bruno', p1)).toBe(false);

    // A role an admin granted by hand (not allow-listed) is never revoked.
    await admin.query('CREATE ROLE hand_granted NOLOGIN; GRANT hand_granted TO bruno');
    await syncLogin('bruno', p2, ['pg-readers']);
    expect(await memberships('bruno')).toEqual(['app_read', 'hand_granted']);
  });

  it('without any allow-listed group: revokes, sets NOLOGIN and reports no-roles; creates nothing for a new login', async () => {
    const p = newPassword();
    await syncLogin('carla', p, ['pg-readers']);
    const r = await syncLogin('carla', p, ['some-other-group']);
    expect(r).toMatchObject({ denied: true, created: false, revoked: ['app_read'], roles: [] });
    expect(r.message).toMatch(/none of the directory groups of "carla" maps to a database role/);
    expect(await memberships('carla')).toEqual([]);
    expect(await canLogIn('carla', p)).toBe(false);
    // Back in a group: LOGIN again.
    expect(await syncLogin('carla', p, ['pg-writers'])).toMatchObject({ denied: false, roles: ['app_write'] });
    expect(await canLogIn('carla', p)).toBe(true);

    const before = await admin.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'nobody_new'`);
    expect(await syncLogin('nobody_new', newPassword(), [])).toMatchObject({ denied: true });
    const after = await admin.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'nobody_new'`);
    expect([before.rows[0].n, after.rows[0].n]).toEqual([0, 0]);
  });

  it('creates exactly one role when 8 first connections of the same new user sync at once', async () => {
    const pool = new pg.Pool({ ...syncConfig(), max: 8 });
    try {
      const password = newPassword();
      const results = await Promise.all(Array.from({ length: 8 }, () => syncLogin('dora', password, ['pg-readers'], pool)));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results.every((r) => r.roles.join() === 'app_read')).toBe(true);
      const n = await admin.query(
        `SELECT (SELECT count(*)::int FROM pg_roles WHERE rolname = 'dora') AS roles,
                (SELECT count(*)::int FROM rolecall.managed_login WHERE login = 'dora') AS managed`,
      );
      expect(n.rows[0]).toEqual({ roles: 1, managed: 1 });
    } finally {
      await pool.end();
    }
  });

  it('refuses every protected or unmanaged role: changes nothing but the audit, which records the refusal', async () => {
    await admin.query(`CREATE ROLE unmanaged LOGIN PASSWORD NULL; CREATE ROLE sup SUPERUSER NOLOGIN; CREATE ROLE cr CREATEROLE NOLOGIN;
                       CREATE ROLE repl REPLICATION NOLOGIN; CREATE ROLE byp BYPASSRLS NOLOGIN; CREATE ROLE "RDSadmin" NOLOGIN`);
    const refused = [
      'unmanaged', 'sup', 'cr', 'repl', 'byp', 'pg_monitor', 'pg_brand_new', 'PG_Upper', 'rds_superuser', 'RDSadmin', 'rdsnew',
      'postgres', 'Postgres', 'public', 'PUBLIC', 'rolecall_owner', 'rolecall_sync', 'rolecall_anything', 'x'.repeat(64),
      'é'.repeat(32), '', 'tab\tname',
    ];
    for (const name of refused) {
      const before = await stateOf(name);
      const sync1 = await syncLogin(name, newPassword(), ['pg-readers']);
      const revoke = await db.revokeLogin(name, 'test');
      expect({ name, sync1: sync1.refused, revoke: revoke.refused }).toEqual({ name, sync1: expect.any(String), revoke: expect.any(String) });
      expect(sync1).toMatchObject({ denied: true, created: false, roles: [], message: expect.stringMatching(/^Rolecall refuses to manage role/) });
      expect(await stateOf(name)).toBe(before);
    }
    const audited = await admin.query(`SELECT count(*)::int AS n FROM rolecall.audit WHERE outcome = 'refused' AND login = 'sup'`);
    expect(audited.rows[0].n).toBe(2);
    // Names up to 63 bytes are fine (no silent truncation at the limit).
    expect(await syncLogin('y'.repeat(63), newPassword(), ['pg-readers'])).toMatchObject({ created: true });

    // A managed login an admin later made powerful is no longer touched.
    const p = newPassword();
    await syncLogin('elevated', p, ['pg-readers']);
    for (const attr of ['SUPERUSER', 'CREATEROLE', 'REPLICATION', 'BYPASSRLS']) {
      await admin.query(`ALTER ROLE elevated ${attr}`);
      const before = await stateOf('elevated');
      expect((await syncLogin('elevated', newPassword(), [])).message).toMatch(/Rolecall refuses to manage role "elevated"/);
      expect((await db.revokeLogin('elevated', 'x')).refused).toMatch(/it is a superuser|it has /);
      expect(await stateOf('elevated')).toBe(before);
      await admin.query(`ALTER ROLE elevated NO${attr}`);
    }
    expect((await syncLogin('unmanaged', p, ['pg-readers'])).refused).toMatch(/exists and was not created by Rolecall/);
  });

  it('refuses a plaintext password or a malformed verifier without echoing it', async () => {
    // Not in `plaintexts`: a client that sends a plaintext here has already put it in
    // the statement's parameters, which log_statement=all records. Rolecall never does.
    const plaintext = `Plain-${randomBytes(6).toString('hex')}`;
    const salt = Buffer.from('salt-salt-salt16').toString('base64');
    const key = Buffer.alloc(32, 7).toString('base64');
    const bad = [
      plaintext,
      `md5${'a'.repeat(32)}`,
      `SCRAM-SHA-256$4096:${salt}$${Buffer.alloc(16).toString('base64')}:${key}`, // short stored key
      `SCRAM-SHA-256$0:${salt}$${key}:${key}`,
      `SCRAM-SHA-256$4096:${salt}$${key}:${key} `,
      `SCRAM-SHA-256$4096:not base64!$${key}:${key}`,
    ];
    for (const verifier of bad) {
      const before = await stateOf('frank');
      try {
        await sync.query(SYNC_CALL, ['frank', verifier, ['pg-readers'], 3600, {}]);
        expect.unreachable('a bad verifier was accepted');
      } catch (e) {
        const err = e as { code?: string; message: string };
        expect(err.code).toBe('22023');
        expect(err.message).not.toContain(plaintext);
        expect(err.message).toMatch(/plaintext password is never accepted|keys must be 32 bytes|uses 0 iterations/);
      }
      expect(await stateOf('frank')).toBe(before);
    }
    expect(await stateOf('frank')).toContain('"role":[]');
  });

  it('handles SQL-hostile login and group names as plain data', async () => {
    const names = [`"; DROP ROLE x; --`, `o'brien`, `Robert'); DROP TABLE public.secret_stuff;--`, 'back\\slash', 'Ünïcødé user'];
    for (const name of names) {
      const password = newPassword();
      const r = await syncLogin(name, password, [`GRP'; drop role x; --`]);
      expect(r).toMatchObject({ created: true, roles: ['we"ird; role'] });
      expect(await canLogIn(name, password)).toBe(true);
      const rev = await sync.query('SELECT rolecall.revoke_login($1, $2) AS r', [name, `'); DROP ROLE x; --`]);
      expect(rev.rows[0].r).toMatchObject({ existed: true, revoked: ['we"ird; role'] });
    }
    const x = await admin.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'x'`);
    expect(x.rows[0].n).toBe(1);
    const t = await admin.query('SELECT count(*)::int AS n FROM public.secret_stuff');
    expect(t.rows[0].n).toBe(1);
  });

  it('gives rolecall_sync nothing but EXECUTE on the public functions', async () => {
    const attempts = [
      'SELECT * FROM rolecall.audit',
      'SELECT * FROM rolecall.managed_login',
      `INSERT INTO rolecall.group_role (group_name, role_name) VALUES ('g', 'sup')`,
      `DELETE FROM rolecall.audit`,
      'SELECT * FROM public.secret_stuff',
      'ALTER ROLE alice NOLOGIN',
      `ALTER ROLE alice PASSWORD NULL`,
      'CREATE ROLE sneaky',
      'GRANT app_write TO alice',
      'SET ROLE rolecall_owner',
      `SELECT rolecall.allow_group('g', 'app_write')`,
      `SELECT rolecall.disallow_group('pg-readers', 'app_read')`,
      `SELECT rolecall._plan('alice', '{}')`,
      `SELECT rolecall._revoke_roles('alice', '{app_read}')`,
      `SELECT rolecall._release_all_logins()`,
      `SELECT rolecall._release_role('app_read')`,
      `SELECT rolecall._audit('sync', 'alice', '{}', '{}', '{}', 'forged', NULL, NULL)`,
      'SELECT * FROM rolecall.login_lock',
      'SELECT * FROM rolecall.setting',
      `SELECT nextval('rolecall.refused_calls')`,
      `SELECT rolecall.configure('min_scram_iterations', '4096')`,
      'SELECT rolecall._repair()',
      `SELECT rolecall._record_refusal('sync_login', 'alice', '42501', 'forged')`,
      `SELECT rolecall._set_password('alice', 'x', now(), false)`,
      `SELECT rolecall._lock_login('sync_login', 'alice')`,
    ];
    for (const sql of attempts) {
      expect({ sql, code: await sqlstateOf(sync.query(sql)) }).toEqual({ sql, code: '42501' });
    }
    expect(await memberships('alice')).toEqual(['app_read']);
  });

  it('preview_sync shows the plan and changes nothing', async () => {
    const before = await stateOf('bruno');
    const res = await sync.query('SELECT rolecall.preview_sync($1, $2) AS r', ['bruno', ['pg-writers']]);
    expect(res.rows[0].r).toMatchObject({
      exists: true, managed: true, refused: null, denied: false, created: false,
      granted: ['app_write'], revoked: ['app_read'], roles: ['app_write'],
    });
    const fresh = await sync.query('SELECT rolecall.preview_sync($1, $2) AS r', ['new_person', ['pg-readers']]);
    expect(fresh.rows[0].r).toMatchObject({ exists: false, created: true, granted: ['app_read'] });
    const refused = await sync.query('SELECT rolecall.preview_sync($1, $2) AS r', ['postgres', ['pg-readers']]);
    expect(refused.rows[0].r.refused).toMatch(/reserved/);
    expect(await stateOf('bruno')).toBe(before);
  });

  it('allow_group refuses protected roles; protected entries slipped into the table are skipped', async () => {
    await admin.query('CREATE ROLE powerful_parent CREATEROLE NOLOGIN; CREATE ROLE innocent_child NOLOGIN; GRANT powerful_parent TO innocent_child');
    for (const role of ['sup', 'cr', 'repl', 'byp', 'pg_monitor', 'postgres', 'rolecall_owner', 'innocent_child', 'alice']) {
      expect({ role, code: await sqlstateOf(admin.query('SELECT rolecall.allow_group($1, $2)', ['admins', role])) }).toEqual({
        role,
        code: '42501',
      });
    }
    expect(await sqlstateOf(admin.query(`SELECT rolecall.allow_group('g', 'no_such_role')`))).toBe('42704');
    await admin.query(`INSERT INTO rolecall.group_role (group_name, role_name) VALUES ('pg-readers', 'sup'), ('pg-readers', 'innocent_child')`);
    const r = await syncLogin('gus', newPassword(), ['pg-readers']);
    expect(r.roles).toEqual(['app_read']);
    expect(r.skipped).toEqual(['innocent_child', 'sup']);
    expect(await memberships('gus')).toEqual(['app_read']);
    await admin.query(`DELETE FROM rolecall.group_role WHERE role_name IN ('sup', 'innocent_child')`);
  });

  it('disallow_group takes the role back from Rolecall logins when no group maps to it any more', async () => {
    await admin.query('CREATE ROLE temp_role NOLOGIN');
    await admin.query(`SELECT rolecall.allow_group('Temp', 'temp_role'), rolecall.allow_group('temp2', 'temp_role')`);
    await syncLogin('hana', newPassword(), ['temp', 'pg-readers']);
    expect(await memberships('hana')).toEqual(['app_read', 'temp_role']);
    const one = await admin.query(`SELECT rolecall.disallow_group('TEMP', 'temp_role') AS r`);
    expect(one.rows[0].r).toEqual({ removed: true, revoked_from: [] });
    const two = await admin.query(`SELECT rolecall.disallow_group('temp2', 'temp_role') AS r`);
    expect(two.rows[0].r).toEqual({ removed: true, revoked_from: ['hana'] });
    expect(await memberships('hana')).toEqual(['app_read']);
    await admin.query('DROP ROLE temp_role');
  });

  it('revoke_login sets NOLOGIN, strips managed roles and ends the open sessions of that login', async () => {
    const password = newPassword();
    await syncLogin('ivan', password, ['pg-readers', 'pg-writers']);
    const session = await server.connect({ user: 'ivan', password });
    session.on('error', () => undefined); // the termination arrives as an async error too
    await session.query('SELECT 1');
    const res = await sync.query('SELECT rolecall.revoke_login($1, $2) AS r', ['ivan', 'left the team']);
    expect(res.rows[0].r).toEqual({ existed: true, revoked: ['app_read', 'app_write'], terminated: 1 });
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => undefined);
    expect(await memberships('ivan')).toEqual([]);
    expect(await canLogIn('ivan', password)).toBe(false);
    // Revoking a login that does not exist is not an error.
    const gone = await sync.query('SELECT rolecall.revoke_login($1, $2) AS r', ['never_existed', 'x']);
    expect(gone.rows[0].r).toMatchObject({ existed: false });
  });

  it('audits every sync and revocation with who, from where and what changed', async () => {
    const res = await admin.query(
      `SELECT action, outcome, groups, granted, revoked, message, host(client_addr) AS addr, db_session_user, client_info
       FROM rolecall.audit WHERE login IN ('carla', 'ivan') ORDER BY id`,
    );
    expect(res.rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([
      'sync:created', 'sync:no-roles', 'sync:updated', 'sync:created', 'revoke:revoked',
    ]);
    expect(res.rows[1]).toMatchObject({ groups: ['some-other-group'], revoked: ['app_read'], addr: '127.0.0.1', db_session_user: 'rolecall_sync' });
    expect(res.rows[0].client_info).toEqual({ app: 'test' });
    expect(res.rows[4]).toMatchObject({ revoked: ['app_read', 'app_write'], message: 'left the team' });
    const allow = await admin.query(`SELECT count(*)::int AS n FROM rolecall.audit WHERE action = 'allow_group'`);
    expect(allow.rows[0].n).toBeGreaterThanOrEqual(3);
  });

  it('never lets a plaintext password reach the server log', async () => {
    await new Promise((r) => setTimeout(r, 300)); // let the last log lines arrive
    const log = readFileSync(server.logFile, 'utf8');
    expect(log).toContain('rolecall.sync_login'); // statements are being logged at all
    expect(db.plaintexts.length).toBeGreaterThan(20);
    for (const p of db.plaintexts) expect(log).not.toContain(p);
  });

  it('uninstalls idempotently, leaving managed logins in place but NOLOGIN and without Rolecall grants', async () => {
    await sync.end();
    await admin.query(uninstallSql);
    await admin.query(uninstallSql);
    const res = await admin.query(
      `SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname = 'rolecall') AS schemas,
              (SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'rolecall\\_%') AS roles,
              (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'alice') AS alice_login`,
    );
    expect(res.rows[0]).toEqual({ schemas: 0, roles: 0, alice_login: false });
    expect(await memberships('alice')).toEqual([]);
    expect(await memberships('bruno')).toEqual(['hand_granted']);
  });

  it('installs, syncs, ends sessions and uninstalls as a non-superuser CREATEROLE admin (like rds_superuser)', async () => {
    const masterPassword = newPassword();
    await admin.query(`CREATE ROLE master LOGIN CREATEROLE CREATEDB PASSWORD '${buildScramVerifier(masterPassword)}'`);
    await admin.query('GRANT pg_signal_backend TO master WITH ADMIN OPTION');
    await admin.query('CREATE DATABASE rdsdb OWNER master');
    const master = await server.connect({ user: 'master', password: masterPassword, database: 'rdsdb' });
    try {
      await master.query(installSql);
      await master.query(installSql);
      await master.query(`CREATE ROLE team_app NOLOGIN; SELECT rolecall.allow_group('devs', 'team_app')`);
      await master.query(`ALTER ROLE rolecall_sync LOGIN PASSWORD '${buildScramVerifier(syncPassword)}'`);
      const s = new pg.Client({ ...syncConfig(), database: 'rdsdb' });
      await s.connect();
      const password = newPassword();
      const r = await s.query<{ r: SyncJson }>(SYNC_CALL, ['rita', buildScramVerifier(password), ['DEVS'], 600, {}]);
      expect(r.rows[0]!.r).toMatchObject({ created: true, roles: ['team_app'] });
      const session = await server.connect({ user: 'rita', password, database: 'rdsdb' });
      session.on('error', () => undefined);
      const rev = await s.query('SELECT rolecall.revoke_login($1, $2) AS r', ['rita', 'test']);
      expect(rev.rows[0].r).toEqual({ existed: true, revoked: ['team_app'], terminated: 1 });
      await expect(session.query('SELECT 1')).rejects.toThrow();
      await s.end();
      await master.query(uninstallSql);
      await master.query(uninstallSql);
      const left = await admin.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'rolecall\\_%'`);
      expect(left.rows[0].n).toBe(0);
    } finally {
      await master.end();
    }
  });
});
