import { describe, expect, it } from 'vitest';
import { directProfileSchema as profileSchema, toFieldErrors } from '../../src-main/core/profiles/schema.js';
import {
  applyPreset,
  fromProfile,
  indexErrors,
  newDraft,
  presets,
  shownPaths,
  slugify,
  toInput,
  type ProfileDraft,
} from '../../src-renderer/lib/profile-form.js';

// The profile editor's form model (src-renderer/lib/profile-form.ts), checked against the one profile schema.
function filled(draft: ProfileDraft): ProfileDraft {
  return {
    ...draft,
    id: 'hr-prod',
    name: ' HR production ',
    url: ' ldaps://dc1.corp.example.com:636 ',
    bindDn: 'svc-rolecall@corp.example.com',
    baseDn: 'DC=corp,DC=example,DC=com',
    groupPrefix: 'pg-',
    dbHost: 'hr.example.com',
    database: 'hr',
    listenPort: 6432,
  };
}

const saved = profileSchema.parse({
  id: 'hr-prod',
  name: 'HR production',
  directory: { url: 'ldaps://dc1.corp.example.com:636', bindDn: 'svc@corp', baseDn: 'DC=corp', caFile: '/etc/ca.pem', groupPattern: '^pg-' },
  database: {
    host: 'hr.example.com',
    database: 'hr',
    allowedDatabases: ['hr_archive'],
    sessionDefaults: { statement_timeout: '60s', default_transaction_read_only: 'on' },
  },
  listen: { port: 6432, tls: { enabled: true } },
  pool: { idleSeconds: 10 },
});

describe('profile form model', () => {
  it('a new draft, filled in, is a valid profile with the trimmed values', () => {
    const profile = profileSchema.parse(toInput(filled(newDraft('active-directory')), null));
    expect(profile).toMatchObject({
      id: 'hr-prod',
      name: 'HR production',
      directory: { kind: 'active-directory', url: 'ldaps://dc1.corp.example.com:636', loginAttribute: 'sAMAccountName', groupStrategy: 'ad-nested' },
      database: { host: 'hr.example.com', port: 5432, sslmode: 'verify-full', syncUser: 'rolecall_sync', sessionDefaults: {} },
      listen: { host: '127.0.0.1', port: 6432 },
    });
    expect(profile.directory.caFile).toBeUndefined();
  });

  it('a saved profile comes back unchanged, keeping the settings the editor does not show', () => {
    expect(profileSchema.parse(toInput(fromProfile(saved), saved))).toEqual(saved);
  });

  it('the read-only box sets and clears default_transaction_read_only, leaving other session settings alone', () => {
    const draft = fromProfile(saved);
    expect(draft.readOnly).toBe(true);
    expect(toInput({ ...draft, readOnly: false }, saved).database?.sessionDefaults).toEqual({ statement_timeout: '60s' });
    expect(toInput({ ...draft, readOnly: true }, saved).database?.sessionDefaults).toEqual({ statement_timeout: '60s', default_transaction_read_only: 'on' });
  });

  it('an emptied number box becomes a missing field the schema names, not NaN', () => {
    const r = profileSchema.safeParse(toInput({ ...filled(newDraft('openldap')), dbPort: null, ttlSeconds: Number.NaN, listenPort: null }, null));
    expect(r.success).toBe(false);
    if (!r.success) expect(toFieldErrors(r.error).map((e) => e.path)).toEqual(expect.arrayContaining(['listen.port']));
    const withDefaults = profileSchema.parse(toInput({ ...filled(newDraft('openldap')), dbPort: null, ttlSeconds: null }, null));
    expect([withDefaults.database.port, withDefaults.cache.ttlSeconds]).toEqual([5432, 600]);
  });

  it('a preset changes the kind-dependent fields and keeps what was typed about the servers', () => {
    const ad = filled(newDraft('active-directory'));
    const ldap = applyPreset(ad, 'openldap');
    expect(ldap).toEqual({ ...ad, kind: 'openldap', loginAttribute: 'uid', groupStrategy: 'member-nested', startTls: true });
    expect(applyPreset(ldap, 'active-directory')).toMatchObject({ loginAttribute: presets['active-directory'].loginAttribute, startTls: false, url: ad.url });
  });

  it('field errors go next to their field; the others are listed apart', () => {
    const errors = [
      { path: 'directory.url', message: 'must be ldap:// or ldaps://' },
      { path: 'directory.url', message: 'second message' },
      { path: 'pool.idleSeconds', message: 'too big' },
    ];
    expect(indexErrors(errors, shownPaths)).toEqual({
      byPath: { 'directory.url': 'must be ldap:// or ldaps://' },
      other: [{ path: 'pool.idleSeconds', message: 'too big' }],
    });
    expect(indexErrors(undefined, shownPaths)).toEqual({ byPath: {}, other: [] });
  });

  it('edits several servers, DNS discovery, names and the expiry warning, and gets them back as saved', () => {
    const draft: ProfileDraft = {
      ...filled(newDraft('active-directory')),
      moreUrls: 'ldaps://dc2.corp.example.com:636,\n ldaps://dc3.corp.example.com:636 ',
      domain: ' corp.example.com ',
      site: 'Berlin',
      dnsServers: '10.0.0.53 10.0.1.53',
      upnSuffixes: 'example.com, example.org',
      netbiosDomains: 'CORP',
      globalCatalog: true,
      expiryWarningDays: 14,
    };
    const profile = profileSchema.parse(toInput(draft, null));
    expect(profile.directory).toMatchObject({
      url: 'ldaps://dc1.corp.example.com:636',
      urls: ['ldaps://dc1.corp.example.com:636', 'ldaps://dc2.corp.example.com:636', 'ldaps://dc3.corp.example.com:636'],
      domain: 'corp.example.com',
      site: 'Berlin',
      dnsServers: ['10.0.0.53', '10.0.1.53'],
      upnSuffixes: ['example.com', 'example.org'],
      netbiosDomains: ['CORP'],
      globalCatalog: true,
      expiryWarningDays: 14,
    });
    expect(fromProfile(profile)).toMatchObject({
      url: 'ldaps://dc1.corp.example.com:636',
      moreUrls: 'ldaps://dc2.corp.example.com:636, ldaps://dc3.corp.example.com:636',
      dnsServers: '10.0.0.53, 10.0.1.53',
      upnSuffixes: 'example.com, example.org',
      expiryWarningDays: 14,
    });
    // Saved again unchanged: the same profile, byte for byte as the store writes it.
    expect(JSON.stringify(profileSchema.parse(toInput(fromProfile(profile), profile)))).toBe(JSON.stringify(profile));
  });

  it('a domain-only profile (url "") shows empty server fields and saves as it was', () => {
    const domainOnly = profileSchema.parse({
      id: 'corp',
      name: 'Corp',
      directory: { url: '', domain: 'corp.example.com', bindDn: 'svc@corp.example.com', baseDn: 'DC=corp,DC=example,DC=com' },
      database: { host: 'db.example.com', database: 'hr' },
      listen: { port: 6433 },
    });
    const draft = fromProfile(domainOnly);
    expect(draft).toMatchObject({ url: '', moreUrls: '', domain: 'corp.example.com', site: '', dnsServers: '', expiryWarningDays: 7 });
    expect(profileSchema.parse(toInput(draft, domainOnly))).toEqual(domainOnly);
    // Emptying the domain too leaves no server: the schema says so on the URL field.
    const r = profileSchema.safeParse(toInput({ ...draft, domain: '' }, domainOnly));
    expect(r.success).toBe(false);
    if (!r.success) expect(indexErrors(toFieldErrors(r.error), shownPaths).byPath['directory.url']).toMatch(/or a domain to find them in DNS/);
    // Clearing DNS servers and the site removes them rather than saving empty values.
    const withDns = profileSchema.parse(toInput({ ...draft, dnsServers: '10.0.0.53', site: 'Berlin' }, domainOnly));
    expect(withDns.directory).toMatchObject({ dnsServers: ['10.0.0.53'], site: 'Berlin' });
    const cleared = profileSchema.parse(toInput({ ...fromProfile(withDns), dnsServers: ' ', site: '' }, withDns));
    expect(cleared.directory.dnsServers).toBeUndefined();
    expect(cleared.directory.site).toBeUndefined();
  });

  it('an error on one entry of a list shows on its field, naming the entry', () => {
    const r = profileSchema.safeParse(toInput({ ...filled(newDraft('active-directory')), moreUrls: 'ldaps://ok:636, http://nope', dnsServers: 'dns.example.com' }, null));
    expect(r.success).toBe(false);
    if (r.success) return;
    const { byPath, other } = indexErrors(toFieldErrors(r.error), shownPaths);
    expect(byPath['directory.urls']).toMatch(/^entry 2: /);
    expect(byPath['directory.dnsServers']).toBe('entry 1: must be an IP address, optionally with :port');
    expect(other).toEqual([]);
  });

  it('suggests an id from the name', () => {
    expect(slugify('HR production')).toBe('hr-production');
    expect(slugify('  Café – Finance (EU)  ')).toBe('cafe-finance-eu');
    expect(slugify('x'.repeat(80))).toHaveLength(63);
  });
});
