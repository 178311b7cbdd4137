import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';

export interface RevalidatorDeps {
  /** Logins that have open sessions right now. */
  activeLogins(): string[];
  /** Why the login must lose access now, or null when it keeps it; throws when it cannot tell (Authenticator.recheck). */
  recheck(login: string): Promise<string | null>;
  /** Revoke in the database and close the login's sessions. */
  revoke(login: string, reason: string): Promise<void>;
  logger?: Logger;
}

export interface RevalidationReport {
  checked: number;
  revoked: string[];
  /** Lookups that failed: those logins keep their sessions until a lookup succeeds. */
  failed: string[];
}

/** The revalidation timer never wakes the process more often than this (an idle tray costs nothing). */
export const MIN_REVALIDATE_MS = 60_000;

/**
 * Re-checks logins with open sessions on an interval. A user who left every
 * permitted group (or whose account is gone) is revoked and disconnected. A
 * failed lookup changes nothing: a directory outage must not cut everyone off.
 * The timer is armed only while some login is connected (sessionsChanged) and
 * fires at most once a minute: with nobody connected the engine never wakes.
 */
export class Revalidator {
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private running: Promise<RevalidationReport> | null = null;
  private readonly logger: Logger;
  private readonly intervalMs: number;

  constructor(
    intervalMs: number,
    private readonly deps: RevalidatorDeps,
  ) {
    this.intervalMs = intervalMs <= 0 ? 0 : Math.max(intervalMs, MIN_REVALIDATE_MS);
    this.logger = deps.logger ?? silentLogger;
  }

  start(): void {
    this.started = true;
    this.arm();
  }

  stop(): void {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A session started or ended: a check is due while some login is connected, and none when nobody is. */
  sessionsChanged(): void {
    const someoneConnected = this.deps.activeLogins().length > 0;
    if (this.timer && !someoneConnected) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.arm(someoneConnected);
  }

  private arm(someoneConnected = this.deps.activeLogins().length > 0): void {
    if (!this.started || this.intervalMs === 0 || this.timer || !someoneConnected) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce().finally(() => this.arm());
    }, this.intervalMs);
    this.timer.unref();
  }

  runOnce(): Promise<RevalidationReport> {
    this.running ??= this.check().finally(() => (this.running = null));
    return this.running;
  }

  private async check(): Promise<RevalidationReport> {
    const report: RevalidationReport = { checked: 0, revoked: [], failed: [] };
    for (const login of new Set(this.deps.activeLogins())) {
      report.checked++;
      let reason: string | null;
      try {
        reason = await this.deps.recheck(login);
      } catch (e) {
        report.failed.push(login);
        this.logger.warn({ login, error: e instanceof Error ? e.message : String(e) }, 'revalidation lookup failed; sessions kept');
        continue;
      }
      if (!reason) continue;
      try {
        await this.deps.revoke(login, reason);
        report.revoked.push(login);
        this.logger.info({ login, reason }, 'access revoked');
      } catch (e) {
        report.failed.push(login);
        this.logger.error({ login, error: e instanceof Error ? e.message : String(e) }, 'revocation failed');
      }
    }
    return report;
  }
}
