import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { cancelThroughProxy, passwordMessage, startupMessage } from '../harness/pg-wire.js';

let env: RolecallEnv;

const counters = () => env.service.get('app')!.status().counters;

async function roles(login: string): Promise<string[]> {
  const r = await env.pg.query<{ rolname: string }>(
    `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
     WHERE u.rolname = $1 ORDER BY 1`,
    [login],
  );
  return r.rows.map((x) => x.rolname);
}

async function expectRejected(promise: Promise<unknown>, code: string): Promise<Error & { code?: string }> {
  const e = (await promise.then(
    () => {
      throw new Error('expected the connection to be refused');
    },
    (err: unknown) => err,
  )) as Error & { code?: string };
  expect(e.code, e.message).toBe(code);
  return e;
}

describe.each([18, 15] as const)('end to end through the proxy (PostgreSQL %i, OpenLDAP)', (pgVersion) => {
  beforeAll(async () => {
    env = await startRolecallEnv({ pgVersion });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('logs alice in as herself with the roles her directory groups give, nested ones included', async () => {
    const c = await env.connect('alice', USERS.alice, { application_name: 'e2e-test' });
    const r = await c.query('SELECT current_user, session_user, (SELECT count(*) FROM hr.employees)::int AS n');
    expect(r.rows[0]).toEqual({ current_user: 'alice', session_user: 'alice', n: 2 });
    await c.end();
    expect(await roles('alice')).toEqual(['heimdall-hr-data', 'heimdall-readonly']);
  });

  it('works with psql, and its password prompt dance makes no directory call', async () => {
    const before = counters().directoryCalls;
    // -w: never prompt; psql then gives up at the password request, as it does before prompting.
    const noPassword = await env.psql('alice', null, ['-w', '-c', 'select 1']);
    expect(noPassword.code).not.toBe(0);
    expect(counters().directoryCalls).toBe(before);
    const ok = await env.psql('alice', USERS.alice, ['-At', '-c', 'select current_user']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('alice');
  });

  it('serves a second connection from the cache without asking the directory', async () => {
    const c1 = await env.connect('alice', USERS.alice);
    await c1.end();
    const before = counters();
    const c2 = await env.connect('ALICE', USERS.alice);
    expect((await c2.query('select current_user')).rows[0].current_user).toBe('alice');
    await c2.end();
    const after = counters();
    expect(after.directoryCalls).toBe(before.directoryCalls);
    expect(after.syncCalls).toBe(before.syncCalls);
    expect(after.cacheHits).toBe(before.cacheHits + 1);
  });

  it('re-checks the directory once when the database rejects a cached password (28P01 after a cache hit)', async () => {
    await (await env.connect('alice', USERS.alice)).end();
    await env.pg.query(`ALTER ROLE alice PASSWORD 'changed-behind-our-back'`);
    // A kept (pooled) server connection would still be reused; drop them to reach the database's check.
    env.service.get('app')!.pool.drainLogin('alice');
    const before = counters();
    const c = await env.connect('alice', USERS.alice);
    expect((await c.query('select current_user')).rows[0].current_user).toBe('alice');
    await c.end();
    const after = counters();
    expect(after.cacheHits).toBe(before.cacheHits + 1);
    expect(after.directoryCalls).toBe(before.directoryCalls + 1);
    expect(after.syncCalls).toBe(before.syncCalls + 1);
  });

  it('rejects a wrong password and an unknown user with the same 28P01 message', async () => {
    const wrong = await expectRejected(env.connect('alice', 'not-her-password'), '28P01');
    const unknown = await expectRejected(env.connect('nobody', 'whatever'), '28P01');
    expect(wrong.message.replace('alice', 'X')).toBe(unknown.message.replace('nobody', 'X'));
  });

  it('denies bob (no permitted group) with 28000 and creates no role', async () => {
    const e = await expectRejected(env.connect('bob', USERS.bob), '28000');
    expect(e.message).toMatch(/not in any directory group/);
    const r = await env.pg.query(`SELECT 1 FROM pg_roles WHERE rolname = 'bob'`);
    expect(r.rowCount).toBe(0);
  });

  it('denies a locked account with 28000', async () => {
    await expectRejected(env.connect('carol', USERS.carol), '28000');
  });

  it('refuses a directory user named like the database superuser', async () => {
    const e = await expectRejected(env.connect('postgres', USERS.postgres), '28000');
    expect(e.message).toMatch(/refuses/);
  });

  it('refuses an empty password without a directory call', async () => {
    const before = counters().directoryCalls;
    const c = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'alice', password: '', database: 'app' });
    c.on('error', () => undefined);
    // node-postgres refuses to send an empty password itself; send one by hand instead.
    const reply = await rawLogin('alice', '');
    expect(reply).toContain('28P01');
    expect(counters().directoryCalls).toBe(before);
  });

  it('gives concurrent first connections of a new user one role and no error', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => env.connect('erin', USERS.erin)));
    for (const c of clients) expect((await c.query('select current_user')).rows[0].current_user).toBe('erin');
    await Promise.all(clients.map((c) => c.end()));
    const r = await env.pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'erin'`);
    expect(r.rows[0]?.n).toBe(1);
    expect(await roles('erin')).toEqual(['heimdall-readonly']);
  });

  it('cancels a running query through the proxy (CancelRequest forwarded upstream)', async () => {
    const c = await env.connect('alice', USERS.alice);
    expect(await cancelThroughProxy(env.port, c)).toBe('57014');
    await c.end();
  });

  it('applies profile session defaults unless the client sets them', async () => {
    const profile = await env.addProfile((b) => ({
      ...b,
      id: 'app-readonly',
      database: { ...b.database, sessionDefaults: { default_transaction_read_only: 'on', statement_timeout: '5s' } },
    }));
    const c = new pg.Client({ host: '127.0.0.1', port: profile.listen.port, user: 'alice', password: USERS.alice, database: 'app' });
    await c.connect();
    expect((await c.query('show default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('on');
    await expect(c.query('insert into hr.employees values (9, $1)', ['x'])).rejects.toMatchObject({ code: '25006' });
    await c.end();
    await env.service.stop('app-readonly');
  });

  it('refuses a database the profile does not serve with 3D000', async () => {
    await expectRejected(env.connect('alice', USERS.alice, { database: 'postgres' }), '3D000');
  });

  it('revokes access when the user leaves the group: open session closed with a clear FATAL, next login denied', async () => {
    const session = env.psql('dave', USERS.dave, ['-c', 'select pg_sleep(5)', '-c', 'select 1']);
    await new Promise((r) => setTimeout(r, 1500));
    await env.ldap.removeMembers('heimdall-hr-data', [env.ldap.userDn('dave')]);
    const report = await env.service.get('app')!.revalidateNow();
    expect(report.revoked).toContain('dave');
    const psql = await session;
    expect(psql.code).not.toBe(0);
    expect(psql.stderr).toMatch(/FATAL: {2}Rolecall revoked access for "dave": the account is no longer in any permitted directory group/);
    await expectRejected(env.connect('dave', USERS.dave), '28000');
    const r = await env.pg.query<{ rolcanlogin: boolean }>(`SELECT rolcanlogin FROM pg_roles WHERE rolname = 'dave'`);
    expect(r.rows[0]?.rolcanlogin).toBe(false);
    expect(await roles('dave')).toEqual([]);
  });

  it('answers 08006 when the database is unreachable and 57P03 when the directory is, and keeps serving others', async () => {
    const deadPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const noDb = await env.addProfile((b) => ({ ...b, id: 'no-db', database: { ...b.database, port: deadPort } }));
    const noDir = await env.addProfile((b) => ({ ...b, id: 'no-dir', directory: { ...b.directory, url: `ldap://127.0.0.1:${deadPort}` } }));
    const via = (port: number) => new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: USERS.alice, database: 'app' });
    await expectRejected(via(noDb.listen.port).connect(), '08006');
    await expectRejected(via(noDir.listen.port).connect(), '57P03');
    const c = await env.connect('alice', USERS.alice);
    expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
    await c.end();
    await env.service.stop('no-db');
    await env.service.stop('no-dir');
  });

  it('writes one history row per attempt with outcome, groups and bytes', async () => {
    const c = await env.connect('alice', USERS.alice, { application_name: 'history-check' });
    await c.query('select repeat($1, 1000)', ['x']);
    await c.end();
    await new Promise((r) => setTimeout(r, 200));
    const { rows } = env.history.query({ login: 'alice', limit: 50 });
    const row = rows.find((r) => r.applicationName === 'history-check');
    expect(row).toMatchObject({ outcome: 'success', canonicalLogin: 'alice', database: 'app', groups: ['heimdall-hr-data', 'heimdall-readonly'] });
    expect(row?.bytesToClient).toBeGreaterThan(1000);
    expect(row?.endedAt).not.toBeNull();
    const denied = env.history.query({ login: 'bob', limit: 5 }).rows[0];
    expect(denied).toMatchObject({ outcome: 'denied', sqlstate: '28000', canonicalLogin: 'bob' });
  });
});

/** Startup + password by hand; returns the server's reply as text. */
function rawLogin(user: string, password: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(env.port, '127.0.0.1');
    let out = Buffer.alloc(0);
    let sent = false;
    s.on('data', (d: Buffer) => {
      out = Buffer.concat([out, d]);
      if (!sent && out.length >= 9 && out[0] === 0x52) {
        sent = true;
        s.write(passwordMessage(password));
      }
    });
    s.on('close', () => resolve(out.toString('latin1')));
    s.on('error', () => undefined);
    s.write(startupMessage([['user', user], ['database', 'app']]));
  });
}
