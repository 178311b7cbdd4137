import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema, isBrokerProfile, profileSchema, toFieldErrors, type BrokerProfileInput } from '../../src-main/core/profiles/schema.js';
import { ProfileStore } from '../../src-main/core/profiles/store.js';
import { tempDir } from '../harness/ports.js';

// The one schema decides the two modes: absent (or "direct") is today's
// profile, unchanged byte for byte; "broker" is a profile without any secret.

const broker = (extra: Partial<BrokerProfileInput> = {}): BrokerProfileInput => ({
  mode: 'broker',
  id: 'hr',
  name: 'HR (team broker)',
  broker: { urls: ['https://broker.corp.test:8443'], database: 'hr' },
  database: { host: 'hr-db.corp.test', database: 'hr', caFile: '/home/me/.config/rolecall/ca/hr.pem' },
  listen: { port: 6432 },
  ...extra,
});

const direct = {
  id: 'old',
  name: 'Direct profile',
  directory: { url: 'ldaps://dc.corp.test:636', bindDn: 'svc@corp.test', baseDn: 'DC=corp,DC=test' },
  database: { host: 'db.corp.test', database: 'app' },
  listen: { port: 6433 },
};

function errors(input: unknown): { path: string; message: string }[] {
  const r = profileSchema.safeParse(input);
  return r.success ? [] : toFieldErrors(r.error);
}

let dir: string;
beforeEach(() => {
  dir = tempDir('broker-profile');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('profile modes', () => {
  it('reads a profile without mode as direct and writes it back byte for byte', async () => {
    const file = path.join(dir, 'config.json');
    const store = new ProfileStore(file);
    expect(await store.save({ version: 1, profiles: [direct] })).toBeNull();
    const before = await fs.readFile(file, 'utf8');
    expect(before).not.toContain('"mode"');
    const loaded = await store.load();
    if (!loaded.ok) throw new Error('load failed');
    expect(isBrokerProfile(loaded.config.profiles[0]!)).toBe(false);
    expect(await store.save(loaded.config)).toBeNull();
    expect(await fs.readFile(file, 'utf8')).toBe(before);
  });

  it('fills a broker profile\'s defaults and keeps it stable through the store', async () => {
    const p = profileSchema.parse(broker());
    if (!isBrokerProfile(p)) throw new Error('expected a broker profile');
    expect(p.broker).toEqual({ urls: ['https://broker.corp.test:8443'], database: 'hr', connectTimeoutMs: 3000, timeoutMs: 15_000, deadUrlSeconds: 60 });
    expect(p.cache).toEqual({ marginSeconds: 60, negativeTtlSeconds: 30 });
    expect(p.database).toMatchObject({ port: 5432, sslmode: 'verify-full' });
    expect(p.database).not.toHaveProperty('syncUser');
    const file = path.join(dir, 'config.json');
    const store = new ProfileStore(file);
    expect(await store.save({ version: 1, profiles: [broker(), direct] })).toBeNull();
    const before = await fs.readFile(file, 'utf8');
    const loaded = await store.load();
    if (!loaded.ok) throw new Error('load failed');
    expect(await store.save(loaded.config)).toBeNull();
    expect(await fs.readFile(file, 'utf8')).toBe(before);
  });

  it('accepts only https broker URLs, each once, and at least one', () => {
    expect(errors(broker({ broker: { urls: ['http://broker.corp.test'], database: 'hr' } }))).toEqual([
      { path: 'broker.urls.0', message: expect.stringContaining('https://') },
    ]);
    expect(errors(broker({ broker: { urls: ['https://user:pw@broker.corp.test'], database: 'hr' } }))[0]?.path).toBe('broker.urls.0');
    expect(errors(broker({ broker: { urls: [], database: 'hr' } }))).toEqual([{ path: 'broker.urls', message: 'give at least one broker URL' }]);
    expect(errors(broker({ broker: { urls: ['https://B.corp.test:443/', 'https://b.corp.test'], database: 'hr' } }))).toEqual([
      { path: 'broker.urls.1', message: 'the same broker as urls.0' },
    ]);
    expect(errors(broker({ broker: { urls: ['https://b.corp.test/rolecall/'], database: 'HR' } }))[0]?.path).toBe('broker.database');
  });

  it('refuses directory and sync settings in a broker profile instead of dropping them', () => {
    const withDirectory = { ...broker(), directory: direct.directory };
    expect(errors(withDirectory)).toEqual([expect.objectContaining({ path: '', message: expect.stringContaining('directory') })]);
    const withSync = { ...broker(), database: { ...broker().database, syncUser: 'rolecall_sync' } };
    expect(errors(withSync)).toEqual([expect.objectContaining({ path: 'database', message: expect.stringContaining('syncUser') })]);
  });

  it('takes sslnegotiation=direct only with an sslmode that insists on TLS, in both modes', () => {
    for (const p of [direct, broker()]) {
      expect(profileSchema.parse(p).database.sslnegotiation).toBe('postgres');
      for (const sslmode of ['require', 'verify-ca', 'verify-full'] as const) {
        expect(errors({ ...p, database: { ...p.database, sslmode, sslnegotiation: 'direct' } })).toEqual([]);
      }
      for (const sslmode of ['disable', 'prefer'] as const) {
        expect(errors({ ...p, database: { ...p.database, sslmode, sslnegotiation: 'direct' } })).toEqual([
          { path: 'database.sslnegotiation', message: `"direct" needs sslmode require, verify-ca or verify-full (sslmode is ${sslmode})` },
        ]);
      }
    }
    expect(errors({ ...direct, database: { ...direct.database, sslnegotiation: 'tls' } })).toEqual([expect.objectContaining({ path: 'database.sslnegotiation' })]);
  });

  it('names an unknown mode and keeps every other rule of both modes', () => {
    expect(errors({ ...broker(), mode: 'team' })).toEqual([{ path: 'mode', message: 'must be "direct" (or left out) or "broker"' }]);
    expect(errors({ ...broker(), listen: { host: '0.0.0.0', port: 6432 } })).toEqual([
      expect.objectContaining({ path: 'listen.tls.enabled' }),
    ]);
    const clash = configSchema.safeParse({ version: 1, profiles: [broker(), { ...direct, listen: { port: 6432 } }] });
    expect(clash.success ? [] : toFieldErrors(clash.error)).toEqual([{ path: 'profiles.1.listen.port', message: 'port 6432 is already used by profile "hr"' }]);
  });

  it('refuses a password in a broker profile file, saying there is none to keep', async () => {
    const file = path.join(dir, 'config.json');
    await fs.writeFile(file, JSON.stringify({ version: 1, profiles: [{ ...broker(), broker: { ...broker().broker, password: 'x' } }] }));
    const r = await new ProfileStore(file).load();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]).toEqual({ path: 'profiles.0.broker.password', message: expect.stringContaining('a broker profile holds no secret') });
  });
});
