import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ProfileStore } from '../../src-main/core/profiles/store.js';
import type { ProfileInput } from '../../src-main/core/profiles/schema.js';
import {
  createSecretStore,
  EnvSecretStore,
  KeychainSecretStore,
  LayeredSecretStore,
} from '../../src-main/core/secrets/index.js';
import { tempDir } from '../harness/ports.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// Only write to a keyring that test/keyring-session.sh made for us, never to a real user's.
const insideTestKeyring = process.env.ROLECALL_TEST_KEYRING === '1';
const hasBus = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS);
if (insideTestKeyring && !hasBus) {
  throw new Error('ROLECALL_TEST_KEYRING=1 but no DBUS_SESSION_BUS_ADDRESS: test/keyring-session.sh failed to start a session bus');
}
if (!insideTestKeyring) {
  console.warn(
    '\n*** SKIPPING keychain tests: not inside test/keyring-session.sh (no private D-Bus session with gnome-keyring).\n' +
      '*** Run: test/keyring-session.sh npx vitest run test/integration/keychain.test.ts\n',
  );
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe.skipIf(!insideTestKeyring)('KeychainSecretStore through keytar and gnome-keyring', () => {
  const keychain = new KeychainSecretStore();

  it('describes its backend', () => {
    expect(keychain.describe()).toMatch(/via keytar \(service "rolecall"\)/);
  });

  it('sets, reads, overwrites and deletes a secret', async () => {
    expect(await keychain.get('kc-basic', 'ldap-bind')).toBeNull();
    expect(await keychain.has('kc-basic', 'ldap-bind')).toBe(false);
    await keychain.set('kc-basic', 'ldap-bind', 'first');
    await keychain.set('kc-basic', 'ldap-bind', 'pässwörd "with" spaces €');
    expect(await keychain.get('kc-basic', 'ldap-bind')).toBe('pässwörd "with" spaces €');
    expect(await keychain.has('kc-basic', 'ldap-bind')).toBe(true);
    expect(await keychain.delete('kc-basic', 'ldap-bind')).toBe(true);
    expect(await keychain.delete('kc-basic', 'ldap-bind')).toBe(false);
    expect(await keychain.get('kc-basic', 'ldap-bind')).toBeNull();
  });

  it('keeps each profile and each secret name apart', async () => {
    await keychain.set('kc-a', 'ldap-bind', 'a-bind');
    await keychain.set('kc-a', 'sync', 'a-sync');
    await keychain.set('kc-b', 'sync', 'b-sync');
    expect(await keychain.get('kc-a', 'ldap-bind')).toBe('a-bind');
    expect(await keychain.get('kc-a', 'sync')).toBe('a-sync');
    expect(await keychain.get('kc-b', 'sync')).toBe('b-sync');
    expect(await keychain.get('kc-b', 'ldap-bind')).toBeNull();
    // Another process sees the same entries: they are in the keyring, not in memory.
    const { stdout } = await run(
      process.execPath,
      ['-e', "require('keytar').getPassword('rolecall', 'kc-a/sync').then((v) => process.stdout.write(String(v)))"],
      { cwd: root },
    );
    expect(stdout).toBe('a-sync');
  });

  it('lets ROLECALL_* variables win over the keychain, and writes go to the keychain', async () => {
    await keychain.set('kc-layer', 'sync', 'from-keychain');
    const layered = new LayeredSecretStore(new EnvSecretStore({ env: { ROLECALL_KC_LAYER_SYNC_PASSWORD: 'from-env' } }), keychain);
    expect(await layered.get('kc-layer', 'sync')).toBe('from-env');
    await layered.set('kc-layer', 'ldap-bind', 'bind-pw');
    expect(await keychain.get('kc-layer', 'ldap-bind')).toBe('bind-pw');
    expect(await createSecretStore({ profileIds: [] }).get('kc-layer', 'ldap-bind')).toBe('bind-pw');
  });

  it('never lets a secret reach the profile file', async () => {
    const dir = tempDir('keychain');
    dirs.push(dir);
    const file = path.join(dir, 'config.json');
    const store = new ProfileStore(file);
    const profile: ProfileInput = {
      id: 'kc-file',
      name: 'Keychain file test',
      directory: { url: 'ldaps://dc.corp.test', bindDn: 'svc@corp.test', baseDn: 'DC=corp,DC=test' },
      database: { host: 'db.internal', database: 'app' },
      listen: { port: 6432 },
    };
    const secrets = createSecretStore();
    await secrets.set('kc-file', 'ldap-bind', 'Bind-Secret-81723');
    await secrets.set('kc-file', 'sync', 'Sync-Secret-55120');
    expect(await store.save({ version: 1, profiles: [profile] })).toBeNull();
    // Someone tries to sneak the password into the profile: refused, file unchanged.
    const sneaky = { ...profile, directory: { ...profile.directory, bindPassword: 'Bind-Secret-81723' } } as ProfileInput;
    expect(await store.upsertProfile(sneaky)).toEqual([
      { path: 'directory.bindPassword', message: expect.stringContaining('secrets belong in the keychain') },
    ]);
    const text = await fs.readFile(file, 'utf8');
    expect(text).toContain('"kc-file"');
    expect(text).not.toContain('Bind-Secret-81723');
    expect(text).not.toContain('Sync-Secret-55120');
    expect(await secrets.get('kc-file', 'ldap-bind')).toBe('Bind-Secret-81723');
  });
});

describe.skipIf(process.platform !== 'linux')('KeychainSecretStore without a Secret Service', () => {
  it('fails with a message that says what to do, and does not fall back to a file', async () => {
    const script = `
      import { KeychainSecretStore } from './src-main/core/secrets/index.ts';
      try {
        await new KeychainSecretStore().set('kc-none', 'sync', 'NoBus-Secret-31337');
        console.log('NO ERROR');
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
      }`;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tempDir('nobus') };
    dirs.push(env.HOME!);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env });
    const result = JSON.parse(stdout.trim()) as { name: string; code: string; message: string };
    expect(result).toMatchObject({ name: 'SecretStoreError', code: 'unavailable' });
    expect(result.message).toContain(
      'no Secret Service on the session bus: install/unlock gnome-keyring or use ROLECALL_* environment variables',
    );
    const files = (await fs.readdir(env.HOME!, { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
    for (const f of files) expect(await fs.readFile(path.join(f.parentPath, f.name), 'utf8')).not.toContain('NoBus-Secret-31337');
  });
});
