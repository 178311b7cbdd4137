import type { ConnectionEvent, ProxyState, ProxyStatus } from '../core/proxy/profile-proxy.js';
import type { BrokerTroubleEvent } from '../core/service.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';

/** Where a notification goes: Electron's Notification in the app, a list in tests. */
export interface NotificationSink {
  show(note: { title: string; body: string; page: 'status' | 'history' }): void;
}

const defaults: RateLimitOptions = { perKeyIntervalMs: 60_000, maxPerWindow: 4, windowMs: 60_000 };
const DAY_MS = 86_400_000;

/**
 * Decides which engine events deserve a desktop notification and words them
 * so the user can act: a denied connection with the reason the proxy gave the
 * client, a proxy that went into error with its message. Rate-limited.
 */
export class DesktopNotifier {
  private readonly limiter: RateLimiter;
  /** Password expiry: once a day per login, whatever else was shown. */
  private readonly daily: RateLimiter;
  private readonly lastState = new Map<string, ProxyState>();

  constructor(
    private readonly sink: NotificationSink,
    limits: Partial<RateLimitOptions> = {},
  ) {
    this.limiter = new RateLimiter({ ...defaults, ...limits });
    this.daily = new RateLimiter({ perKeyIntervalMs: DAY_MS, maxPerWindow: Number.MAX_SAFE_INTEGER, windowMs: DAY_MS, ...(limits.now ? { now: limits.now } : {}) });
  }

  connection(event: ConnectionEvent, profileName: string): void {
    if (event.outcome === 'success') this.passwordExpiry(event);
    if (event.outcome !== 'denied') return;
    const login = event.session.login ?? event.session.typedLogin ?? 'someone';
    const reason = event.message ?? 'no reason given';
    const code = event.sqlstate ? ` (SQLSTATE ${event.sqlstate})` : '';
    this.notify(`denied:${event.profileId}:${login}`, {
      title: `Rolecall denied ${login} on ${profileName}`,
      body: `${reason}${code}`,
      page: 'history',
    });
  }

  /** A sign-in whose directory password expires soon: one notification a day per login, across profiles. */
  private passwordExpiry(event: ConnectionEvent): void {
    const w = event.session.passwordWarning;
    if (w === undefined || !this.daily.take(`expiry:${w.login.toLowerCase()}`)) return;
    this.sink.show({ title: `Rolecall (${w.login}): ${w.message}`, body: w.hint, page: 'status' });
  }

  /** Notifies when a proxy enters the error state (failed start, listener lost), once per transition. */
  status(status: ProxyStatus): void {
    const before = this.lastState.get(status.profileId);
    this.lastState.set(status.profileId, status.state);
    if (status.state !== 'error' || before === 'error') return;
    this.notify(`error:${status.profileId}`, {
      title: `Rolecall: ${status.name} is not running`,
      body: status.error ?? 'the proxy stopped on an error',
      page: 'status',
    });
  }

  /**
   * A broker profile could not sign someone in for a reason the client shows
   * badly or not at all: no broker answered, its certificate is not trusted,
   * or the login is held after a wrong password (or by the rate limit).
   */
  broker(event: BrokerTroubleEvent): void {
    switch (event.kind) {
      case 'unreachable':
        this.notify(`broker-unreachable:${event.profileId}`, {
          title: `Rolecall cannot reach your team's broker (${event.profileName})`,
          body: `${event.message}. Check your VPN or network; other profiles keep working, and nothing needs a restart when it is back.`,
          page: 'status',
        });
        return;
      case 'certificate':
        this.notify(`broker-certificate:${event.profileId}`, {
          title: `Rolecall does not trust your team's broker (${event.profileName})`,
          body: `${event.message}. Ask your team whether its certificate changed; Connect to your team shows the new one before you trust it.`,
          page: 'status',
        });
        return;
      case 'throttled': {
        const wait = event.retryAfterSeconds === undefined ? '' : ` Try again in ${event.retryAfterSeconds} s.`;
        this.notify(`broker-throttled:${event.profileId}:${event.login}`, {
          title: `Sign-ins for ${event.login} are on hold (${event.profileName})`,
          body: `${event.message}.${wait} Holding them keeps retries from locking your directory account.`,
          page: 'history',
        });
        return;
      }
    }
  }

  /** Anything else worth telling (keychain missing, changes after resume). */
  notice(key: string, title: string, body: string, page: 'status' | 'history' = 'status'): void {
    this.notify(`notice:${key}`, { title, body, page });
  }

  private notify(key: string, note: { title: string; body: string; page: 'status' | 'history' }): void {
    const pass = this.limiter.take(key);
    if (!pass) return;
    const more = pass.heldBack > 0 ? ` (${pass.heldBack} more like this were not shown)` : '';
    this.sink.show({ ...note, body: `${note.body}${more}` });
  }
}
