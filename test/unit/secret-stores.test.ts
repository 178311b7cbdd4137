import { describe, expect, it } from 'vitest';
import {
  EnvSecretStore,
  envVarNames,
  KeychainSecretStore,
  LayeredSecretStore,
  MemorySecretStore,
  SecretStoreError,
} from '../../src-main/core/secrets/index.js';

describe('EnvSecretStore', () => {
  it('prefers the per-profile variable, then the generic one', async () => {
    const env = {
      ROLECALL_HR_PROD_LDAP_BIND_PASSWORD: 'hr-bind',
      ROLECALL_LDAP_BIND_PASSWORD: 'any-bind',
      ROLECALL_SYNC_PASSWORD: 'any-sync',
    };
    const store = new EnvSecretStore({ env });
    expect(await store.get('hr-prod', 'ldap-bind')).toBe('hr-bind');
    expect(await store.get('finance', 'ldap-bind')).toBe('any-bind');
    expect(await store.get('hr-prod', 'sync')).toBe('any-sync');
    expect(envVarNames('hr-prod', 'sync')).toEqual(['ROLECALL_HR_PROD_SYNC_PASSWORD', 'ROLECALL_SYNC_PASSWORD']);
  });

  it('applies generic variables only to the profiles being started, when told which', async () => {
    const store = new EnvSecretStore({ env: { ROLECALL_SYNC_PASSWORD: 's' }, profileIds: ['hr-prod'] });
    expect(await store.get('hr-prod', 'sync')).toBe('s');
    expect(await store.get('finance', 'sync')).toBeNull();
    expect(await store.has('finance', 'sync')).toBe(false);
  });

  it('treats an empty variable as unset (an empty bind password is an anonymous bind)', async () => {
    const store = new EnvSecretStore({ env: { ROLECALL_HR_PROD_LDAP_BIND_PASSWORD: '', ROLECALL_LDAP_BIND_PASSWORD: '' } });
    expect(await store.get('hr-prod', 'ldap-bind')).toBeNull();
  });

  it('is read-only, saying which variables to change', async () => {
    const store = new EnvSecretStore({ env: {} });
    await expect(store.set('hr-prod', 'sync', 'x')).rejects.toThrow(/read-only.*ROLECALL_HR_PROD_SYNC_PASSWORD/);
    await expect(store.delete('hr-prod', 'sync')).rejects.toMatchObject({ code: 'read-only' });
  });
});

describe('LayeredSecretStore', () => {
  it('reads the environment first, then the keychain, and writes to the keychain', async () => {
    const keychain = new MemorySecretStore([['hr-prod', 'sync', 'from-keychain']]);
    const store = new LayeredSecretStore(new EnvSecretStore({ env: { ROLECALL_HR_PROD_SYNC_PASSWORD: 'from-env' } }), keychain);
    expect(await store.get('hr-prod', 'sync')).toBe('from-env');
    expect(await store.get('hr-prod', 'ldap-bind')).toBeNull();
    await store.set('hr-prod', 'ldap-bind', 'bind');
    expect(await keychain.get('hr-prod', 'ldap-bind')).toBe('bind');
    expect(await store.has('hr-prod', 'ldap-bind')).toBe(true);
    expect(await store.delete('hr-prod', 'ldap-bind')).toBe(true);
    expect(store.describe()).toBe('environment variables (ROLECALL_*_PASSWORD), then memory (not persisted)');
  });

  it('does not touch an unavailable keychain when the environment answers', async () => {
    const broken = new KeychainSecretStore({
      loadKeytar: () => {
        throw new Error('should not be loaded');
      },
    });
    const store = new LayeredSecretStore(new EnvSecretStore({ env: { ROLECALL_SYNC_PASSWORD: 's' } }), broken);
    expect(await store.get('hr-prod', 'sync')).toBe('s');
  });
});

describe('secret store checks', () => {
  it('rejects bad profile ids, unknown names and empty values', async () => {
    const store = new MemorySecretStore();
    await expect(store.set('../etc', 'sync', 'x')).rejects.toMatchObject({ code: 'invalid' });
    await expect(store.set('a/b', 'sync', 'x')).rejects.toThrow(SecretStoreError);
    // @ts-expect-error: not a secret name
    await expect(store.get('hr-prod', 'root')).rejects.toThrow(/unknown secret "root"/);
    await expect(store.set('hr-prod', 'sync', '')).rejects.toThrow(/cannot be empty/);
  });

  it('explains a keytar native module that cannot load, without falling back to anything', async () => {
    const store = new KeychainSecretStore({
      loadKeytar: () => {
        throw new Error('keytar.node: cannot open shared object file');
      },
    });
    await expect(store.get('hr-prod', 'sync')).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/keytar native module could not be loaded.*ROLECALL_\* environment variables/),
    });
  });
});
