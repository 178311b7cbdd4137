import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { httpStatusFor } from '../core/broker-api/schema.js';
import { ClientError, SqlState } from '../core/client-errors.js';
import { packageVersion } from '../core/package-version.js';
import { SyncError } from '../core/sync/sync-client.js';
import { RetryLaterError } from './api-error.js';

/*
 * What the broker counts for Prometheus, on a registry of its own (never
 * prom-client's global one, so several brokers in one process keep their own
 * numbers). Every label takes a value from a closed set (an outcome, a
 * SQLSTATE, a database id from broker.json, a failure kind): never a login,
 * an address or anything a client typed.
 */

export type SignInOutcome = 'ok' | 'denied' | 'throttled' | 'refused' | 'error';
export type DirectoryOperation = 'authenticate' | 'lookup';
export type SweepResult = 'swept' | 'not-holder' | 'failed';

/** What endpoints, the throttle and the sweep record through (a no-op stands in for it in unit tests). */
export interface BrokerMetrics {
  signIn(outcome: SignInOutcome, sqlstate: string, seconds: number): void;
  directory(operation: DirectoryOperation, seconds: number, failure?: string): void;
  sync(database: string, seconds: number): void;
  throttled(): void;
  databaseError(database: string, failure: string): void;
  sweep(database: string, result: SweepResult, revoked: number, reduced: number): void;
  leaseHeld(database: string, held: boolean): void;
}

/** Directory failures that are about the user (a wrong password, a locked account), not the directory being unwell. */
const USER_FAILURES = new Set([
  'invalid-credentials',
  'account-disabled',
  'account-locked',
  'account-expired',
  'password-expired',
  'password-must-change',
  'logon-not-permitted',
  'domain-not-accepted',
  'ambiguous',
]);

/** Whether a directory failure means the directory (or the broker's settings for it) failed, not the user. */
export function isDirectoryOutage(failure: string): boolean {
  return !USER_FAILURES.has(failure);
}

/** A SQLSTATE as a label: five characters of [0-9A-Z], anything else as XX000. */
function sqlstateLabel(sqlstate: string): string {
  return /^[0-9A-Z]{5}$/.test(sqlstate) ? sqlstate : SqlState.internalError;
}

/** How a finished sign-in is counted: its outcome and SQLSTATE (00000 for a success). */
export function signInOutcome(error: unknown): { outcome: SignInOutcome; sqlstate: string } {
  if (error === undefined) return { outcome: 'ok', sqlstate: '00000' };
  if (!(error instanceof ClientError)) return { outcome: 'error', sqlstate: SqlState.internalError };
  const sqlstate = sqlstateLabel(error.sqlstate);
  if (error instanceof RetryLaterError && sqlstate === SqlState.invalidPassword) return { outcome: 'throttled', sqlstate };
  if (sqlstate === SqlState.invalidPassword || sqlstate === SqlState.invalidAuthorization) return { outcome: 'denied', sqlstate };
  return { outcome: httpStatusFor(sqlstate) >= 500 ? 'error' : 'refused', sqlstate };
}

/** Seconds: a directory bind and search take milliseconds when warm, seconds when a server times out. */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface PrometheusMetrics extends BrokerMetrics {
  registry: Registry;
}

export function createBrokerMetrics(): PrometheusMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: 'rolecall_broker_build_info',
    help: 'Always 1: the Rolecall version and Node.js version this broker runs',
    labelNames: ['version', 'node'],
    registers,
  }).set({ version: packageVersion(), node: process.versions.node }, 1);

  const signIns = new Counter({
    name: 'rolecall_broker_sign_ins_total',
    help: 'Sign-ins answered, by outcome (ok, denied, throttled, refused, error) and SQLSTATE (00000 for ok)',
    labelNames: ['outcome', 'sqlstate'],
    registers,
  });
  const signInSeconds = new Histogram({
    name: 'rolecall_broker_sign_in_duration_seconds',
    help: 'Time to answer a sign-in, from the parsed request to the answer, by outcome',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const directorySeconds = new Histogram({
    name: 'rolecall_broker_directory_duration_seconds',
    help: 'Time the directory took: authenticate (search, user bind, groups) or lookup (service account only)',
    labelNames: ['operation'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const directoryErrors = new Counter({
    name: 'rolecall_broker_directory_errors_total',
    help: 'Directory calls that failed on the directory\'s side (unreachable, timeout, misconfigured, failed), not the user\'s',
    labelNames: ['operation', 'failure'],
    registers,
  });
  const syncSeconds = new Histogram({
    name: 'rolecall_broker_sync_duration_seconds',
    help: 'Time rolecall.sync_login took in a database, by database id',
    labelNames: ['database'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const databaseErrors = new Counter({
    name: 'rolecall_broker_database_errors_total',
    help: 'Database calls that failed (unreachable, auth, permission, not-installed, failed), by database id',
    labelNames: ['database', 'failure'],
    registers,
  });
  const throttled = new Counter({
    name: 'rolecall_broker_throttled_total',
    help: 'Password checks refused without asking the directory because the login is held after a wrong password',
    registers,
  });
  const sweepRuns = new Counter({
    name: 'rolecall_broker_sweep_runs_total',
    help: 'Sweep runs by database and result: swept (this replica held the lease), not-holder, failed',
    labelNames: ['database', 'result'],
    registers,
  });
  const sweepRevocations = new Counter({
    name: 'rolecall_broker_sweep_revocations_total',
    help: 'Logins the sweep changed: kind revoked (can no longer log in) or reduced (lost some roles)',
    labelNames: ['database', 'kind'],
    registers,
  });
  const lease = new Gauge({
    name: 'rolecall_broker_sweep_lease_held',
    help: '1 while this replica holds the sweep lease of a database',
    labelNames: ['database'],
    registers,
  });

  return {
    registry,
    signIn(outcome, sqlstate, seconds) {
      signIns.inc({ outcome, sqlstate: sqlstateLabel(sqlstate) });
      signInSeconds.observe({ outcome }, seconds);
    },
    directory(operation, seconds, failure) {
      directorySeconds.observe({ operation }, seconds);
      if (failure !== undefined && isDirectoryOutage(failure)) directoryErrors.inc({ operation, failure });
    },
    sync(database, seconds) {
      syncSeconds.observe({ database }, seconds);
    },
    throttled() {
      throttled.inc();
    },
    databaseError(database, failure) {
      databaseErrors.inc({ database, failure });
    },
    sweep(database, result, revoked, reduced) {
      sweepRuns.inc({ database, result });
      if (revoked > 0) sweepRevocations.inc({ database, kind: 'revoked' }, revoked);
      if (reduced > 0) sweepRevocations.inc({ database, kind: 'reduced' }, reduced);
    },
    leaseHeld(database, held) {
      lease.set({ database }, held ? 1 : 0);
    },
  };
}

/** Records nothing (tests that build BrokerDeps by hand). */
export const noMetrics: BrokerMetrics = {
  signIn() {},
  directory() {},
  sync() {},
  throttled() {},
  databaseError() {},
  sweep() {},
  leaseHeld() {},
};

/** A SyncError that means the database failed (unreachable, auth, permission, not installed, failed), not that the user has no roles. */
export function recordDatabaseFailure(metrics: BrokerMetrics, database: string, error: unknown): void {
  if (error instanceof SyncError && error.failure !== 'no-roles' && error.failure !== 'refused') metrics.databaseError(database, error.failure);
}

/** Seconds since a process.hrtime.bigint() reading. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
