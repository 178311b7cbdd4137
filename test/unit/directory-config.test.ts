import { describe, expect, it } from 'vitest';
import { directorySchema, toFieldErrors } from '../../src-main/core/profiles/schema.js';

const base = { bindDn: 'svc@corp.test', baseDn: 'DC=corp,DC=test' };

function errors(input: Record<string, unknown>) {
  const r = directorySchema.safeParse({ ...base, ...input });
  return r.success ? [] : toFieldErrors(r.error);
}

describe('directory servers in a profile', () => {
  it('a single url still works and is the whole list', () => {
    const d = directorySchema.parse({ ...base, url: 'ldaps://dc1.corp.test:636' });
    expect([d.url, d.urls]).toEqual(['ldaps://dc1.corp.test:636', ['ldaps://dc1.corp.test:636']]);
  });

  it('urls is the ordered list; url, when also given, comes first and counts once', () => {
    const d = directorySchema.parse({ ...base, urls: ['ldaps://dc1.corp.test', 'ldaps://dc2.corp.test'] });
    expect([d.url, d.urls]).toEqual(['ldaps://dc1.corp.test', ['ldaps://dc1.corp.test', 'ldaps://dc2.corp.test']]);
    const both = directorySchema.parse({ ...base, url: 'ldaps://dc2.corp.test', urls: ['ldaps://dc1.corp.test', 'ldaps://DC2.corp.test/'] });
    expect(both.urls).toEqual(['ldaps://dc2.corp.test', 'ldaps://dc1.corp.test']);
  });

  it('parsing what was parsed changes nothing (the store writes the parsed form)', () => {
    for (const input of [
      { url: 'ldaps://dc1.corp.test' },
      { url: 'ldaps://dc1.corp.test', urls: ['ldaps://dc2.corp.test'] },
      { domain: 'corp.test', site: 'Berlin', dnsServers: ['127.0.0.1', '[::1]:5353'] },
      { domain: 'corp.test', urls: ['ldaps://fallback.corp.test'] },
    ]) {
      const once = directorySchema.parse({ ...base, ...input });
      expect(directorySchema.parse(once), JSON.stringify(input)).toEqual(once);
    }
  });

  it('a domain alone is enough: url is then "" and urls empty', () => {
    const d = directorySchema.parse({ ...base, domain: 'corp.test' });
    expect([d.url, d.urls, d.expiryWarningDays, d.serviceConnections, d.deadServerSeconds]).toEqual(['', [], 7, 2, 60]);
  });

  it('needs a url, urls or a domain, and site needs a domain', () => {
    expect(errors({})).toEqual([{ path: 'url', message: expect.stringContaining('url') }]);
    expect(errors({ url: '' })).toEqual([{ path: 'url', message: expect.stringContaining('domain') }]);
    expect(errors({ url: 'ldaps://dc1', site: 'Berlin' })).toEqual([{ path: 'site', message: expect.stringContaining('needs domain') }]);
  });

  it('names bad values by field', () => {
    expect(errors({ urls: ['ldaps://dc1', 'http://x'] }).map((e) => e.path)).toContain('urls.1');
    expect(errors({ domain: 'not a domain' }).map((e) => e.path)).toContain('domain');
    expect(errors({ domain: 'corp.test', dnsServers: ['dns.corp.test'] }).map((e) => e.path)).toEqual(['dnsServers.0']);
    expect(errors({ url: 'ldaps://dc1', netbiosDomains: ['CORP\\'] }).map((e) => e.path)).toEqual(['netbiosDomains.0']);
    expect(errors({ url: 'ldaps://dc1', serviceIdleSeconds: 5 }).map((e) => e.path)).toEqual(['serviceIdleSeconds']);
  });
});
