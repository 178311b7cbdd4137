import type { Directory } from '../core/directory/directory.js';
import type { Logger } from '../core/log.js';
import type { BrokerConfig } from './config.js';
import { RetryLaterError } from './api-error.js';
import { brokerDenial, unknownDatabase } from './denials.js';
import { recordDatabaseFailure, type BrokerMetrics } from './metrics.js';
import type { Served, ServedDatabase } from './served-databases.js';
import type { SharedThrottle } from './throttle.js';

/** What every endpoint works with: built once at start (broker.ts), shared by all requests. */
export interface BrokerDeps {
  config: BrokerConfig;
  directory: Directory;
  served: Served;
  throttle: SharedThrottle;
  /** The database id whose pool the throttle uses (for its error counts). */
  throttleDatabase: string;
  credentialKey: Buffer;
  /** This replica's name: the sweep lease holder, and in every audit row's client info. */
  replica: string;
  logger: Logger;
  metrics: BrokerMetrics;
  now(): number;
}

/** Who is asking, as the HTTP layer saw it. */
export interface Caller {
  address: string;
  /** The subject CN of a verified client (device) certificate. */
  device?: string;
}

export function servedDatabase(deps: BrokerDeps, id: string): ServedDatabase {
  const db = deps.served.databases.get(id);
  if (db === undefined) throw unknownDatabase(id);
  return db;
}

/**
 * The directory's check of a user's own password, under the shared throttle:
 * the account with its groups, or the ClientError the laptop relays.
 */
export async function checkPassword(deps: BrokerDeps, login: string, password: string) {
  try {
    return await deps.throttle.guard(login, () => deps.directory.authenticate(login, password));
  } catch (e) {
    if (e instanceof RetryLaterError) deps.metrics.throttled();
    recordDatabaseFailure(deps.metrics, deps.throttleDatabase, e);
    throw brokerDenial(login, e);
  }
}
