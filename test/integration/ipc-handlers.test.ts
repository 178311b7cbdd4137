import { readFileSync } from 'node:fs';
import http from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionEvent } from '../../src-main/core/proxy/profile-proxy.js';
import type { DirectProfileInput } from '../../src-main/core/profiles/schema.js';
import { startWebBridge } from '../../src-main/ipc/web-bridge.js';
import { freePort, waitFor } from '../harness/ports.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { startSlapd, type SlapdServer } from '../harness/slapd.js';
import { ipcFixture, type IpcFixture } from '../unit/ipc-fixture.js';

/*
 * The desktop app's whole first-run path, driven only through the IPC
 * handler map (what the renderer can do), against real PostgreSQL and slapd:
 * save a profile, set its directory secret, install the SQL, create the sync
 * login, test both servers, start the proxy, connect, read the history, ask
 * why someone cannot get in, stop.
 */

const ALICE = 'alice-Pass-1';
const BOB = 'bob-Pass-1';
const ERIN = 'erin-Pass-1';

let db: PgServer;
let ldap: SlapdServer;
let f: IpcFixture;
let profile: DirectProfileInput;
const connections: ConnectionEvent[] = [];

beforeAll(async () => {
  [db, ldap] = await Promise.all([startPostgres({ version: 18 }), startSlapd()]);
  await db.query('CREATE DATABASE app');
  const alice = await ldap.addUser('alice', ALICE, { cn: 'Alice Test' });
  const bob = await ldap.addUser('bob', BOB, { cn: 'Bob Test' });
  const erin = await ldap.addUser('erin', ERIN, { cn: 'Erin Test' });
  await ldap.addGroup('heimdall-hr-data', [alice]);
  await ldap.addGroup('heimdall-unmapped', [erin]);
  await ldap.addGroup('staff', [bob]);
  f = await ipcFixture();
  f.ctx.service.on('connection', (e) => connections.push(e));
  profile = {
    id: 'app',
    name: 'App database',
    directory: { kind: 'openldap', url: ldap.url, bindDn: ldap.serviceDn, baseDn: ldap.baseDn, groupPrefix: 'heimdall-', timeoutMs: 3000 },
    database: { host: '127.0.0.1', port: db.port, database: 'app', sslmode: 'verify-full', caFile: db.pki.caFile, connectTimeoutMs: 5000 },
    listen: { port: await freePort(), authTimeoutMs: 10_000 },
    revalidate: { intervalSeconds: 0 },
  };
});

afterAll(async () => {
  await f?.close();
  await Promise.all([db?.stop(), ldap?.stop()]);
});

describe('first run through the IPC handlers', () => {
  it('saves the profile and stores the directory secret', async () => {
    await f.ok('profiles.save', { profile });
    expect(await f.ok('secrets.set', { profileId: 'app', name: 'ldap-bind', value: ldap.servicePassword })).toMatchObject({ stored: true });
  });

  it('before setup, the database test says what is missing', async () => {
    const r = await f.ok('diagnostics.testDatabase', { profile });
    expect(r.ok).toBe(false);
    expect(r.tls).toBe(true);
    expect(r.steps.map((s) => [s.step, s.ok])).toEqual([
      ['connect', true],
      ['tls', true],
      ['sync login', false],
    ]);
    expect(r.steps[1]?.message).toMatch(/certificate and host name verified/);
    expect(r.steps[2]?.message).toMatch(/create the sync login in Database setup/);
  });

  it('refuses a wrong admin password precisely', async () => {
    const error = await f.fail('setup.install', { profileId: 'app', adminUser: db.adminUser, adminPassword: 'not-the-password' });
    expect(error).toMatchObject({ code: 'refused', detail: '28P01' });
  });

  it('installs the SQL with admin credentials typed once', async () => {
    expect(await f.ok('setup.install', { profileId: 'app', adminUser: db.adminUser, adminPassword: db.adminPassword })).toEqual({ installedVersion: '2' });
    // The admin maps the directory group to a database role (done in SQL by the DBA).
    const admin = await db.connect({ database: 'app' });
    try {
      await admin.query(`
        CREATE ROLE "heimdall-hr-data" NOLOGIN;
        CREATE ROLE "heimdall-unused" NOLOGIN;
        SELECT rolecall.allow_group('heimdall-hr-data', 'heimdall-hr-data');
      `);
    } finally {
      await admin.end();
    }
  });

  it('creates the sync login: a generated password stored in the keychain, only a verifier sent', async () => {
    const r = await f.ok('setup.createSyncLogin', { profileId: 'app', adminUser: db.adminUser, adminPassword: db.adminPassword });
    expect(r).toEqual({ login: 'rolecall_sync', stored: true, applied: { outcome: 'not-running' } });
    const stored = await f.secrets.get('app', 'sync');
    expect(stored?.length).toBeGreaterThanOrEqual(40);
    const { rows } = await db.query<{ rolcanlogin: boolean; rolpassword: string }>(
      "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = 'rolecall_sync'",
    );
    expect(rows[0]?.rolcanlogin).toBe(true);
    expect(rows[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(readFileSync(db.logFile, 'utf8')).not.toContain(stored as string);
    expect(f.logText()).not.toContain(stored as string);
    expect(f.logText()).not.toContain(db.adminPassword);
  });

  it('the database test now shows the installed version', async () => {
    const r = await f.ok('diagnostics.testDatabase', { profile });
    expect(r).toMatchObject({ ok: true, tls: true, installedVersion: '2', serverVersion: expect.stringMatching(/^18/) });
    expect(r.steps.map((s) => s.step)).toEqual(['connect', 'tls', 'sync login', 'rolecall schema']);
  });

  it('tests the directory with a user: steps, groups and permitted groups', async () => {
    const r = await f.ok('diagnostics.testDirectory', { profile, login: 'alice', password: ALICE });
    expect(r.ok).toBe(true);
    expect(r.steps.map((s) => [s.step, s.ok])).toEqual([
      ['connect', true],
      ['service bind', true],
      ['base DN', true],
      ['user bind', true],
      ['groups', true],
    ]);
    expect(r.groups).toContain('heimdall-hr-data');
    expect(r.permittedGroups).toEqual(['heimdall-hr-data']);
    expect(r.servers).toEqual({ servers: [{ url: profile.directory.url, source: 'config', state: 'up' }] });
    const wrong = await f.ok('diagnostics.testDirectory', { profile, login: 'alice', password: 'wrong' });
    expect(wrong.ok).toBe(false);
    expect(wrong.steps.at(-1)).toEqual({ step: 'user bind', ok: false, message: 'invalid user name or password' });
    const badBind = await f.ok('diagnostics.testDirectory', { profile: { ...profile, directory: { ...profile.directory, bindDn: 'cn=nobody,dc=example,dc=test' } } });
    expect(badBind.steps.map((s) => [s.step, s.ok])).toEqual([
      ['connect', true],
      ['service bind', false],
    ]);
  });

  it('starts the proxy; a client connects through it; the history shows the row', async () => {
    const status = await f.ok('proxies.start', { id: 'app' });
    expect(status.state).toBe('running');
    const client = new pg.Client({ host: '127.0.0.1', port: status.port, user: 'alice', password: ALICE, database: 'app' });
    await client.connect();
    try {
      const { rows } = await client.query<{ u: string; r: boolean }>("SELECT current_user AS u, pg_has_role('heimdall-hr-data', 'MEMBER') AS r");
      expect(rows[0]).toEqual({ u: 'alice', r: true });
      const live = await f.ok('proxies.status', {});
      expect(live[0]?.sessions.map((s) => s.login)).toEqual(['alice']);
    } finally {
      await client.end();
    }
    expect(connections.map((e) => [e.session.login, e.outcome])).toContainEqual(['alice', 'success']);
    const history = await waitFor('the history row', async () => {
      const h = await f.ok('history.query', { profileId: 'app', login: 'alice' });
      return h.rows[0]?.endedAt ? h : undefined;
    });
    expect(history.total).toBe(1);
    expect(history.rows[0]).toMatchObject({ login: 'alice', outcome: 'success', database: 'app', groups: ['heimdall-hr-data'] });
    expect((await f.ok('history.exportCsv', { login: 'alice' })).csv).toContain(',alice,');
  });

  it('the access check explains who gets in and who does not, changing nothing', async () => {
    const alice = await f.ok('diagnostics.accessCheck', { profileId: 'app', login: 'alice', password: ALICE });
    expect(alice.preview).toEqual({ wouldCreate: false, grant: [], revoke: [], roles: ['heimdall-hr-data'], denied: false, refusal: null });
    expect(alice.verdict).toMatch(/alice can sign in with role\(s\) heimdall-hr-data; nothing would change/);

    const bob = await f.ok('diagnostics.accessCheck', { profileId: 'app', login: 'bob' });
    expect(bob).toMatchObject({ login: 'bob', groups: ['staff'], permittedGroups: [], preview: null });
    expect(bob.verdict).toMatch(/bob would be denied: .*none passes the group filter \(prefix "heimdall-"\)/);

    const erin = await f.ok('diagnostics.accessCheck', { profileId: 'app', login: 'erin' });
    expect(erin.permittedGroups).toEqual(['heimdall-unmapped']);
    expect(erin.preview).toMatchObject({ denied: true, wouldCreate: false, roles: [] });
    expect(erin.verdict).toMatch(/map to no database role.*rolecall\.allow_group/);
    // A dry run: erin was not created.
    expect((await db.query("SELECT 1 FROM pg_roles WHERE rolname = 'erin'")).rowCount).toBe(0);

    const wrong = await f.fail('diagnostics.accessCheck', { profileId: 'app', login: 'alice', password: 'nope' });
    expect(wrong).toMatchObject({ code: 'refused', detail: 'invalid-credentials' });
  });

  it('the web bridge serves the same handlers over HTTP and streams the live connection', async () => {
    const bridge = await startWebBridge({ handlers: f.handlers, events: f.ctx.service });
    try {
      const stream = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${bridge.url}api/events?token=${encodeURIComponent(bridge.token)}`, resolve).on('error', reject);
      });
      let buffer = '';
      const seen = new Promise<ConnectionEvent>((resolve) => {
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          buffer += chunk;
          const m = /event: proxies\.connection\ndata: (.+)\n\n/.exec(buffer);
          if (m?.[1]) resolve(JSON.parse(m[1]) as ConnectionEvent);
        });
      });
      const res = await fetch(`${bridge.url}api/invoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-rolecall-token': bridge.token },
        body: JSON.stringify({ channel: 'proxies.status', request: {} }),
      });
      expect(await res.json()).toMatchObject({ ok: true, value: [{ profileId: 'app', state: 'running' }] });
      const port = (await f.ok('profiles.get', { id: 'app' })).listen.port;
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: ALICE, database: 'app' });
      await client.connect();
      await client.end();
      const event = await seen;
      expect(event).toMatchObject({ profileId: 'app', outcome: 'success', session: { login: 'alice', database: 'app' } });
      expect(JSON.stringify(event)).not.toContain(ALICE);
      stream.destroy();
    } finally {
      await bridge.close();
    }
  });

  it('saving the running profile with no client connected restarts it on the new port', async () => {
    const current = await f.ok('profiles.get', { id: 'app' });
    const oldPort = current.listen.port;
    const newPort = await freePort();
    const r = await f.ok('profiles.save', { profile: { ...current, listen: { ...current.listen, port: newPort } }, previousId: 'app' });
    expect(r.applied).toEqual({ outcome: 'restarted', port: newPort, previousPort: oldPort });
    const old = new pg.Client({ host: '127.0.0.1', port: oldPort, user: 'alice', password: ALICE, database: 'app' });
    await expect(old.connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const client = new pg.Client({ host: '127.0.0.1', port: newPort, user: 'alice', password: ALICE, database: 'app' });
    await client.connect();
    try {
      expect((await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u).toBe('alice');
    } finally {
      await client.end();
    }
  });

  it('with a client connected: the client keeps working, the status says restart pending, proxies.restart applies it', async () => {
    const current = await f.ok('profiles.get', { id: 'app' });
    const port = current.listen.port;
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: ALICE, database: 'app' });
    client.on('error', () => undefined); // the restart below closes it
    await client.connect();
    const events: boolean[] = [];
    const onStatus = (s: { pendingRestart: boolean }) => events.push(s.pendingRestart);
    f.ctx.service.on('status', onStatus);
    try {
      // An unchanged save is a no-op even with a client connected.
      expect((await f.ok('profiles.save', { profile: current, previousId: 'app' })).applied).toEqual({ outcome: 'unchanged' });
      const changed = { ...current, cache: { ...current.cache, ttlSeconds: 120 } };
      const r = await f.ok('profiles.save', { profile: changed, previousId: 'app' });
      expect(r.applied).toEqual({ outcome: 'restart-pending', port, activeConnections: 1 });
      expect((await client.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
      expect(await f.ok('proxies.status', {})).toEqual([expect.objectContaining({ state: 'running', pendingRestart: true, activeConnections: 1 })]);
      expect(events).toContain(true);
      expect(f.ctx.service.get('app')?.profile.cache).toEqual(current.cache);

      // The user restarts when ready: the open session gets the usual grace, then is closed.
      const restarted = await f.ok('proxies.restart', { id: 'app' });
      expect(restarted).toMatchObject({ state: 'running', port, pendingRestart: false, activeConnections: 0 });
      expect(f.ctx.service.get('app')?.profile.cache).toMatchObject({ ttlSeconds: 120 });
      await expect(client.query('SELECT 1')).rejects.toThrow();
      expect(events.at(-1)).toBe(false);
    } finally {
      f.ctx.service.off('status', onStatus);
      await client.end().catch(() => undefined);
    }
    const again = new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: ALICE, database: 'app' });
    await again.connect();
    await again.end();
  }, 20_000);

  it('stops the proxy', async () => {
    const stopped = await f.ok('proxies.stop', { id: 'app' });
    expect(stopped?.state).toBe('stopped');
    expect(await f.ok('proxies.status', {})).toEqual([]);
  });
});
