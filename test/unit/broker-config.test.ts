import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBrokerConfig, parseBrokerConfig, type BrokerConfigInput } from '../../src-main/broker/config.js';
import { readBrokerSecrets } from '../../src-main/broker/secrets.js';

const dir = mkdtempSync(path.join(tmpdir(), 'broker-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const minimal = (): BrokerConfigInput => ({
  version: 1,
  listen: { tls: { certFile: '/etc/rolecall/tls.crt', keyFile: '/etc/rolecall/tls.key' } },
  directory: { url: 'ldaps://dc1.corp.example.com:636', bindDn: 'svc@corp.example.com', baseDn: 'DC=corp,DC=example,DC=com', groupPrefix: 'pg-' },
  databases: [{ id: 'hr', name: 'HR', host: 'hr.db.example.com', database: 'hr', suggestedLocalPort: 6432 }],
});

function errorsOf(input: unknown): Record<string, string> {
  const r = parseBrokerConfig(JSON.stringify(input));
  if (r.ok) throw new Error('expected errors');
  return Object.fromEntries(r.errors.map((e) => [e.path, e.message]));
}

describe('broker.json', () => {
  it('fills the documented defaults', () => {
    const r = parseBrokerConfig(JSON.stringify(minimal()));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.config).toMatchObject({
      listen: { host: '0.0.0.0', port: 8443, maxConnections: 1024, maxConnectionsPerAddress: 64, requestTimeoutMs: 10_000, drainSeconds: 10, tls: { requireClientCert: false } },
      credentials: { windowSeconds: 3600, graceSeconds: 900 },
      throttle: { holdSeconds: 30 },
      rateLimit: { perAddressPerMinute: 60 },
      sweep: { intervalSeconds: 300 },
      sync: { user: 'rolecall_broker', poolSize: 8 },
      loginCase: 'lower',
    });
    expect(r.config.databases[0]).toMatchObject({ port: 5432, sslmode: 'verify-full', serverId: 'hr.db.example.com:5432', syncDatabase: 'hr', sessionDefaults: {} });
    expect(r.config.directory).toMatchObject({ kind: 'active-directory', loginAttribute: 'sAMAccountName' });
  });

  it('names the field of every error: unknown keys (also in directory), types, ranges, duplicates, dangling references', () => {
    const c = minimal() as Record<string, unknown> & BrokerConfigInput;
    const errors = errorsOf({
      ...c,
      listen: { ...c.listen, port: 70_000, tls: { ...c.listen.tls, requireClientCert: true } },
      directory: { ...c.directory, grupPrefix: 'x' },
      databases: [c.databases[0], { ...c.databases[0], port: 'x', suggestedLocalPort: 6432 }],
      throttle: { database: 'nope' },
      credentials: { windowSeconds: 1 },
      sweep: { intervalSecond: 5 },
    });
    expect(errors).toMatchObject({
      'listen.port': expect.stringMatching(/65535/),
      'listen.tls.clientCaFile': expect.stringMatching(/needed when requireClientCert/),
      'directory.grupPrefix': 'unknown setting "grupPrefix"',
      'databases.1.port': expect.any(String),
      'credentials.windowSeconds': expect.any(String),
      sweep: expect.stringMatching(/intervalSecond/),
    });
    expect(errorsOf({ ...c, databases: [{ ...c.databases[0], sslmode: 'prefer', sslnegotiation: 'direct' }] })).toEqual({
      'databases.0.sslnegotiation': '"direct" needs sslmode require, verify-ca or verify-full (sslmode is prefer)',
    });
    const dup = errorsOf({ ...c, databases: [c.databases[0], c.databases[0]] });
    expect(dup).toMatchObject({ 'databases.1.id': 'duplicate database id "hr"', 'databases.1.suggestedLocalPort': expect.stringMatching(/already suggested/) });
    expect(errorsOf({ ...c, throttle: { database: 'nope' } })).toEqual({ 'throttle.database': 'no database with id "nope" in databases' });
    expect(errorsOf('{')).toHaveProperty('');
  });

  it('refuses anything that looks like a secret, saying which variable to use instead', () => {
    const c = minimal();
    const errors = errorsOf({
      ...c,
      directory: { ...c.directory, bindPassword: 'x' },
      databases: [{ ...c.databases[0], syncPassword: 'y' }],
      credentials: { key: 'z' },
      credentialKey: 'z',
    });
    expect(errors['directory.bindPassword']).toMatch(/ROLECALL_BROKER_LDAP_BIND_PASSWORD/);
    expect(errors['databases.0.syncPassword']).toMatch(/ROLECALL_BROKER_SYNC_PASSWORD/);
    expect(errors['credentials.key']).toMatch(/ROLECALL_BROKER_CREDENTIAL_KEY/);
    expect(errors.credentialKey).toMatch(/ROLECALL_BROKER_CREDENTIAL_KEY/);
  });

  it('reads the files it names, naming the field of one it cannot read', async () => {
    writeFileSync(path.join(dir, 'tls.crt'), 'CERT');
    writeFileSync(path.join(dir, 'tls.key'), 'KEY');
    writeFileSync(path.join(dir, 'ca.pem'), 'CA PEM');
    const c = minimal();
    const file = path.join(dir, 'broker.json');
    writeFileSync(file, JSON.stringify({ ...c, listen: { tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') } }, databases: [{ ...c.databases[0], caFile: path.join(dir, 'ca.pem') }] }));
    const ok = await loadBrokerConfig(file);
    if (!ok.ok) throw new Error(JSON.stringify(ok.errors));
    expect(ok.files.databaseCa.get('hr')).toBe('CA PEM');
    writeFileSync(file, JSON.stringify({ ...c, listen: { tls: { certFile: path.join(dir, 'missing.crt'), keyFile: path.join(dir, 'tls.key') } } }));
    const bad = await loadBrokerConfig(file);
    expect(bad.ok ? [] : bad.errors).toEqual([{ path: 'listen.tls.certFile', message: `cannot read ${path.join(dir, 'missing.crt')}: ENOENT` }]);
  });
});

describe('the broker\'s secrets', () => {
  const key = Buffer.alloc(32, 1).toString('base64');
  it('come from variables or *_FILE; a database may have its own sync password', () => {
    const keyFile = path.join(dir, 'key');
    writeFileSync(keyFile, `${key}\n`);
    const r = readBrokerSecrets(
      { ROLECALL_BROKER_LDAP_BIND_PASSWORD: 'bind', ROLECALL_BROKER_SYNC_PASSWORD: 'sync', ROLECALL_BROKER_HR_PROD_SYNC_PASSWORD: 'hr', ROLECALL_BROKER_CREDENTIAL_KEY_FILE: keyFile },
      ['hr-prod', 'other'],
    );
    if (!r.ok) throw new Error(r.errors.join('; '));
    expect(r.secrets.bindPassword).toBe('bind');
    expect(Object.fromEntries(r.secrets.syncPasswords)).toEqual({ 'hr-prod': 'hr', other: 'sync' });
    expect(r.secrets.credentialKey.equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it('says what is missing, ambiguous or too weak, all at once', () => {
    const r = readBrokerSecrets({ ROLECALL_BROKER_LDAP_BIND_PASSWORD: 'a', ROLECALL_BROKER_LDAP_BIND_PASSWORD_FILE: '/x', ROLECALL_BROKER_CREDENTIAL_KEY: Buffer.alloc(16).toString('base64') }, ['hr']);
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors).toEqual([
      'both ROLECALL_BROKER_LDAP_BIND_PASSWORD and ROLECALL_BROKER_LDAP_BIND_PASSWORD_FILE are set: keep one',
      'ROLECALL_BROKER_CREDENTIAL_KEY holds 16 bytes; it needs at least 32 (make one with: openssl rand -base64 32)',
      expect.stringMatching(/^no sync-login password for database "hr": set ROLECALL_BROKER_SYNC_PASSWORD .* or ROLECALL_BROKER_HR_SYNC_PASSWORD/),
    ]);
    const notBase64 = readBrokerSecrets({ ROLECALL_BROKER_CREDENTIAL_KEY: 'not base64!' }, []);
    expect(notBase64.ok ? [] : notBase64.errors).toContain('ROLECALL_BROKER_CREDENTIAL_KEY must be base64 (make one with: openssl rand -base64 32)');
  });
});
