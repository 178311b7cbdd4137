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

/**
 * Re-checks logins with open sessions on an interval. A user who left every
 * permitted group (or whose account is gone) is revoked and disconnected. A
 * failed lookup changes nothing: a directory outage must not cut everyone off.
 */
export class Revalidator {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RevalidationReport> | null = null;
  private readonly logger: Logger;

  constructor(
    private readonly intervalMs: number,
    private readonly deps: RevalidatorDeps,
  ) {
    this.logger = deps.logger ?? silentLogger;
  }

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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
