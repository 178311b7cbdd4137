import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryError } from '../../src-main/core/directory/errors.js';
import type { ConnectionRecord } from '../../src-main/core/history/record.js';
import { ListenError } from '../../src-main/core/proxy/profile-proxy.js';
import { SyncError } from '../../src-main/core/sync/sync-client.js';
import { toIpcError } from '../../src-main/ipc/handlers/error-mapping.js';
import { upsertSection } from '../../src-main/ipc/handlers/clients.js';
import { ipcFixture, sampleProfile, storeSampleSecrets, type IpcFixture } from './ipc-fixture.js';

let f: IpcFixture;
beforeEach(async () => {
  f = await ipcFixture();
});
afterEach(async () => {
  await f.close();
});

function holdPort(): Promise<{ port: number; close(): void }> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => resolve({ port: (s.address() as net.AddressInfo).port, close: () => s.close() }));
  });
}

describe('proxies', () => {
  it('start without secrets points at the secret field to fill in', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    const error = await f.fail('proxies.start', { id: 'app' });
    expect(error.code).toBe('invalid');
    expect(error.fields?.[0]?.path).toBe('secrets.ldapBind');
    await f.ok('secrets.set', { profileId: 'app', name: 'ldap-bind', value: 'x' });
    expect((await f.fail('proxies.start', { id: 'app' })).fields?.[0]?.path).toBe('secrets.sync');
  });

  it('start, status, events, stop', async () => {
    const saved = await f.ok('profiles.save', { profile: await sampleProfile() });
    await storeSampleSecrets(f);
    const seen: string[] = [];
    f.ctx.service.on('status', (s) => seen.push(s.state));
    const started = await f.ok('proxies.start', { id: 'app' });
    expect(started).toMatchObject({ profileId: 'app', state: 'running', port: saved.listen.port, activeConnections: 0 });
    expect((await f.ok('proxies.status', {})).map((s) => s.state)).toEqual(['running']);
    const stopped = await f.ok('proxies.stop', { id: 'app' });
    expect(stopped?.state).toBe('stopped');
    expect(seen).toEqual(expect.arrayContaining(['starting', 'running', 'stopped']));
    expect(await f.ok('proxies.stop', { id: 'app' })).toBeNull();
    expect((await f.fail('proxies.start', { id: 'ghost' })).code).toBe('not-found');
  });

  it('a port taken after saving is a conflict naming the process that holds it', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    await storeSampleSecrets(f);
    const profile = await f.ok('profiles.get', { id: 'app' });
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(profile.listen.port, '127.0.0.1', () => r()));
    try {
      const error = await f.fail('proxies.start', { id: 'app' });
      expect(error.code).toBe('conflict');
      expect(error.detail).toBe('EADDRINUSE');
      expect(error.message).toContain(`pid ${process.pid}`);
      expect(error.fields?.[0]?.path).toBe('listen.port');
    } finally {
      holder.close();
    }
  });
});

describe('diagnostics', () => {
  it('testDirectory checks the fields it uses, then needs the stored bind password', async () => {
    const p = await sampleProfile();
    const bad = await f.fail('diagnostics.testDirectory', { profile: { ...p, directory: { ...p.directory, url: 'http://x' } } });
    expect(bad.fields?.[0]?.path).toBe('directory.url');
    // An unfinished database section does not stop a directory test.
    const missing = await f.fail('diagnostics.testDirectory', { profile: { ...p, database: {} } });
    expect(missing.code).toBe('invalid');
    expect(missing.fields).toEqual([{ path: 'secrets.ldapBind', message: expect.stringContaining('not set') }]);
  });

  it('testDirectory reports an unreachable server as a failed connect step', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    await storeSampleSecrets(f);
    const r = await f.ok('diagnostics.testDirectory', { profile: await f.ok('profiles.get', { id: 'app' }), login: 'alice', password: 'pw' });
    expect(r.ok).toBe(false);
    expect(r.steps).toEqual([{ step: 'connect', ok: false, message: expect.stringContaining('127.0.0.1:1') }]);
    // Which servers were tried, and why each failed.
    expect(r.servers).toEqual({ servers: [{ url: 'ldap://127.0.0.1:1', source: 'config', state: 'down', lastError: expect.stringContaining('ECONNREFUSED') }] });
  });

  it('testDatabase stops at the step that failed', async () => {
    const p = await sampleProfile();
    const r = await f.ok('diagnostics.testDatabase', { profile: p });
    expect(r.ok).toBe(false);
    expect(r.steps).toEqual([{ step: 'connect', ok: false, message: expect.stringMatching(/cannot reach 127\.0\.0\.1:1 \(ECONNREFUSED\)/) }]);
    const held = await holdPort();
    try {
      // Something that is not PostgreSQL and never answers the SSLRequest: the TLS step says so.
      const r2 = await f.ok('diagnostics.testDatabase', {
        profile: { ...p, database: { ...p.database, port: held.port, sslmode: 'require', connectTimeoutMs: 300 } },
      });
      expect(r2.steps.map((s) => [s.step, s.ok])).toEqual([
        ['connect', true],
        ['tls', false],
      ]);
    } finally {
      held.close();
    }
  });

  it('accessCheck needs a saved profile and both secrets', async () => {
    expect((await f.fail('diagnostics.accessCheck', { profileId: 'app', login: 'alice' })).code).toBe('not-found');
    await f.ok('profiles.save', { profile: await sampleProfile() });
    await f.ok('secrets.set', { profileId: 'app', name: 'ldap-bind', value: 'x' });
    expect((await f.fail('diagnostics.accessCheck', { profileId: 'app', login: 'alice' })).fields?.[0]?.path).toBe('secrets.sync');
    await f.ok('secrets.set', { profileId: 'app', name: 'sync', value: 'y' });
    const error = await f.fail('diagnostics.accessCheck', { profileId: 'app', login: 'alice' });
    expect(error.code).toBe('unavailable');
  });
});

describe('setup', () => {
  it('installSql shows the script and what it creates', async () => {
    const r = await f.ok('setup.installSql', {});
    expect(r.sql).toContain('CREATE OR REPLACE FUNCTION rolecall.sync_login');
    expect(r.creates).toEqual(
      expect.arrayContaining(['role rolecall_owner (NOLOGIN)', 'role rolecall_sync (NOLOGIN)', 'schema rolecall', 'table rolecall.group_role', 'function rolecall.sync_login()', 'function rolecall.preview_sync()']),
    );
    expect(r.creates.some((c) => c.includes('._'))).toBe(false);
  });

  it('install against an unreachable database is "unavailable", and the admin password goes nowhere', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    const error = await f.fail('setup.install', { profileId: 'app', adminUser: 'postgres', adminPassword: 'admin-pw-123' });
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(/cannot reach/);
    expect(JSON.stringify(error)).not.toContain('admin-pw-123');
    expect(f.logText()).not.toContain('admin-pw-123');
  });
});

function row(i: number, outcome: ConnectionRecord['outcome']): ConnectionRecord {
  return {
    startedAt: 1_700_000_000_000 + i * 60_000,
    endedAt: null,
    profileId: 'app',
    login: i % 2 ? 'alice' : '=bob',
    canonicalLogin: null,
    database: 'app',
    applicationName: 'psql',
    clientAddress: '127.0.0.1',
    outcome,
    sqlstate: outcome === 'denied' ? '28000' : null,
    message: null,
    groups: [],
    cacheHit: false,
    authLatencyMs: 5,
    bytesFromClient: 0,
    bytesToClient: 0,
  };
}

describe('history', () => {
  it('queries with paging and filters, summarises, exports CSV and clears', async () => {
    f.ctx.history.insertAll(Array.from({ length: 25 }, (_, i) => row(i, i % 5 === 0 ? 'denied' : 'success')));
    const page = await f.ok('history.query', { limit: 10, offset: 10 });
    expect(page.total).toBe(25);
    expect(page.rows).toHaveLength(10);
    expect((await f.ok('history.query', { outcome: 'denied' })).total).toBe(5);
    const buckets = await f.ok('history.summary', { since: 1_700_000_000_000, bucketMs: 86_400_000 });
    expect(buckets.reduce((n, b) => n + b.success + b.denied, 0)).toBe(25);
    expect((await f.fail('history.summary', { since: 0, bucketMs: 1000 })).fields?.[0]?.path).toBe('bucketMs');
    const all = await f.ok('history.exportCsv', {});
    expect(all.rows).toBe(25);
    expect(all.csv.split('\r\n')[0]).toMatch(/^id,started_at/);
    expect(all.csv).toContain("'=bob"); // formula-looking text is defused
    expect((await f.ok('history.exportCsv', { login: 'alice', limit: 3 })).rows).toBe(3);
    expect(await f.ok('history.clear', {})).toEqual({ cleared: true });
    expect((await f.ok('history.query', {})).total).toBe(0);
  });
});

describe('settings', () => {
  it('reads defaults, writes the config file, refuses bad values by field', async () => {
    expect(await f.ok('settings.get', {})).toEqual({ historyRetentionDays: 90 });
    expect(await f.ok('settings.set', { settings: { historyRetentionDays: 7 } })).toEqual({ historyRetentionDays: 7 });
    expect(JSON.parse(await fs.readFile(f.ctx.configPath, 'utf8')).settings).toEqual({ historyRetentionDays: 7 });
    const error = await f.fail('settings.set', { settings: { historyRetentionDays: 0 } });
    expect(error.fields?.[0]?.path).toBe('historyRetentionDays');
  });
});

describe('clients', () => {
  it('strings for psql, libpq, JDBC and pg_service, without any password', async () => {
    const p = await f.ok('profiles.save', { profile: await sampleProfile() });
    await storeSampleSecrets(f);
    const s = await f.ok('clients.strings', { profileId: 'app', login: 'alice' });
    const port = p.listen.port;
    expect(s.psql).toBe(`psql -h 127.0.0.1 -p ${port} -U alice -d app`);
    expect(s.libpq).toBe(`host=127.0.0.1 port=${port} dbname=app user=alice sslmode=disable`);
    expect(s.jdbc).toBe(`jdbc:postgresql://127.0.0.1:${port}/app?user=alice&sslmode=disable`);
    expect(s.pgService).toContain('[rolecall-app]');
    expect(JSON.stringify(s)).not.toMatch(/password|bind-pw|sync-pw/i);
    expect((await f.ok('clients.strings', { profileId: 'app' })).psql).not.toContain('-U');
  });

  it('writePgService writes PGSERVICEFILE, updates its own section and keeps the others', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    const file = path.join(f.dir, 'pg_service.conf');
    await fs.writeFile(file, '[other]\nhost=db.example\n');
    expect(await f.ok('clients.writePgService', { profileId: 'app', login: 'alice' })).toEqual({ file, service: 'rolecall-app' });
    await f.ok('clients.writePgService', { profileId: 'app', login: 'bob' });
    const text = await fs.readFile(file, 'utf8');
    expect(text.match(/\[rolecall-app\]/g)).toHaveLength(1);
    expect(text).toContain('[other]\nhost=db.example');
    expect(text).toContain('user=bob');
    expect(text).not.toContain('user=alice');
    expect(text).not.toMatch(/password/i);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('upsertSection replaces a section in the middle and leaves its neighbours alone', () => {
    const text = '[a]\nhost=a\n\n[rolecall-x]\nport=1\n\n[b]\nhost=b\n';
    expect(upsertSection(text, 'rolecall-x', '[rolecall-x]\nport=2\n')).toBe('[a]\nhost=a\n\n[rolecall-x]\nport=2\n\n[b]\nhost=b\n');
    expect(upsertSection('', 'rolecall-x', '[rolecall-x]\nport=2\n')).toBe('[rolecall-x]\nport=2\n');
  });

  it('checkPort: free, held by a program (with owner and next free), held by a profile', async () => {
    const held = await holdPort();
    try {
      const busy = await f.ok('clients.checkPort', { port: held.port });
      expect(busy.free).toBe(false);
      expect(busy.owner).toContain(`pid ${process.pid}`);
      expect(busy.nextFree).toBeGreaterThan(held.port);
      const p = await f.ok('profiles.save', { profile: await sampleProfile() });
      const own = await f.ok('clients.checkPort', { port: p.listen.port });
      expect(own).toMatchObject({ free: false, owner: 'Rolecall profile "app"' });
      expect(await f.ok('clients.checkPort', { port: p.listen.port, exceptProfileId: 'app' })).toEqual({
        port: p.listen.port,
        free: true,
        owner: null,
        nextFree: null,
      });
    } finally {
      held.close();
    }
  });
});

describe('app.info', () => {
  it('version, platform, keychain state and config path', async () => {
    const info = await f.ok('app.info', {});
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.platform).toBe(process.platform);
    expect(info.keychain).toEqual({ backend: 'memory (not persisted)', available: true, message: expect.any(String) });
    expect(info.configPath).toBe(f.ctx.configPath);
  });
});

describe('error mapping', () => {
  it('maps domain errors to the code the UI acts on, with the precise detail', () => {
    const dbError = Object.assign(new pg.DatabaseError('password authentication failed for user "x"', 0, 'error'), { code: '28P01' });
    expect(toIpcError(dbError, 'c')).toMatchObject({ code: 'refused', detail: '28P01' });
    const noDb = Object.assign(new pg.DatabaseError('database "x" does not exist', 0, 'error'), { code: '3D000' });
    expect(toIpcError(noDb, 'c')).toMatchObject({ code: 'invalid', fields: [{ path: 'database.database' }] });
    expect(toIpcError(new ListenError('port 5 in use by x (pid 1)', 'EADDRINUSE'), 'c')).toMatchObject({ code: 'conflict', detail: 'EADDRINUSE' });
    expect(toIpcError(new DirectoryError('account-disabled', 'account disabled', { adCode: '533' }), 'c')).toMatchObject({
      code: 'refused',
      detail: 'account-disabled (AD 533)',
    });
    expect(toIpcError(new DirectoryError('unreachable', 'cannot reach'), 'c').code).toBe('unavailable');
    expect(toIpcError(new SyncError('auth', 'wrong password', { sqlstate: '28P01' }), 'c')).toMatchObject({ code: 'refused', detail: '28P01' });
    expect(toIpcError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'c')).toMatchObject({ code: 'unavailable', detail: 'ECONNREFUSED' });
    const unexpected = toIpcError(new TypeError('boom'), 'history.query');
    expect(unexpected.code).toBe('failed');
    expect(unexpected.message).toMatch(/history\.query failed unexpectedly: boom\. Try again/);
  });
});
