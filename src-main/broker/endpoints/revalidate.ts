import { ClientError, SqlState, invalidCredentials } from '../../core/client-errors.js';
import type { RevalidateRequest, RevalidateResponse } from '../../core/broker-api/schema.js';
import { reconcileLogin } from '../../core/sync/broker-sync.js';
import { isCurrentPassword } from '../credential.js';
import { brokerDenial } from '../denials.js';
import { recordDatabaseFailure } from '../metrics.js';
import { servedDatabase, type BrokerDeps } from '../deps.js';

/**
 * POST /v1/revalidate: may this login keep its open sessions? The laptop
 * proves it holds the login's database password of this window (or of the
 * previous one, within its grace); the broker asks the directory with the
 * service account. Gone or no permitted group left: revoke_login (NOLOGIN,
 * sessions ended). Some groups left: reconcile_login takes back what they no
 * longer map to. Never grants; an outage is an error, never a revocation.
 */
export async function revalidate(deps: BrokerDeps, req: RevalidateRequest): Promise<RevalidateResponse> {
  const db = servedDatabase(deps, req.database);
  if (!isCurrentPassword(deps.credentialKey, db.config.serverId, req.login, req.databasePassword, deps.now(), deps.config.credentials)) {
    throw invalidCredentials(req.login);
  }
  const log = deps.logger.child({ endpoint: 'revalidate', database: db.config.id, login: req.login });
  try {
    const user = await deps.directory.lookup(req.login);
    const groups = user === null ? [] : db.rules.permittedGroups(user.groups);
    if (groups.length === 0) {
      const reason = user === null ? 'the directory account no longer exists or is disabled' : 'the account is no longer in any permitted directory group';
      await db.pool.sync.revokeLogin(req.login, `revalidate: ${reason}`);
      log.info({ reason }, 'access revoked');
      return { revoked: reason, groups: [], roles: [] };
    }
    const result = await db.pool.sync.withClient((c) => reconcileLogin(c, req.login, groups, 'revalidate: directory groups changed'));
    if (result.refused !== undefined) {
      throw new ClientError({ sqlstate: SqlState.invalidAuthorization, message: `the database refused to manage the role "${req.login}"`, detail: result.refused });
    }
    if (result.disabled) {
      const reason = 'none of your directory groups maps to a database role any more';
      log.info({ reason, revoked: result.revoked }, 'access revoked');
      return { revoked: reason, groups, roles: [] };
    }
    if (result.revoked.length > 0) log.info({ revoked: result.revoked }, 'roles taken back');
    return { revoked: null, groups, roles: result.roles ?? [] };
  } catch (e) {
    recordDatabaseFailure(deps.metrics, db.config.id, e);
    throw brokerDenial(req.login, e);
  }
}
