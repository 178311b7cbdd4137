import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDirectory, serversReportLines } from '../../src-main/core/diagnostics/index.js';
import { createDirectory, passwordExpiryWarning, type Directory } from '../../src-main/core/directory/index.js';
import { fileTimeToDate } from '../../src-main/core/directory/password-expiry.js';
import { silentLogger } from '../../src-main/core/log.js';
import { directorySchema, type DirectoryConfig } from '../../src-main/core/profiles/schema.js';
import { directoryRejection as rejection, directoryTracker } from '../harness/directories.js';
import { freePort } from '../harness/ports.js';
import { startSambaAd, type SambaServer } from '../harness/samba.js';
import { startSilentServer } from '../harness/silent-server.js';

// Active Directory as companies run it, against one real Samba AD DC whose
// internal DNS server publishes the domain's SRV records on 127.0.0.1:53:
// discovery, several DCs, UPN suffixes and NetBIOS domains, the global
// catalog, password expiry, and a DC restarting under a long-lived client.

let ad: SambaServer;
const directories = directoryTracker();
const DAY_MS = 86_400_000;
const SITE = 'Default-First-Site-Name';

function config(overrides: Partial<DirectoryConfig> = {}): DirectoryConfig {
  return directorySchema.parse({
    kind: 'active-directory',
    caFile: ad.pki.caFile,
    bindDn: ad.serviceLogin,
    baseDn: ad.baseDn,
    timeoutMs: 3000,
    ...overrides,
  });
}

/** Discovery through the DC's own DNS server, unless the overrides name servers instead. */
function dir(overrides: Partial<DirectoryConfig> = {}): Directory {
  const base = overrides.url === undefined && overrides.urls === undefined ? { domain: 'corp.test', dnsServers: [ad.dnsServer as string] } : {};
  return directories.track(createDirectory(config({ ...base, ...overrides }), ad.servicePassword, silentLogger));
}

/** An attribute of a user as the DC stores it (read locally, not through the code under test). */
async function attributeOf(login: string, attribute: string): Promise<string> {
  const out = await ad.ldbSearch(`(sAMAccountName=${login})`, [attribute]);
  const m = new RegExp(`^${attribute}: (.*)$`, 'mi').exec(out);
  if (m?.[1] === undefined) throw new Error(`${login} has no ${attribute}`);
  return m[1];
}

beforeAll(async () => {
  ad = await startSambaAd({ dns: true });
  await ad.createUser('alice', 'Alice-Pass-1', 'Alice', 'Test');
  await ad.createUser('uma', 'Uma-Pass-1', 'Uma', 'Test');
  await ad.createUser('vic', 'Vic-Pass-1', 'Vic', 'Test');
  await ad.createUser('soon', 'Soon-Pass-1', 'Soon', 'Test');
  await ad.createUser('forever', 'Forever-Pass-1', 'Forever', 'Test');
  await ad.addGroup('pg-developers');
  await ad.sambaTool(['group', 'add', 'pg-forest', '--group-scope=Universal']);
  await ad.addMembers('pg-developers', ['alice', 'uma']);
  await ad.addMembers('pg-forest', ['alice']);
  // An extra UPN suffix for the forest; uma signs in as uma@example.com.
  await ad.modify(`dn: CN=Partitions,CN=Configuration,${ad.baseDn}\nchangetype: modify\nadd: uPNSuffixes\nuPNSuffixes: example.com\n`);
  await ad.modify(`dn: CN=Uma Test,${ad.usersDn}\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: uma@example.com\n`);
  // A second account whose UPN claims alice's name under that suffix: alice@example.com must never pick one at random.
  await ad.modify(`dn: CN=Vic Test,${ad.usersDn}\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: vic.alias@example.com\n`);
  // soon's password expires two days after it was set (fine-grained policy); forever's never does.
  await ad.sambaTool(['domain', 'passwordsettings', 'pso', 'create', 'two-days', '1', '--max-pwd-age=2']);
  await ad.sambaTool(['domain', 'passwordsettings', 'pso', 'apply', 'two-days', 'soon']);
  await ad.sambaTool(['user', 'setexpiry', 'forever', '--noexpiry']);
});

afterAll(async () => {
  await directories.closeAll();
  await ad?.stop();
});

describe('finding domain controllers in DNS', () => {
  it('domain discovery finds the DC from _ldap._tcp.dc._msdcs and signs in over LDAPS, checking the certificate against its name', async () => {
    const d = dir();
    expect((await d.authenticate('alice', 'Alice-Pass-1')).groups).toEqual(['pg-developers', 'pg-forest']);
    const { discovery, servers } = d.report();
    expect(discovery?.queries).toEqual([
      { name: '_ldaps._tcp.corp.test', found: [] },
      { name: '_ldap._tcp.dc._msdcs.corp.test', found: ['dc.corp.test:389'] },
    ]);
    expect(servers).toEqual([expect.objectContaining({ url: 'ldaps://dc.corp.test:636', source: 'dns', state: 'up' })]);
  });

  it('with StartTLS it uses the record\'s own port, and test() names the DC that answered', async () => {
    const r = await dir({ startTls: true }).test();
    expect(r.details).toMatch(/^connected to ldap:\/\/dc\.corp\.test:389 \(StartTLS, certificate verified\), bound as /);
    expect(r.report.servers[0]?.state).toBe('up');
  });

  it('a site\'s DCs are asked for first; an unknown site falls back to the domain-wide record', async () => {
    const inSite = dir({ site: SITE });
    await inSite.authenticate('alice', 'Alice-Pass-1');
    expect(inSite.report().discovery?.queries.map((q) => [q.name, q.found])).toEqual([
      [`_ldaps._tcp.${SITE}._sites.corp.test`, []],
      ['_ldaps._tcp.corp.test', []],
      [`_ldap._tcp.${SITE}._sites.dc._msdcs.corp.test`, ['dc.corp.test:389']],
      ['_ldap._tcp.dc._msdcs.corp.test', ['dc.corp.test:389']],
    ]);
    const elsewhere = dir({ site: 'Branch-Office' });
    await elsewhere.authenticate('alice', 'Alice-Pass-1');
    expect(elsewhere.report().servers.map((s) => s.url)).toEqual(['ldaps://dc.corp.test:636']);
  });

  it('_ldaps._tcp where published wins, in SRV priority order, and a dead DC listed first costs one failover', async () => {
    // 127.0.0.2 is loopback too, but Samba listens on 127.0.0.1 only: connections there are refused.
    await ad.setDnsRecords('dead.corp.test', [{ type: 'A', address: '127.0.0.2' }]);
    await ad.setDnsRecords('_ldaps._tcp.corp.test', [
      { type: 'SRV', target: 'dc.corp.test', port: 636, priority: 10, weight: 100 },
      { type: 'SRV', target: 'dead.corp.test', port: 636, priority: 0, weight: 100 },
    ]);
    try {
      const d = dir();
      expect((await d.authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
      expect(d.report().discovery?.queries).toEqual([{ name: '_ldaps._tcp.corp.test', found: ['dead.corp.test:636', 'dc.corp.test:636'] }]);
      expect(d.report().servers.map((s) => [s.url, s.state])).toEqual([
        ['ldaps://dc.corp.test:636', 'up'],
        ['ldaps://dead.corp.test:636', 'down'],
      ]);
    } finally {
      await ad.setDnsRecords('_ldaps._tcp.corp.test', []);
    }
  });

  it('a domain DNS does not know is "unreachable" with what was asked, unless the profile also lists a URL', async () => {
    const e = await rejection(dir({ domain: 'nowhere.test', dnsServers: [ad.dnsServer as string] }).authenticate('alice', 'Alice-Pass-1'));
    expect(e.failure).toBe('unreachable');
    // Samba's DNS forwards a zone it does not hold and answers SERVFAIL when that fails.
    expect(e.message).toMatch(/^no directory servers found in DNS for nowhere\.test \(_ldaps\._tcp\.nowhere\.test: .*; _ldap\._tcp\.dc\._msdcs\.nowhere\.test: /);
    const withUrl = dir({ domain: 'nowhere.test', dnsServers: [ad.dnsServer as string], urls: [ad.ldapsUrl] });
    expect((await withUrl.authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
  });
});

describe('several DCs', () => {
  it('a list whose first DC is a closed port signs in on the second', async () => {
    const closed = `ldaps://127.0.0.1:${await freePort()}`;
    const d = dir({ urls: [closed, ad.ldapsUrl] });
    expect((await d.authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
    expect(d.report().servers.map((s) => [s.url, s.state])).toEqual([[ad.ldapsUrl, 'up'], [closed, 'down']]);
  });

  it('a first DC that accepts and never answers costs one timeoutMs: the sign-in then succeeds on the next', async () => {
    const silent = await startSilentServer();
    try {
      const d = dir({ urls: [`ldaps://127.0.0.1:${silent.port}`, ad.ldapsUrl], timeoutMs: 1000 });
      expect((await d.authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
      expect(silent.accepted).toBe(1);
      expect(d.report().servers[1]?.lastError).toMatch(/within 1000 ms/);
    } finally {
      await silent.close();
    }
  });

  it('all DCs down: unreachable; the same client and its service connection recover when the DC is back', async () => {
    const closed = `ldaps://127.0.0.1:${await freePort()}`;
    const listed = dir({ urls: [closed, ad.ldapsUrl] });
    const discovered = dir();
    await listed.authenticate('alice', 'Alice-Pass-1');
    await discovered.authenticate('alice', 'Alice-Pass-1');
    await ad.stopDaemon();
    try {
      const e = await rejection(listed.authenticate('alice', 'Alice-Pass-1'));
      expect(e.failure).toBe('unreachable');
      // DNS (here the DC itself) is down too: discovery keeps the DC and its address it found, and the DC does not answer.
      const down = await rejection(discovered.lookup('alice'));
      expect([down.failure, down.message]).toEqual(['unreachable', 'cannot reach the directory at ldaps://dc.corp.test:636 (ECONNREFUSED)']);
    } finally {
      await ad.startDaemon();
    }
    expect((await listed.authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
    expect((await discovered.authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
    // One service bind before the restart and one after: the pool reconnected by itself.
    expect(listed.report().counters).toMatchObject({ serviceBinds: 2, userBinds: 2 });
  });
});

describe('what "Test directory" and rolecall doctor show (core/diagnostics)', () => {
  it('the DNS queries and what each named, then every DC in the order a sign-in tries them, with whether it answered', async () => {
    const closed = `ldaps://127.0.0.1:${await freePort()}`;
    const check = await checkDirectory(config({ domain: 'corp.test', dnsServers: [ad.dnsServer as string], urls: [closed] }), ad.servicePassword, { logger: silentLogger });
    expect(check.ok).toBe(true);
    expect(check.servers).toEqual({
      discovery: {
        domain: 'corp.test',
        dnsServers: [ad.dnsServer],
        queries: [
          { name: '_ldaps._tcp.corp.test', found: [] },
          { name: '_ldap._tcp.dc._msdcs.corp.test', found: ['dc.corp.test:389'] },
        ],
      },
      servers: [
        { url: 'ldaps://dc.corp.test:636', source: 'dns', state: 'up' },
        { url: closed, source: 'config', state: 'down', lastError: `cannot reach the directory at ${closed} (ECONNREFUSED)` },
      ],
    });
    expect(serversReportLines(check.servers)).toEqual([
      `DNS (${ad.dnsServer}) for corp.test:`,
      '  _ldaps._tcp.corp.test: none',
      '  _ldap._tcp.dc._msdcs.corp.test: dc.corp.test:389',
      'servers, in the order a sign-in tries them:',
      '  1. ldaps://dc.corp.test:636 (from DNS) ✓ answered',
      `  2. ${closed} (configured) ✗ failed: cannot reach the directory at ${closed} (ECONNREFUSED)`,
    ]);
    expect(check.steps[0]).toEqual({ step: 'connect', ok: true, message: 'connected to ldaps://dc.corp.test:636 (LDAPS, certificate verified)' });
  });

  it('a domain-only profile whose base DN fails names the DC it connected to', async () => {
    const check = await checkDirectory(config({ domain: 'corp.test', dnsServers: [ad.dnsServer as string], baseDn: 'DC=missing,DC=test' }), ad.servicePassword, { logger: silentLogger });
    expect(check.steps.map((s) => [s.step, s.ok])).toEqual([['connect', true], ['service bind', true], ['base DN', false]]);
    expect(check.steps[0]?.message).toBe('connected to ldaps://dc.corp.test:636');
  });
});

describe('names across the forest', () => {
  it('an account with an extra UPN suffix signs in by its UPN and by name@domain, as one login', async () => {
    const d = dir();
    for (const typed of ['uma@example.com', 'UMA@EXAMPLE.COM', 'uma@corp.test', 'CORP\\uma', 'uma']) {
      expect((await d.authenticate(typed, 'Uma-Pass-1')).login, typed).toBe('uma');
    }
  });

  it('upnSuffixes lets name@suffix mean the account name; two accounts answering is refused, never guessed', async () => {
    expect((await rejection(dir().authenticate('alice@example.com', 'Alice-Pass-1'))).failure).toBe('invalid-credentials');
    const d = dir({ upnSuffixes: ['example.com'] });
    expect((await d.authenticate('alice@example.com', 'Alice-Pass-1')).login).toBe('alice');
    // vic's UPN is vic.alias@example.com; an account named vic.alias would make that login ambiguous.
    await ad.createUser('vic.alias', 'Alias-Pass-1', 'Alias', 'Test');
    const e = await rejection(d.authenticate('vic.alias@example.com', 'Vic-Pass-1'));
    expect(e.failure).toBe('ambiguous');
    expect(e.message).toMatch(/matches 2 directory accounts/);
  });

  it('DOMAIN\\name only for the listed NetBIOS domains; others are refused by name', async () => {
    const d = dir({ netbiosDomains: ['CORP'] });
    expect((await d.authenticate('corp\\alice', 'Alice-Pass-1')).login).toBe('alice');
    const e = await rejection(d.authenticate('EVIL\\alice', 'Alice-Pass-1'));
    expect(e.failure).toBe('domain-not-accepted');
    expect(e.message).toBe('the domain "EVIL" is not one this profile accepts: sign in as CORP\\name, or name@domain');
  });

  it('the global catalog (3269) finds users and universal groups; a URL on 636 means that DC\'s GC', async () => {
    const d = dir({ urls: [ad.ldapsUrl], globalCatalog: true });
    const user = await d.authenticate('alice', 'Alice-Pass-1');
    expect(user.groups).toContain('pg-forest');
    expect(d.report().servers.map((s) => s.url)).toEqual(['ldaps://127.0.0.1:3269']);
    expect((await d.authenticate('uma@example.com', 'Uma-Pass-1')).login).toBe('uma');
    const found = dir({ globalCatalog: true });
    await found.authenticate('alice', 'Alice-Pass-1');
    expect(found.report().discovery?.queries[0]).toEqual({ name: '_gc._tcp.corp.test', found: ['dc.corp.test:3268'] });
    expect(found.report().servers.map((s) => s.url)).toEqual(['ldaps://dc.corp.test:3269']);
  });
});

describe('password expiry (msDS-UserPasswordExpiryTimeComputed)', () => {
  it('a password two days from expiry: the sign-in returns it, and the warning says "2 days"', async () => {
    const user = await dir().authenticate('soon', 'Soon-Pass-1');
    const setAt = fileTimeToDate(await attributeOf('soon', 'pwdLastSet')) as Date;
    expect(user.passwordExpiresAt).toEqual(new Date(setAt.getTime() + 2 * DAY_MS));
    expect(passwordExpiryWarning(user.passwordExpiresAt, config({ url: ad.ldapsUrl }).expiryWarningDays)?.message).toBe(
      'your directory password expires in 2 days',
    );
  });

  it('none when far away (the domain\'s 42 days) or never', async () => {
    const d = dir();
    const alice = await d.authenticate('alice', 'Alice-Pass-1');
    const setAt = fileTimeToDate(await attributeOf('alice', 'pwdLastSet')) as Date;
    expect(alice.passwordExpiresAt).toEqual(new Date(setAt.getTime() + 42 * DAY_MS));
    expect(passwordExpiryWarning(alice.passwordExpiresAt, 7)).toBeNull();
    expect((await d.authenticate('forever', 'Forever-Pass-1')).passwordExpiresAt).toBeUndefined();
  });
});
