import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfigPath, ProfileStore, type ConfigInput } from '../../src-main/core/profiles/store.js';
import type { DirectProfileInput } from '../../src-main/core/profiles/schema.js';
import { tempDir } from '../harness/ports.js';

function profile(id: string, port: number, extra: Partial<DirectProfileInput> = {}): DirectProfileInput {
  return {
    id,
    name: `Profile ${id}`,
    directory: { url: 'ldaps://dc.corp.test:636', bindDn: 'svc-rolecall@corp.test', baseDn: 'DC=corp,DC=test' },
    database: { host: 'db.example.internal', database: 'app' },
    listen: { port },
    ...extra,
  };
}

let dir: string;
let file: string;
beforeEach(() => {
  dir = tempDir('profiles');
  file = path.join(dir, 'nested', 'config.json');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('ProfileStore.load', () => {
  it('treats a missing file as an empty config with default settings', async () => {
    const r = await new ProfileStore(file).load();
    expect(r).toEqual({ ok: true, path: file, config: { version: 1, profiles: [], settings: { historyRetentionDays: 90 } } });
  });

  it('moves unparseable JSON aside, keeps its bytes, and reports where it went', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, '{"version":1,"profiles":[');
    const r = await new ProfileStore(file).load();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.movedAsideTo).toMatch(/config\.json\.corrupt-\d{4}-\d\d-\d\dT/);
    expect(r.errors[0]?.message).toContain('not valid JSON');
    expect(r.errors[0]?.message).toContain(r.movedAsideTo);
    expect(await fs.readFile(r.movedAsideTo!, 'utf8')).toBe('{"version":1,"profiles":[');
    await expect(fs.access(file)).rejects.toThrow();
    // The next start sees an empty config, and saving does not touch the moved file.
    expect((await new ProfileStore(file).load()).ok).toBe(true);
  });

  it('never overwrites an earlier moved-aside file', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const store = new ProfileStore(file);
    await fs.writeFile(file, 'first {');
    const a = await store.load();
    await fs.writeFile(file, 'second {');
    const b = await store.load();
    if (a.ok || b.ok) throw new Error('expected failures');
    expect(a.movedAsideTo).not.toBe(b.movedAsideTo);
    expect(await fs.readFile(a.movedAsideTo!, 'utf8')).toBe('first {');
    expect(await fs.readFile(b.movedAsideTo!, 'utf8')).toBe('second {');
  });

  it('only reports bad JSON when asked not to move it (profiles validate)', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, 'nope');
    const r = await new ProfileStore(file).load({ moveCorruptAside: false });
    expect(r.ok).toBe(false);
    expect(await fs.readFile(file, 'utf8')).toBe('nope');
  });

  it('reports schema errors with field paths and leaves the file alone', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const text = JSON.stringify({ version: 1, profiles: [{ ...profile('hr-prod', 6432), directory: { url: 'http://x' } }] });
    await fs.writeFile(file, text);
    const r = await new ProfileStore(file).load();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.errors.map((e) => e.path);
    expect(paths).toContain('profiles.0.directory.url');
    expect(paths).toContain('profiles.0.directory.bindDn');
    expect(r.movedAsideTo).toBeUndefined();
    expect(await fs.readFile(file, 'utf8')).toBe(text);
  });

  it('rejects a password in the file, pointing at the keychain, but allows passwordValidForSeconds', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const p = profile('hr-prod', 6432, { cache: { passwordValidForSeconds: 7200 } }) as Record<string, unknown>;
    p.directory = { ...(p.directory as object), bindPassword: 'hunter2' };
    p.database = { ...(p.database as object), password: 'also-secret' };
    await fs.writeFile(file, JSON.stringify({ version: 1, profiles: [p] }));
    const r = await new ProfileStore(file).load();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      {
        path: 'profiles.0.directory.bindPassword',
        message: expect.stringContaining('secrets belong in the keychain: rolecall secrets set hr-prod ldap-bind'),
      },
      {
        path: 'profiles.0.database.password',
        message: expect.stringContaining('rolecall secrets set hr-prod sync'),
      },
    ]);
    expect(JSON.stringify(r.errors)).not.toContain('hunter2');
  });

  it('explains a file from a newer version instead of a bare literal error', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, JSON.stringify({ version: 2, profiles: [] }));
    const r = await new ProfileStore(file).load();
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'version', message: expect.stringContaining('newer Rolecall') }]);
  });
});

describe('ProfileStore.save', () => {
  it('writes pretty JSON with mode 0600 that loads back to the same config, leaving no temp files', async () => {
    const store = new ProfileStore(file);
    const config: ConfigInput = { version: 1, profiles: [profile('hr-prod', 6432)], settings: { historyRetentionDays: 30 } };
    expect(await store.save(config)).toBeNull();
    const text = await fs.readFile(file, 'utf8');
    expect(text).toMatch(/^\{\n {2}"version": 1,\n/);
    if (process.platform !== 'win32') expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await fs.readdir(path.dirname(file))).toEqual(['config.json']);
    const r = await store.load();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.settings.historyRetentionDays).toBe(30);
    expect(r.config.profiles[0]).toMatchObject({ id: 'hr-prod', directory: { loginAttribute: 'sAMAccountName', groupStrategy: 'ad-nested' } });
    // Saving what was loaded is stable.
    expect(await store.save(r.config)).toBeNull();
    expect(await fs.readFile(file, 'utf8')).toBe(text);
  });

  it('tightens the mode of an existing world-readable file', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, '{"version":1}', { mode: 0o644 });
    expect(await new ProfileStore(file).save({ version: 1 })).toBeNull();
    if (process.platform !== 'win32') expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('refuses an invalid config and leaves the file as it was', async () => {
    const store = new ProfileStore(file);
    await store.save({ version: 1, profiles: [profile('a', 6432)] });
    const before = await fs.readFile(file, 'utf8');
    const errors = await store.save({ version: 1, profiles: [profile('a', 6432), profile('b', 6432)] });
    expect(errors).toEqual([{ path: 'profiles.1.listen.port', message: 'port 6432 is already used by profile "a"' }]);
    expect(await fs.readFile(file, 'utf8')).toBe(before);
  });

  it('refuses a config carrying a secret and never writes it', async () => {
    const store = new ProfileStore(file);
    const p = { ...profile('a', 6432), syncPassword: 'hunter2' } as DirectProfileInput;
    const errors = await store.save({ version: 1, profiles: [p] });
    expect(errors?.[0]).toEqual({ path: 'profiles.0.syncPassword', message: expect.stringContaining('rolecall secrets set a sync') });
    await expect(fs.access(file)).rejects.toThrow();
  });
});

describe('ProfileStore profile edits', () => {
  it('adds, replaces and deletes profiles by id', async () => {
    const store = new ProfileStore(file);
    expect(await store.upsertProfile(profile('a', 6432))).toBeNull();
    expect(await store.upsertProfile(profile('b', 6433))).toBeNull();
    expect(await store.upsertProfile({ ...profile('a', 6434), name: 'Renamed' })).toBeNull();
    let r = await store.load();
    expect(r.ok && r.config.profiles.map((p) => [p.id, p.name, p.listen.port])).toEqual([
      ['a', 'Renamed', 6434],
      ['b', 'Profile b', 6433],
    ]);
    expect(await store.deleteProfile('a')).toBe(true);
    expect(await store.deleteProfile('a')).toBe(false);
    r = await store.load();
    expect(r.ok && r.config.profiles.map((p) => p.id)).toEqual(['b']);
  });

  it('reports errors relative to the profile being edited (for the form)', async () => {
    const store = new ProfileStore(file);
    await store.upsertProfile(profile('a', 6432));
    const errors = await store.upsertProfile({ ...profile('b', 6432), listen: { port: 0 } });
    expect(errors).toEqual([{ path: 'listen.port', message: expect.any(String) }]);
    const r = await store.load();
    expect(r.ok && r.config.profiles.length).toBe(1);
  });

  it('does not lose either of two concurrent edits', async () => {
    const store = new ProfileStore(file);
    await Promise.all([store.upsertProfile(profile('a', 6432)), store.upsertProfile(profile('b', 6433))]);
    const r = await store.load();
    expect(r.ok && r.config.profiles.map((p) => p.id).sort()).toEqual(['a', 'b']);
  });
});

describe('defaultConfigPath', () => {
  it('follows each OS convention and ROLECALL_CONFIG', () => {
    expect(defaultConfigPath({ HOME: '/home/al' }, 'linux')).toBe('/home/al/.config/rolecall/config.json');
    expect(defaultConfigPath({ HOME: '/home/al', XDG_CONFIG_HOME: '/xdg' }, 'linux')).toBe('/xdg/rolecall/config.json');
    expect(defaultConfigPath({ HOME: '/home/al', XDG_CONFIG_HOME: 'relative' }, 'linux')).toBe('/home/al/.config/rolecall/config.json');
    expect(defaultConfigPath({ HOME: '/Users/al' }, 'darwin')).toBe('/Users/al/Library/Application Support/Rolecall/config.json');
    expect(defaultConfigPath({ APPDATA: 'C:\\Users\\al\\AppData\\Roaming' }, 'win32')).toBe('C:\\Users\\al\\AppData\\Roaming\\Rolecall\\config.json');
    expect(defaultConfigPath({ HOME: '/home/al', ROLECALL_CONFIG: '/etc/rc.json' }, 'linux')).toBe('/etc/rc.json');
  });
});
