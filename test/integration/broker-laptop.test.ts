import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directProfileSchema } from '../../src-main/core/profiles/schema.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import { ProxyService } from '../../src-main/core/service.js';
import { pgCancelRequest } from '../harness/pg-wire.js';
import { freePort, tempDir, waitFor } from '../harness/ports.js';
import { startSilentServer } from '../harness/silent-server.js';
import { startTcpRelay, type TcpRelay } from '../harness/tcp-relay.js';
import { slapdDirectory } from '../harness/rolecall-env.js';
import { startTeamEnv, USERS, type TeamEnv } from '../harness/team-env.js';

/*
 * The laptop in team mode: broker profiles on a real ProxyService, signing
 * in through the real broker process (`rolecall broker`) against slapd and
 * PostgreSQL 18 and 15, with psql and node-postgres as clients. Denials are
 * compared with direct mode's answers for the same users, on the same directory.
 */

let env: TeamEnv;
let app18: number;
let app15: number;
let direct: ProxyService;
let directPort: number;

type Refusal = { code: string | undefined; message: string; hint: string | undefined };

async function refusal(port: number, user: string, password: string): Promise<Refusal> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'app' });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (e) {
    const err = e as pg.DatabaseError;
    return { code: err.code, message: err.message, hint: err.hint };
  }
  await c.end();
  throw new Error(`${user} was let in`);
}

async function roles(port: number, user: string, password: string): Promise<{ who: string; roles: string[] }> {
  const c = await env.connect(port, user, password);
  try {
    const r = await c.query<{ who: string; roles: string[] }>(
      `SELECT current_user AS who, array(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user ORDER BY 1) AS roles`,
    );
    return r.rows[0]!;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  env = await startTeamEnv();
  app18 = (await env.startProfile('app18', 'app18')).listen.port;
  app15 = (await env.startProfile('app15', 'app15')).listen.port;
  // Direct mode on the same directory, for the same users: refusals happen before any sync, so no sync login is needed.
  const secrets = new MemorySecretStore();
  await secrets.set('direct', 'ldap-bind', env.ldap.servicePassword);
  await secrets.set('direct', 'sync', 'unused: every refusal here comes before the sync');
  direct = new ProxyService({ secrets, tlsDir: tempDir('direct-tls') });
  directPort = await freePort();
  await direct.start(
    directProfileSchema.parse({
      id: 'direct',
      name: 'Direct mode, for comparison',
      directory: slapdDirectory(env.ldap, 2000),
      database: { host: '127.0.0.1', port: env.pg18.port, database: 'app', sslmode: 'verify-full', caFile: env.pg18.pki.caFile },
      listen: { port: directPort },
    }),
  );
}, 240_000);

afterAll(async () => {
  await direct?.stopAll(200);
  await env?.stop();
});

describe('signing in through the broker', () => {
  it('lets alice in with psql on PostgreSQL 18 and 15, with the roles of her groups, the nested one included', async () => {
    for (const port of [app18, app15]) {
      const r = await env.psql(port, 'alice', USERS.alice, "select current_user, pg_has_role('heimdall-hr-data','member'), pg_has_role('heimdall-readonly','member')");
      expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'alice|t|t\n' });
    }
    expect(await roles(app18, 'erin', USERS.erin)).toEqual({ who: 'erin', roles: ['heimdall-readonly'] });
    expect(await roles(app15, 'ALICE', USERS.alice)).toEqual({ who: 'alice', roles: ['heimdall-hr-data', 'heimdall-readonly'] });
  });

  it('logs in upstream with the broker\'s password, never the directory password', async () => {
    // The database holds a verifier of the broker's derived password: the directory password does not open it.
    await expect(env.pg18.connect({ user: 'alice', password: USERS.alice, database: 'app' })).rejects.toMatchObject({ code: '28P01' });
    const { rows } = await env.pg18.query<{ rolpassword: string }>(`SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'`);
    expect(rows[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$/);
  });

  it.each([
    ['a wrong password', 'alice', 'not-alices-password'],
    ['no permitted group', 'bob', USERS.bob],
    ['a locked account', 'carol', USERS.carol],
    ['a protected name', 'postgres', USERS.postgres],
    ['an unknown user', 'nobody', 'whatever-1'],
  ])('refuses %s with the SQLSTATE, message and hint direct mode gives', async (_what, user, password) => {
    const team = await refusal(app18, user, password);
    const same = await refusal(directPort, user, password);
    expect(team).toEqual(same);
    expect(team.code).toMatch(/^28(000|P01)$/);
  });

  it('reuses a kept server connection and the cached password: a reconnect costs the broker nothing', async () => {
    const proxy = env.laptop.get('app18')!;
    await (await env.connect(app18, 'alice', USERS.alice)).end();
    const before = { ...proxy.authenticator.counters, reused: proxy.pool.counters.reused };
    await (await env.connect(app18, 'alice', USERS.alice)).end();
    expect(proxy.authenticator.counters.brokerCalls).toBe(before.brokerCalls);
    expect(proxy.authenticator.counters.cacheHits).toBe(before.cacheHits + 1);
    expect(proxy.pool.counters.reused).toBe(before.reused + 1);
  });

  it('cancels a running query (CancelRequest forwarded upstream)', async () => {
    const c = await env.connect(app18, 'alice', USERS.alice);
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const running = c.query('select pg_sleep(30)').then(
      () => 'finished',
      (e: Error & { code?: string }) => e.code,
    );
    await waitFor('the query to run', async () => ((await env.pg18.query(`SELECT 1 FROM pg_stat_activity WHERE query = 'select pg_sleep(30)' AND state = 'active'`)).rowCount === 1 ? true : undefined), 10_000);
    const s = net.connect(app18, '127.0.0.1', () => s.end(pgCancelRequest(processID, secretKey)));
    expect(await running).toBe('57014');
    await c.end();
  });

  it('writes one history row per attempt, as in direct mode, and never a password', () => {
    const rows = env.history.query({ profileId: 'app18', limit: 1000 }).rows;
    expect(rows.some((r) => r.login === 'alice' && r.outcome === 'success')).toBe(true);
    expect(rows.some((r) => r.login === 'bob' && r.outcome === 'denied' && r.sqlstate === '28000')).toBe(true);
    const text = JSON.stringify(rows);
    for (const p of Object.values(USERS)) expect(text).not.toContain(p);
  });

  it('revalidates open sessions by asking the broker: a user who left the groups is revoked and told why', async () => {
    const proxy = env.laptop.get('app18')!;
    await (await env.connect(app18, 'dave', USERS.dave)).end();
    const calls = proxy.authenticator.counters.brokerCalls;
    const session = env.psql(app18, 'dave', USERS.dave, 'select pg_sleep(20)');
    await waitFor('dave\'s query to run', async () => ((await env.pg18.query(`SELECT 1 FROM pg_stat_activity WHERE usename = 'dave' AND state = 'active'`)).rowCount === 1 ? true : undefined), 10_000);
    // Still permitted: the session is kept, and told nothing.
    expect(await proxy.revalidateNow()).toMatchObject({ checked: 1, revoked: [], failed: [] });
    await env.ldap.removeMembers('heimdall-hr-data', [env.ldap.userDn('dave')]);
    expect(await proxy.revalidateNow()).toMatchObject({ revoked: ['dave'], failed: [] });
    const psql = await session;
    expect(psql.code).not.toBe(0);
    // The broker ends the backend before it answers: the client reads the reason when the answer came first, else the team broker's word for it.
    expect(psql.stderr).toMatch(/FATAL: {2}Rolecall revoked access for "dave": (the account is no longer in any permitted directory group|the team broker found it may no longer sign in)/);
    expect(proxy.authenticator.counters.brokerCalls).toBe(calls + 2);
    const { rows } = await env.pg18.query<{ rolcanlogin: boolean }>(`SELECT rolcanlogin FROM pg_roles WHERE rolname = 'dave'`);
    expect(rows[0]?.rolcanlogin).toBe(false);
    expect(await refusal(app18, 'dave', USERS.dave)).toEqual(await refusal(directPort, 'dave', USERS.dave));
  });

  it('psql prints the directory password expiry the broker reports (ppolicy, 2 days), on cache hits too; nothing when it is far away', async () => {
    const policy = await env.ldap.addPolicy('two-days', { pwdMaxAge: String(2 * 86_400) });
    await env.ldap.addMembers('heimdall-hr-data', [await env.ldap.addUser('soon', 'soon-Pass-1', { policy })]);
    const proxy = env.laptop.get('app18')!;
    const calls = proxy.authenticator.counters.brokerCalls;
    for (let i = 0; i < 2; i++) {
      const r = await env.psql(app18, 'soon', 'soon-Pass-1', 'select current_user');
      expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'soon\n' });
      expect(r.stderr).toMatch(/^WARNING: {2}your directory password expires in 2 days\nHINT: {2}Change it before .* UTC .*\n$/);
    }
    expect(proxy.authenticator.counters.brokerCalls).toBe(calls + 1);
    expect(proxy.status().passwordWarnings.map((w) => w.login)).toEqual(['soon']);
    expect((await env.psql(app18, 'alice', USERS.alice, 'select 1')).stderr).toBe('');
  });
});

describe('outages: documented SQLSTATEs, the other profiles keep serving, recovery without a restart', () => {
  it('broker unreachable: 57P03 naming it; back when it is', async () => {
    let relay: TcpRelay = await startTcpRelay(env.broker.port);
    const viaRelay = await env.startProfile('via-relay', 'app18', (p) => ({ ...p, broker: { ...p.broker, urls: [`https://localhost:${relay.port}`] } }));
    const port = viaRelay.listen.port;
    expect((await env.psql(port, 'erin', USERS.erin, 'select 1')).code).toBe(0);
    await relay.close();
    env.laptop.get('via-relay')!.authenticator.forgetAll();
    const down = await refusal(port, 'erin', USERS.erin);
    expect(down).toEqual({
      code: '57P03',
      message: `the team broker at https://localhost:${relay.port} is not reachable`,
      hint: expect.stringContaining('Check your VPN or network connection'),
    });
    // The laptop's other profiles are not affected.
    expect((await env.psql(app18, 'erin', USERS.erin, 'select 1')).code).toBe(0);
    relay = await startTcpRelay(env.broker.port, relay.port);
    try {
      expect((await env.psql(port, 'erin', USERS.erin, 'select current_user')).stdout).toBe('erin\n');
    } finally {
      await relay.close();
    }
  });

  it('directory unreachable: the broker\'s 57P03, as direct mode says it; signed-in users keep working', async () => {
    await (await env.connect(app18, 'alice', USERS.alice)).end();
    await env.ldap.stopDaemon();
    try {
      // erin never signed in through app15 (nor direct mode): her sign-in needs the directory.
      const fresh = await refusal(app15, 'erin', USERS.erin);
      const same = await refusal(directPort, 'erin', USERS.erin);
      expect(fresh).toEqual({ code: same.code, message: same.message, hint: expect.stringContaining("the team broker's side, not your machine") });
      expect(same).toMatchObject({ code: '57P03', message: 'the directory server is not reachable, so Rolecall cannot check your password' });
      // alice signed in before the outage: her cached password still works, and app18 still serves.
      expect((await env.psql(app18, 'alice', USERS.alice, 'select 1')).code).toBe(0);
    } finally {
      await env.ldap.startDaemon();
    }
    await waitFor('erin to sign in again', async () => ((await env.psql(app15, 'erin', USERS.erin, 'select current_user')).stdout === 'erin\n' ? true : undefined), 20_000);
  });

  it('database unreachable: the broker\'s 08006; back when it is', async () => {
    const late = await env.startProfile('late', 'late');
    const down = await refusal(late.listen.port, 'erin', USERS.erin);
    expect(down.code).toBe('08006');
    expect(down.message).toMatch(/database/);
    expect((await env.psql(app18, 'erin', USERS.erin, 'select 1')).code).toBe(0);
    const relay = await startTcpRelay(env.pg18.port, env.latePort);
    try {
      await waitFor('the database to be reachable', async () => ((await env.psql(late.listen.port, 'erin', USERS.erin, 'select current_user')).stdout === 'erin\n' ? true : undefined), 20_000);
    } finally {
      await relay.close();
    }
  });
});

describe('several broker URLs', () => {
  it('a dead first URL costs no failed sign-in, and is remembered as dead', async () => {
    const refused = `https://127.0.0.1:${await freePort()}`;
    const silent = await startSilentServer();
    const replica = await env.startBroker('replica');
    try {
      const p = await env.startProfile('many-urls', 'app18', (x) => ({ ...x, broker: { ...x.broker, urls: [refused, `https://127.0.0.1:${silent.port}`, replica.url, env.broker.url] } }));
      const port = p.listen.port;
      expect((await env.psql(port, 'alice', USERS.alice, 'select current_user')).stdout).toBe('alice\n');
      expect(silent.accepted).toBe(1);
      // Another user, another sign-in: the dead URLs are tried after the one that answered, so nobody waits on them.
      expect((await env.psql(port, 'erin', USERS.erin, 'select current_user')).stdout).toBe('erin\n');
      expect(silent.accepted).toBe(1);
      expect(env.laptop.get('many-urls')!.status().counters).toMatchObject({ succeeded: 2, denied: 0, failed: 0 });
      // The replica dies: the next one takes over, still without a failed sign-in.
      await replica.stop();
      env.laptop.get('many-urls')!.authenticator.forgetAll();
      expect((await env.psql(port, 'alice', USERS.alice, 'select current_user')).stdout).toBe('alice\n');
    } finally {
      await silent.close();
    }
  });
});
