import { BrokerClient } from '../../core/broker-client/broker-client.js';
import {
  AccessCheckError,
  checkAccess,
  checkAccessThroughBroker,
  checkDatabase,
  checkDatabaseAs,
  checkDirectory,
  type CheckHints,
  type SecretLookup,
} from '../../core/diagnostics/index.js';
import { isBrokerProfile, type BrokerProfile } from '../../core/profiles/schema.js';
import type { AppContext } from '../app-context.js';
import type { AccessCheckResult, DatabaseTestResult, DirectoryTestResult } from '../contract.js';
import { HandlerError, invalid } from './handler-error.js';
import { findProfile, requireSecret } from './profile-access.js';
import { parseBrokerDatabasePart, parseDatabasePart, parseDirectoryPart } from './profile-parts.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

/** In the app, Rolecall's SQL is installed from its Database setup page. */
const APP_HINTS: CheckHints = { install: 'run Database setup → Install' };

/**
 * "Test directory", "Test database" and "Why can't I get in?" over the
 * contract: the checks are the engine's (core/diagnostics); this file reads
 * the secrets the way the app stores them and maps the results and failures
 * to the contract's types.
 */
export function diagnosticsHandlers(
  ctx: AppContext,
): HandlersFor<'diagnostics.testDirectory' | 'diagnostics.testDatabase' | 'diagnostics.accessCheck'> {
  const log = ctx.logger;
  return {
    'diagnostics.testDirectory': defineHandler('diagnostics.testDirectory', log, async ({ profile, login, password }): Promise<DirectoryTestResult> => {
      const { id, directory } = parseDirectoryPart(profile);
      const bindPassword = await requireSecret(ctx.secrets, id, 'ldap-bind');
      const user = login?.trim();
      return checkDirectory(directory, bindPassword, { ...(user ? { login: user } : {}), ...(password ? { password } : {}), logger: log });
    }),
    'diagnostics.testDatabase': defineHandler('diagnostics.testDatabase', log, async ({ profile }): Promise<DatabaseTestResult> => {
      // A broker profile has no sync login here: its database is reached and its certificate checked, nothing more.
      const broker = parseBrokerDatabasePart(profile);
      if (broker) return checkDatabaseAs(broker.database);
      const { id, database } = parseDatabasePart(profile);
      return checkDatabase(database, { syncPassword: () => storedSyncPassword(ctx, id), hints: APP_HINTS, logger: log });
    }),
    'diagnostics.accessCheck': defineHandler('diagnostics.accessCheck', log, async ({ profileId, login, password, subject }): Promise<AccessCheckResult> => {
      const profile = await findProfile(ctx, profileId);
      if (isBrokerProfile(profile)) return accessThroughBroker(ctx, profile, login.trim(), password, subject?.trim() || undefined);
      const bindPassword = await requireSecret(ctx.secrets, profileId, 'ldap-bind');
      const syncPassword = await requireSecret(ctx.secrets, profileId, 'sync');
      try {
        return await checkAccess(profile, { bindPassword, syncPassword }, login.trim(), password || undefined, { hints: APP_HINTS, logger: log });
      } catch (e) {
        if (!(e instanceof AccessCheckError)) throw e;
        throw new HandlerError({
          code: e.reason === 'cannot-connect' ? 'unavailable' : 'failed',
          message: e.message,
          ...(e.detail === undefined ? {} : { detail: e.detail }),
        });
      }
    }),
  };
}

/**
 * A broker profile's access check is the broker's dry run: it checks the
 * caller's own password, then explains the caller's (or subject's) access
 * with its service account. This machine holds nothing to do it itself.
 */
async function accessThroughBroker(ctx: AppContext, profile: BrokerProfile, login: string, password: string | undefined, subject: string | undefined): Promise<AccessCheckResult> {
  if (!password) {
    const message = 'the team broker checks your own password before it explains access: type it';
    throw invalid(message, [{ path: 'password', message }]);
  }
  const client = new BrokerClient(profile.broker, ctx.logger);
  try {
    return await checkAccessThroughBroker(client, profile.broker.database, { login, password }, subject);
  } finally {
    client.close();
  }
}

/** The sync password for the database check: a missing one is a failed step saying where to set it; a keychain failure fails the call. */
async function storedSyncPassword(ctx: AppContext, profileId: string): Promise<SecretLookup> {
  try {
    return { ok: true, value: await requireSecret(ctx.secrets, profileId, 'sync') };
  } catch (e) {
    if (e instanceof HandlerError) return { ok: false, message: e.message };
    throw e;
  }
}
