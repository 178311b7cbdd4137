import { describe, expect, it } from 'vitest';
import { DesktopNotifier, type NotificationSink } from '../../src-main/electron/notifications.js';
import type { ConnectionEvent, ProxyStatus } from '../../src-main/core/proxy/profile-proxy.js';

// Which engine events become desktop notifications, worded for the user, and
// how often. Plain Node: the notifier writes to a sink (Electron's Notification in the app).

function harness() {
  let now = 1_000_000;
  const shown: Parameters<NotificationSink['show']>[0][] = [];
  const notifier = new DesktopNotifier({ show: (n) => shown.push(n) }, { now: () => now });
  return { notifier, shown, advance: (ms: number) => (now += ms) };
}

function denied(login: string, message = `"${login}" is not in any group allowed on this database`, profileId = 'hr-prod'): ConnectionEvent {
  return {
    profileId,
    outcome: 'denied',
    sqlstate: '28000',
    message,
    session: {
      id: 1,
      startedAt: 0,
      clientAddress: '127.0.0.1',
      typedLogin: login,
      login,
      database: 'app',
      applicationName: 'DataGrip',
      groups: [],
      cacheHit: false,
      authLatencyMs: 12,
      bytesFromClient: 0,
      bytesToClient: 0,
    },
  } as ConnectionEvent;
}

function status(state: ProxyStatus['state'], error: string | null = null): ProxyStatus {
  return {
    profileId: 'hr-prod',
    name: 'HR production',
    mode: 'direct',
    state,
    host: '127.0.0.1',
    port: 6432,
    error,
    activeConnections: 0,
    sessions: [],
    counters: {} as ProxyStatus['counters'],
    passwordWarnings: [],
  };
}

describe('DesktopNotifier', () => {
  it('tells who was denied, where, and the reason the client got, with its SQLSTATE', () => {
    const { notifier, shown } = harness();
    notifier.connection(denied('alice'), 'HR production');
    expect(shown).toEqual([
      { title: 'Rolecall denied alice on HR production', body: '"alice" is not in any group allowed on this database (SQLSTATE 28000)', page: 'history' },
    ]);
  });

  it('says once a day per login that its directory password expires soon, with what to do', () => {
    const { notifier, shown, advance } = harness();
    const warning = { login: 'alice', expiresAt: '2026-12-04T10:00:00.000Z', daysLeft: 3, message: 'your directory password expires in 3 days', hint: 'Change it before 2026-12-04 10:00 UTC.' };
    const signedIn = (profileId: string, login = 'alice'): ConnectionEvent => {
      const e = denied(login, '', profileId);
      return { ...e, outcome: 'success', sqlstate: null, message: null, session: { ...e.session, passwordWarning: { ...warning, login } } };
    };
    notifier.connection(signedIn('hr-prod'), 'HR production');
    expect(shown).toEqual([{ title: 'Rolecall (alice): your directory password expires in 3 days', body: 'Change it before 2026-12-04 10:00 UTC.', page: 'status' }]);
    // More connections that day, on this profile or another: nothing more, and they leave denials their own limits.
    advance(3_600_000);
    notifier.connection(signedIn('hr-prod'), 'HR production');
    notifier.connection(signedIn('sales'), 'Sales');
    notifier.connection(denied('alice'), 'HR production');
    expect(shown.map((n) => n.title)).toEqual(['Rolecall (alice): your directory password expires in 3 days', 'Rolecall denied alice on HR production']);
    notifier.connection(signedIn('hr-prod', 'bob'), 'HR production');
    expect(shown).toHaveLength(3);
    advance(86_400_000);
    notifier.connection(signedIn('hr-prod'), 'HR production');
    expect(shown).toHaveLength(4);
  });

  it('stays quiet for successful, failed and aborted connections', () => {
    const { notifier, shown } = harness();
    for (const outcome of ['success', 'error', 'aborted'] as const) notifier.connection({ ...denied('alice'), outcome }, 'HR production');
    expect(shown).toEqual([]);
  });

  it('shows one notification for an IDE retrying a denied login, then says how many were held back', () => {
    const { notifier, shown, advance } = harness();
    for (let i = 0; i < 20; i++) {
      notifier.connection(denied('alice'), 'HR production');
      advance(2000);
    }
    expect(shown).toHaveLength(1);
    advance(30_000);
    notifier.connection(denied('alice'), 'HR production');
    expect(shown).toHaveLength(2);
    expect(shown[1]!.body).toMatch(/\(\d+ more like this were not shown\)$/);
  });

  it('lets different logins through, up to a cap per minute', () => {
    const { notifier, shown, advance } = harness();
    for (const login of ['a', 'b', 'c', 'd', 'e', 'f']) notifier.connection(denied(login), 'HR production');
    expect(shown.map((n) => n.title)).toEqual(['a', 'b', 'c', 'd'].map((l) => `Rolecall denied ${l} on HR production`));
    advance(61_000);
    notifier.connection(denied('f'), 'HR production');
    expect(shown.at(-1)!.title).toBe('Rolecall denied f on HR production');
  });

  it('notifies once when a proxy stops on an error, with the error, not again while it stays failed', () => {
    const { notifier, shown, advance } = harness();
    notifier.status(status('starting'));
    notifier.status(status('running'));
    expect(shown).toEqual([]);
    notifier.status(status('error', 'port 6432 on 127.0.0.1 is already in use'));
    advance(120_000);
    notifier.status(status('error', 'port 6432 on 127.0.0.1 is already in use'));
    expect(shown).toEqual([{ title: 'Rolecall: HR production is not running', body: 'port 6432 on 127.0.0.1 is already in use', page: 'status' }]);
    // Fixed, started, failed again later: that is news.
    notifier.status(status('running'));
    notifier.status(status('error', 'listener closed'));
    expect(shown).toHaveLength(2);
  });

  it('does not notify a plain stop', () => {
    const { notifier, shown } = harness();
    notifier.status(status('running'));
    notifier.status(status('stopping'));
    notifier.status(status('stopped'));
    expect(shown).toEqual([]);
  });

  it('tells when the team broker cannot be reached, once a minute per profile, and when its certificate is not trusted', () => {
    const { notifier, shown, advance } = harness();
    const unreachable = { kind: 'unreachable' as const, profileId: 'hr', profileName: 'HR (team)', login: 'alice', message: 'the team broker at https://broker.corp.test is not reachable' };
    notifier.broker(unreachable);
    notifier.broker({ ...unreachable, login: 'bob' });
    expect(shown).toEqual([
      {
        title: "Rolecall cannot reach your team's broker (HR (team))",
        body: 'the team broker at https://broker.corp.test is not reachable. Check your VPN or network; other profiles keep working, and nothing needs a restart when it is back.',
        page: 'status',
      },
    ]);
    advance(61_000);
    notifier.broker(unreachable);
    expect(shown).toHaveLength(2);
    notifier.broker({ ...unreachable, kind: 'certificate', message: "the team broker's certificate at https://broker.corp.test could not be verified: self-signed certificate" });
    expect(shown.at(-1)).toMatchObject({ title: "Rolecall does not trust your team's broker (HR (team))", body: expect.stringContaining('self-signed certificate. Ask your team') });
  });

  it('tells when a login is held after a wrong password, with how long to wait', () => {
    const { notifier, shown } = harness();
    notifier.broker({ kind: 'throttled', profileId: 'hr', profileName: 'HR (team)', login: 'alice', message: 'password authentication failed for user "alice"', retryAfterSeconds: 27 });
    expect(shown).toEqual([
      {
        title: 'Sign-ins for alice are on hold (HR (team))',
        body: 'password authentication failed for user "alice". Try again in 27 s. Holding them keeps retries from locking your directory account.',
        page: 'history',
      },
    ]);
  });
});
