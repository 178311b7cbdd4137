import type pg from 'pg';
import { reconcileLogin, sweepCandidates, sweepLease, sweepRelease } from '../core/sync/broker-sync.js';
import { isUnreachable } from '../core/net-errors.js';
import { SyncError } from '../core/sync/sync-client.js';
import type { BrokerDeps } from './deps.js';
import type { SyncTargetPool } from './served-databases.js';

export interface SweepReport {
  where: string;
  /** This replica held the lease and swept. */
  held: boolean;
  candidates: number;
  revoked: string[];
  /** Logins that lost some roles and kept others. */
  reduced: string[];
  /** Lookups or calls that failed: those logins are left as they are until the next run. */
  failed: string[];
}

/** The lease is renewed after this many logins, so a long sweep never outlives it. */
const RENEW_EVERY = 50;

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Offboarding without the laptop: every `intervalSeconds`, the replica that
 * holds a target's sweep lease (ttl 2 × interval, renewed each run) asks the
 * directory, with the service account, about every Rolecall login that can
 * still log in there. Gone, disabled or in no permitted group: revoke_login.
 * Fewer groups: reconcile_login takes back what they no longer map to. A
 * failed lookup changes nothing: an outage never revokes anyone.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepReport[]> | null = null;
  /** The database session that holds each target's lease (the lease belongs to it). */
  private readonly sessions = new Map<SyncTargetPool, pg.Client>();
  private stopped = false;

  constructor(
    private readonly deps: BrokerDeps,
    private readonly intervalSeconds: number,
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0 || this.timer !== null) return;
    this.timer = setInterval(() => void this.runOnce(), this.intervalSeconds * 1000);
    this.timer.unref();
    void this.runOnce();
  }

  runOnce(): Promise<SweepReport[]> {
    this.running ??= this.sweepAll().finally(() => (this.running = null));
    return this.running;
  }

  /** Stops the timer, lets a run in progress finish, gives every lease up (the next replica takes it at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    for (const [pool, session] of this.sessions) {
      try {
        if (await sweepRelease(session, this.deps.replica)) this.deps.logger.info({ database: pool.where }, 'sweep lease released');
        this.deps.metrics.leaseHeld(pool.metricsId, false);
      } catch (e) {
        this.deps.logger.warn({ database: pool.where, error: messageOf(e) }, 'could not release the sweep lease; it passes on when it expires');
      }
      await session.end().catch(() => undefined);
    }
    this.sessions.clear();
  }

  private async sweepAll(): Promise<SweepReport[]> {
    const reports: SweepReport[] = [];
    for (const pool of this.deps.served.pools) {
      if (this.stopped) break;
      let failed = false;
      const report = await this.sweep(pool).catch((e: unknown): SweepReport => {
        failed = true;
        this.deps.logger.warn({ database: pool.where, error: messageOf(e) }, 'sweep failed; next try at the next interval');
        // Past its per-login lookups everything a sweep does is on the database (its session, the lease, the candidates).
        this.deps.metrics.databaseError(pool.metricsId, e instanceof SyncError ? e.failure : isUnreachable((e as { code?: unknown }).code) ? 'unreachable' : 'failed');
        this.dropSession(pool);
        return { where: pool.where, held: false, candidates: 0, revoked: [], reduced: [], failed: [] };
      });
      if (report.held) this.deps.logger.info({ ...report }, 'sweep done');
      this.deps.metrics.sweep(pool.metricsId, failed ? 'failed' : report.held ? 'swept' : 'not-holder', report.revoked.length, report.reduced.length);
      this.deps.metrics.leaseHeld(pool.metricsId, report.held);
      reports.push(report);
    }
    return reports;
  }

  private async session(pool: SyncTargetPool): Promise<pg.Client> {
    let session = this.sessions.get(pool);
    if (session === undefined) {
      session = await pool.sync.connectSession('rolecall-broker-sweep');
      session.once('end', () => {
        if (this.sessions.get(pool) === session) this.sessions.delete(pool);
      });
      this.sessions.set(pool, session);
    }
    return session;
  }

  private dropSession(pool: SyncTargetPool): void {
    const session = this.sessions.get(pool);
    this.sessions.delete(pool);
    void session?.end().catch(() => undefined);
  }

  private async sweep(pool: SyncTargetPool): Promise<SweepReport> {
    const report: SweepReport = { where: pool.where, held: false, candidates: 0, revoked: [], reduced: [], failed: [] };
    const session = await this.session(pool);
    const ttl = Math.min(3600, Math.max(5, this.intervalSeconds * 2));
    if (!(await sweepLease(session, this.deps.replica, ttl)).held) return report;
    report.held = true;
    const candidates = await sweepCandidates(session);
    report.candidates = candidates.length;
    for (const [i, candidate] of candidates.entries()) {
      if (this.stopped) break;
      if (i > 0 && i % RENEW_EVERY === 0 && !(await sweepLease(session, this.deps.replica, ttl)).held) break;
      await this.reconcile(pool, session, candidate.login, report);
    }
    return report;
  }

  private async reconcile(pool: SyncTargetPool, session: pg.Client, login: string, report: SweepReport): Promise<void> {
    const log = this.deps.logger.child({ component: 'sweep', database: pool.where, login });
    try {
      const user = await this.deps.directory.lookup(login);
      const groups = user === null ? [] : pool.permittedGroups(user.groups);
      if (groups.length === 0) {
        const reason = user === null ? 'sweep: the directory account no longer exists or is disabled' : 'sweep: no longer in any permitted directory group';
        await pool.sync.revokeLogin(login, reason);
        report.revoked.push(login);
        log.info({ reason }, 'access revoked by the sweep');
        return;
      }
      const result = await reconcileLogin(session, login, groups, 'sweep: directory groups changed');
      if (result.disabled) report.revoked.push(login);
      else if (result.revoked.length > 0) report.reduced.push(login);
      if (result.revoked.length > 0 || result.disabled) log.info({ revoked: result.revoked, disabled: result.disabled }, 'roles taken back by the sweep');
    } catch (e) {
      report.failed.push(login);
      log.warn({ error: messageOf(e) }, 'sweep could not check this login; left as it is');
    }
  }
}
