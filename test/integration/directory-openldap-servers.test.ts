import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectory, passwordExpiryWarning, type Directory, type DirectoryOptions } from '../../src-main/core/directory/index.js';
import { MIN_WAKE_MS, type PoolTimers } from '../../src-main/core/directory/service-pool.js';
import { silentLogger } from '../../src-main/core/log.js';
import { directorySchema, type DirectoryConfig } from '../../src-main/core/profiles/schema.js';
import { generalizedTimeToDate } from '../../src-main/core/directory/password-expiry.js';
import { directoryRejection as rejection, directoryTracker } from '../harness/directories.js';
import { freePort } from '../harness/ports.js';
import { startSilentServer } from '../harness/silent-server.js';
import { startTcpRelay } from '../harness/tcp-relay.js';
import { startSlapd, type SlapdServer } from '../harness/slapd.js';

// Several servers, the pooled service connections and ppolicy password
// expiry, against a real slapd (restarted in place where a test needs it).

let slapd: SlapdServer;
const directories = directoryTracker();
const DAY_S = 86_400;

function config(overrides: Partial<DirectoryConfig> = {}): DirectoryConfig {
  return directorySchema.parse({
    kind: 'openldap',
    // A test that lists servers lists all of them (a url would come first).
    url: overrides.urls === undefined ? slapd.url : '',
    bindDn: slapd.serviceDn,
    baseDn: slapd.baseDn,
    groupBaseDn: slapd.groupsDn,
    timeoutMs: 1000,
    ...overrides,
  });
}

function dir(overrides: Partial<DirectoryConfig> = {}, options: DirectoryOptions = {}): Directory {
  return directories.track(createDirectory(config(overrides), slapd.servicePassword, silentLogger, options));
}

beforeAll(async () => {
  slapd = await startSlapd();
  const alice = await slapd.addUser('alice', 'alice-pw');
  await slapd.addGroup('pg-dev', [alice]);
});

afterAll(async () => {
  await directories.closeAll();
  await slapd?.stop();
});

describe('several directory servers', () => {
  it('skips a first server that refuses connections, and tries it last from then on', async () => {
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    const d = dir({ urls: [closed, slapd.url] });
    expect((await d.authenticate('alice', 'alice-pw')).groups).toEqual(['pg-dev']);
    const [first, second] = d.report().servers;
    expect(first).toMatchObject({ url: slapd.url, state: 'up', source: 'config' });
    expect(second).toMatchObject({ url: closed, state: 'down', lastError: expect.stringContaining('ECONNREFUSED') });
    expect((await d.authenticate('alice', 'alice-pw')).login).toBe('alice');
  });

  it('gives a server that accepts and never answers one timeout, then remembers it for deadServerSeconds', async () => {
    const silent = await startSilentServer();
    let now = Date.now();
    try {
      const hanging = `ldap://127.0.0.1:${silent.port}`;
      const d = dir({ urls: [hanging, slapd.url], timeoutMs: 500, deadServerSeconds: 60 }, { now: () => now });
      expect((await d.authenticate('alice', 'alice-pw')).login).toBe('alice');
      expect(silent.accepted).toBe(1);
      expect(d.report().servers.map((s) => [s.url, s.state])).toEqual([[slapd.url, 'up'], [hanging, 'down']]);
      expect(d.report().servers[1]?.lastError).toMatch(/within 500 ms/);
      // A new connection (the user bind) goes to the answering server, not to the hanging one.
      await d.authenticate('alice', 'alice-pw');
      expect(silent.accepted).toBe(1);
      // Once the memory has passed, the configured order is back.
      now += 61_000;
      expect(d.report().servers.map((s) => s.url)).toEqual([hanging, slapd.url]);
    } finally {
      await silent.close();
    }
  });

  it('says unreachable only when every server failed, and the same client recovers when one is back', async () => {
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    const d = dir({ urls: [closed, slapd.url] });
    await d.authenticate('alice', 'alice-pw');
    await slapd.stopDaemon();
    try {
      const e = await rejection(d.authenticate('alice', 'alice-pw'));
      expect(e.failure).toBe('unreachable');
      expect(e.message).toMatch(/none of 2 directory servers answered/);
      expect(d.report().servers.every((s) => s.state === 'down')).toBe(true);
    } finally {
      await slapd.startDaemon();
    }
    expect((await d.authenticate('alice', 'alice-pw')).login).toBe('alice');
    expect(d.report().servers.find((s) => s.url === slapd.url)?.state).toBe('up');
  });

  it('probe() tries every server and reports which answered', async () => {
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    const d = dir({ urls: [slapd.url, closed] });
    const report = await d.probe();
    expect(report.servers.map((s) => [s.url, s.state])).toEqual([[slapd.url, 'up'], [closed, 'down']]);
    expect(report.discovery).toBeUndefined();
  });
});

describe('service connections', () => {
  it('N sign-ins cost N user binds and at most serviceConnections service binds, one after another or all at once', async () => {
    const d = dir({ serviceConnections: 2 });
    for (let i = 0; i < 5; i++) await d.authenticate('alice', 'alice-pw');
    expect(d.report().counters).toMatchObject({ userBinds: 5, serviceBinds: 1 });
    await Promise.all(Array.from({ length: 10 }, () => d.authenticate('alice', 'alice-pw')));
    await Promise.all(Array.from({ length: 5 }, () => d.lookup('alice')));
    await d.test();
    const { counters, serviceConnections } = d.report();
    expect(counters.userBinds).toBe(15);
    expect(counters.serviceBinds).toBeLessThanOrEqual(2);
    // Every service connection was bound once; the user binds each had their own.
    expect(counters.connections).toBe(counters.serviceBinds + counters.userBinds);
    expect(serviceConnections).toEqual({ open: counters.serviceBinds, size: 2 });
  });

  it('survive the directory restarting: the next sign-in and lookup reconnect without an error', async () => {
    const d = dir();
    await d.authenticate('alice', 'alice-pw');
    await slapd.stopDaemon();
    await slapd.startDaemon();
    expect((await d.authenticate('alice', 'alice-pw')).login).toBe('alice');
    expect((await d.lookup('alice'))?.groups).toEqual(['pg-dev']);
    expect(d.report().counters).toMatchObject({ serviceBinds: 2, userBinds: 2 });
  });

  it('replace a connection that hangs mid-request: one timeout, then the same request on a new connection', async () => {
    const relay = await startTcpRelay(slapd.port);
    try {
      const d = dir({ url: `ldap://127.0.0.1:${relay.port}`, timeoutMs: 500 });
      await d.authenticate('alice', 'alice-pw');
      relay.freezeOpen();
      expect((await d.authenticate('alice', 'alice-pw')).groups).toEqual(['pg-dev']);
      expect(d.report().counters).toMatchObject({ serviceBinds: 2, userBinds: 2 });
    } finally {
      await relay.close();
    }
  });

  it('are closed when idle by one timer that never fires more than once a minute, and none once the pool is empty', async () => {
    let now = Date.now();
    const scheduled: { fn: () => void; ms: number; cleared: boolean }[] = [];
    const timers: PoolTimers = {
      setTimeout(fn, ms) {
        const t = { fn, ms, cleared: false };
        scheduled.push(t);
        return t;
      },
      clearTimeout(h) {
        (h as { cleared: boolean }).cleared = true;
      },
    };
    const fire = (): void => {
      const t = scheduled.at(-1);
      if (t === undefined || t.cleared) throw new Error('no timer to fire');
      t.cleared = true;
      t.fn();
    };
    const d = dir({ serviceIdleSeconds: 120 }, { timers, now: () => now });
    await d.authenticate('alice', 'alice-pw');
    await d.lookup('alice');
    expect(scheduled.map((t) => t.ms)).toEqual([120_000]);
    // Used again 30 s later: the sweep that fires finds it not idle long enough and waits again, a minute at least.
    now += 30_000;
    await d.lookup('alice');
    now += 90_000;
    fire();
    expect(d.report().serviceConnections.open).toBe(1);
    expect(scheduled.at(-1)?.ms).toBe(MIN_WAKE_MS);
    now += 60_000;
    fire();
    expect(d.report().serviceConnections.open).toBe(0);
    expect(scheduled.filter((t) => !t.cleared)).toEqual([]);
    // The next sign-in opens (and binds) a new one.
    await d.authenticate('alice', 'alice-pw');
    expect(d.report().counters.serviceBinds).toBe(2);
    expect(scheduled.every((t) => t.ms >= MIN_WAKE_MS)).toBe(true);
  });
});

describe('password expiry (ppolicy)', () => {
  let twoDays: string;

  beforeAll(async () => {
    twoDays = await slapd.addPolicy('two-days', { pwdMaxAge: String(2 * DAY_S) });
    const year = await slapd.addPolicy('one-year', { pwdMaxAge: String(365 * DAY_S) });
    await slapd.addUser('soon', 'soon-pw', { policy: twoDays });
    await slapd.addUser('later', 'later-pw', { policy: year });
    await slapd.addUser('never', 'never-pw');
  });

  async function changedAt(uid: string): Promise<Date> {
    const { pwdChangedTime } = await slapd.readAttributes(slapd.userDn(uid), ['pwdChangedTime']);
    const d = generalizedTimeToDate(pwdChangedTime);
    if (d === undefined) throw new Error(`no pwdChangedTime on ${uid}`);
    return d;
  }

  it('a password two days from its pwdMaxAge: the sign-in says when, and the warning says "2 days"', async () => {
    const d = dir();
    const user = await d.authenticate('soon', 'soon-pw');
    expect(user.passwordExpiresAt).toEqual(new Date((await changedAt('soon')).getTime() + 2 * DAY_S * 1000));
    expect(passwordExpiryWarning(user.passwordExpiresAt, config().expiryWarningDays)?.message).toBe('your directory password expires in 2 days');
    expect((await d.lookup('soon'))?.passwordExpiresAt).toEqual(user.passwordExpiresAt);
  });

  it('no warning when the expiry is far away, and no expiry when no policy ages the password', async () => {
    const d = dir();
    const later = await d.authenticate('later', 'later-pw');
    expect(later.passwordExpiresAt).toEqual(new Date((await changedAt('later')).getTime() + 365 * DAY_S * 1000));
    expect(passwordExpiryWarning(later.passwordExpiresAt, 7)).toBeNull();
    expect((await d.authenticate('never', 'never-pw')).passwordExpiresAt).toBeUndefined();
  });

  it('passwordPolicyDn names the policy of accounts without pwdPolicySubentry (slapd\'s ppolicy_default)', async () => {
    // Created under the two-day policy (so slapd records pwdChangedTime), then left to the default.
    await slapd.addUser('dora', 'dora-pw', { policy: twoDays });
    await slapd.setAttribute(slapd.userDn('dora'), 'pwdPolicySubentry', []);
    expect((await dir().authenticate('dora', 'dora-pw')).passwordExpiresAt).toBeUndefined();
    const user = await dir({ passwordPolicyDn: twoDays }).authenticate('dora', 'dora-pw');
    expect(user.passwordExpiresAt).toEqual(new Date((await changedAt('dora')).getTime() + 2 * DAY_S * 1000));
  });
});
