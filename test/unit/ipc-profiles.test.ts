import { promises as fs } from 'node:fs';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { channels } from '../../src-main/ipc/contract.js';
import { SecretStoreError, type SecretStore } from '../../src-main/core/secrets/secret-store.js';
import { ipcFixture, sampleProfile, type IpcFixture } from './ipc-fixture.js';

let f: IpcFixture;
beforeEach(async () => {
  f = await ipcFixture();
});
afterEach(async () => {
  await f.close();
});

describe('every channel', () => {
  it('answers a malformed request with invalid, never a throw', async () => {
    for (const channel of channels) {
      const error = await f.fail(channel, 42);
      expect(error.code, channel).toBe('invalid');
      expect(error.fields, channel).toBeDefined();
    }
  });

  it('names the offending request field', async () => {
    const error = await f.fail('profiles.get', { id: 'Not An Id' });
    expect(error.fields?.map((e) => e.path)).toEqual(['id']);
  });
});

describe('profiles.save / validate', () => {
  it('reports schema errors by field path, as the editor shows them', async () => {
    const bad = { ...(await sampleProfile()), database: { host: '', port: 70000, database: 'app' } };
    const error = await f.fail('profiles.save', { profile: bad });
    expect(error.code).toBe('invalid');
    const paths = error.fields?.map((e) => e.path);
    expect(paths).toContain('database.port');
    expect(paths).toContain('database.host');
    expect((await f.fail('profiles.validate', { profile: bad })).fields?.map((e) => e.path)).toContain('database.port');
    expect(await fs.stat(f.ctx.configPath).catch(() => null)).toBeNull();
  });

  it('saves a domain-only directory (servers found in DNS) and lists it by its domain, not an empty URL', async () => {
    const p = await sampleProfile();
    const { applied: _, ...saved } = await f.ok('profiles.save', {
      profile: { ...p, directory: { ...p.directory, kind: 'active-directory', url: '', domain: 'corp.example.com', site: 'Berlin' } },
    });
    expect(saved.mode === 'broker' ? null : saved.directory).toMatchObject({ url: '', urls: [], domain: 'corp.example.com', site: 'Berlin' });
    expect(await f.ok('profiles.list', {})).toEqual([expect.objectContaining({ id: 'app', directoryUrl: '', directoryServers: 'corp.example.com (DNS, site Berlin)' })]);
  });

  it('refuses a password put in the profile instead of dropping it silently', async () => {
    const p = await sampleProfile();
    const error = await f.fail('profiles.save', { profile: { ...p, database: { ...p.database, password: 'hunter2' } } });
    expect(error.code).toBe('invalid');
    expect(error.fields?.[0]?.path).toBe('database.password');
  });

  it('saves, lists with secret flags, and gets back the profile with defaults', async () => {
    const { applied, ...saved } = await f.ok('profiles.save', { profile: await sampleProfile() });
    expect(applied).toEqual({ outcome: 'not-running' });
    expect(saved.database).toMatchObject({ syncUser: 'rolecall_sync' });
    expect(await f.ok('profiles.list', {})).toEqual([
      expect.objectContaining({ id: 'app', port: saved.listen.port, secrets: { ldapBind: false, sync: false } }),
    ]);
    await f.ok('secrets.set', { profileId: 'app', name: 'sync', value: 's3cret-sync' });
    expect((await f.ok('profiles.list', {}))[0]?.secrets).toEqual({ ldapBind: false, sync: true });
    expect(await f.ok('profiles.get', { id: 'app' })).toEqual(saved);
    expect((await f.fail('profiles.get', { id: 'nope' })).code).toBe('not-found');
  });

  it('will not overwrite another profile by creating one with the same id', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    const error = await f.fail('profiles.save', { profile: await sampleProfile() });
    expect(error.fields?.[0]?.path).toBe('id');
  });

  it('refuses a port another profile uses, on the port field', async () => {
    const a = await f.ok('profiles.save', { profile: await sampleProfile('a') });
    const b = await sampleProfile('b');
    const error = await f.fail('profiles.save', { profile: { ...b, listen: { port: a.listen.port } } });
    expect(error.code).toBe('invalid');
    expect(error.fields).toEqual([{ path: 'listen.port', message: expect.stringContaining('profile "a"') }]);
  });

  it('refuses a port another program listens on: conflict, naming the process', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const p = await sampleProfile();
      const error = await f.fail('profiles.save', { profile: { ...p, listen: { port } } });
      expect(error.code).toBe('conflict');
      expect(error.detail).toBe('EADDRINUSE');
      expect(error.fields?.[0]?.path).toBe('listen.port');
      expect(error.message).toContain(`pid ${process.pid}`);
    } finally {
      holder.close();
    }
  });

  it('renames with previousId: the old id is gone and its secrets follow', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile('old') });
    await f.ok('secrets.set', { profileId: 'old', name: 'ldap-bind', value: 'bind-pw' });
    const current = await f.ok('profiles.get', { id: 'old' });
    const renamed = await f.ok('profiles.save', { profile: { ...current, id: 'new', name: 'New' }, previousId: 'old' });
    expect(renamed.id).toBe('new');
    expect((await f.ok('profiles.list', {})).map((p) => p.id)).toEqual(['new']);
    expect(await f.ok('secrets.has', { profileId: 'new' })).toEqual({ ldapBind: true, sync: false });
    expect(await f.ok('secrets.has', { profileId: 'old' })).toEqual({ ldapBind: false, sync: false });
  });

  it('updates in place with previousId equal to the id (the running proxy keeps its own port)', async () => {
    const saved = await f.ok('profiles.save', { profile: await sampleProfile() });
    await f.ok('secrets.set', { profileId: 'app', name: 'ldap-bind', value: 'x' });
    await f.ok('secrets.set', { profileId: 'app', name: 'sync', value: 'y' });
    await f.ok('proxies.start', { id: 'app' });
    const updated = await f.ok('profiles.save', { profile: { ...saved, name: 'Renamed only' }, previousId: 'app' });
    expect(updated.name).toBe('Renamed only');
  });
});

describe('profiles.delete / duplicate', () => {
  it('delete stops the proxy and removes the secrets', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    await f.ok('secrets.set', { profileId: 'app', name: 'ldap-bind', value: 'x' });
    await f.ok('secrets.set', { profileId: 'app', name: 'sync', value: 'y' });
    const started = await f.ok('proxies.start', { id: 'app' });
    expect(started.state).toBe('running');
    expect(await f.ok('profiles.delete', { id: 'app' })).toEqual({ deleted: true });
    expect(await f.ok('proxies.status', {})).toEqual([]);
    expect(await f.secrets.has('app', 'sync')).toBe(false);
    // The port is free again.
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer().once('error', reject);
      s.listen(started.port, '127.0.0.1', () => s.close(() => resolve()));
    });
    expect(await f.ok('profiles.delete', { id: 'app' })).toEqual({ deleted: false });
  });

  it('duplicate gets the new id, the next free port and the secrets', async () => {
    const source = await f.ok('profiles.save', { profile: await sampleProfile() });
    await f.ok('secrets.set', { profileId: 'app', name: 'ldap-bind', value: 'x' });
    const copy = await f.ok('profiles.duplicate', { id: 'app', newId: 'app-copy' });
    expect(copy.id).toBe('app-copy');
    expect(copy.listen.port).toBeGreaterThan(source.listen.port);
    expect(copy.database).toEqual(source.database);
    expect((await f.ok('secrets.has', { profileId: 'app-copy' })).ldapBind).toBe(true);
    expect((await f.fail('profiles.duplicate', { id: 'app', newId: 'app-copy' })).fields?.[0]?.path).toBe('newId');
    expect((await f.fail('profiles.duplicate', { id: 'ghost', newId: 'x' })).code).toBe('not-found');
  });
});

describe('profiles.import / export', () => {
  it('round-trips profiles without secrets', async () => {
    await f.ok('profiles.save', { profile: await sampleProfile() });
    await f.ok('secrets.set', { profileId: 'app', name: 'sync', value: 'very-secret-sync' });
    const { json } = await f.ok('profiles.export', {});
    expect(json).not.toContain('very-secret-sync');
    expect(JSON.parse(json)).toMatchObject({ version: 1, profiles: [{ id: 'app' }] });
    await f.ok('profiles.delete', { id: 'app' });
    expect(await f.ok('profiles.import', { json })).toEqual({ imported: ['app'] });
    expect((await f.fail('profiles.import', { json })).fields?.[0]?.path).toBe('profiles.0.id');
    expect((await f.fail('profiles.export', { ids: ['ghost'] })).code).toBe('not-found');
  });

  it('accepts a single profile, refuses secret-looking keys and invalid JSON', async () => {
    const p = await sampleProfile('single');
    expect(await f.ok('profiles.import', { json: JSON.stringify(p) })).toEqual({ imported: ['single'] });
    const withSecret = { ...(await sampleProfile('x')), directory: { ...p.directory, bindPassword: 'pw' } };
    const error = await f.fail('profiles.import', { json: JSON.stringify({ version: 1, profiles: [withSecret] }) });
    expect(error.fields?.[0]?.path).toBe('profiles.0.directory.bindPassword');
    expect((await f.fail('profiles.import', { json: '{nope' })).fields?.[0]?.path).toBe('json');
    const invalidPort = { ...(await sampleProfile('y')), listen: { port: 0 } };
    expect((await f.fail('profiles.import', { json: JSON.stringify([invalidPort]) })).fields?.[0]?.path).toBe('profiles.0.listen.port');
  });
});

describe('secrets', () => {
  it('stores and reports, and needs the profile to exist', async () => {
    expect((await f.fail('secrets.set', { profileId: 'ghost', name: 'sync', value: 'x' })).code).toBe('not-found');
    await f.ok('profiles.save', { profile: await sampleProfile() });
    expect(await f.ok('secrets.set', { profileId: 'app', name: 'sync', value: 'x' })).toEqual({
      stored: true,
      backend: 'memory (not persisted)',
      applied: { outcome: 'not-running' },
    });
    expect(await f.ok('secrets.delete', { profileId: 'app', name: 'sync' })).toEqual({ deleted: true });
    expect((await f.fail('secrets.set', { profileId: 'app', name: 'sync', value: '' })).fields?.[0]?.path).toBe('value');
  });

  it('a keychain that is not there is "unavailable", and app.info says so plainly', async () => {
    const broken: SecretStore = {
      get: () => Promise.reject(new SecretStoreError('unavailable', 'no Secret Service on the session bus')),
      set: () => Promise.reject(new SecretStoreError('unavailable', 'no Secret Service on the session bus')),
      delete: () => Promise.reject(new SecretStoreError('unavailable', 'no Secret Service on the session bus')),
      has: () => Promise.reject(new SecretStoreError('unavailable', 'no Secret Service on the session bus')),
      describe: () => 'Secret Service via keytar',
    };
    const g = await ipcFixture({ secrets: broken });
    try {
      await g.ok('profiles.save', { profile: await sampleProfile() });
      const error = await g.fail('secrets.set', { profileId: 'app', name: 'sync', value: 'x' });
      expect(error.code).toBe('unavailable');
      expect(error.message).toContain('Secret Service');
      expect((await g.fail('secrets.has', { profileId: 'app' })).code).toBe('unavailable');
      const info = await g.ok('app.info', {});
      expect(info.keychain).toMatchObject({ backend: 'Secret Service via keytar', available: false });
      expect(info.keychain.message).toMatch(/never stores passwords in files/);
      // The list still shows (secrets just read as unset).
      expect((await g.ok('profiles.list', {}))[0]?.secrets).toEqual({ ldapBind: false, sync: false });
    } finally {
      await g.close();
    }
  });
});

describe('a broken config file', () => {
  it('is reported with what to do, not thrown', async () => {
    await fs.writeFile(f.ctx.configPath, JSON.stringify({ version: 1, profiles: [{ id: 'BAD' }] }));
    const error = await f.fail('profiles.list', {});
    expect(error.code).toBe('failed');
    expect(error.message).toContain(f.ctx.configPath);
    expect(error.message).toMatch(/fix it/);
  });
});
