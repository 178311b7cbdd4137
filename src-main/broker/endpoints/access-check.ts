import type { AccessCheckRequest, AccessCheckResponse } from '../../core/broker-api/schema.js';
import { databaseLogin } from '../../core/auth/login-case.js';
import { previewSync } from '../../core/sync/preview-sync.js';
import { brokerDenial } from '../denials.js';
import { checkPassword, servedDatabase, type BrokerDeps } from '../deps.js';

/**
 * POST /v1/access-check: "why can't I get in?" for the caller (or `subject`),
 * after the caller's own password checked out: their directory groups (the
 * service account reads another user's), which pass this database's filter,
 * and what rolecall.preview_sync says a sign-in would do. Changes nothing.
 */
export async function accessCheck(deps: BrokerDeps, req: AccessCheckRequest): Promise<AccessCheckResponse> {
  const db = servedDatabase(deps, req.database);
  const caller = await checkPassword(deps, req.login, req.password);
  const subject = req.subject === undefined ? caller : await deps.directory.lookup(req.subject).catch((e: unknown) => {
    throw brokerDenial(req.subject ?? req.login, e);
  });
  const empty = { groups: [], permittedGroups: [], denied: true, refusal: null, roles: [], grant: [], revoke: [], wouldCreate: false };
  if (subject === null) return { login: req.subject ?? req.login, found: false, ...empty };
  const login = databaseLogin(subject.login, db.rules.loginCase);
  const permitted = db.rules.permittedGroups(subject.groups);
  const base = { login, found: true, groups: subject.groups, permittedGroups: permitted };
  if (permitted.length === 0) return { ...empty, ...base };
  try {
    const plan = await db.pool.sync.withClient((c) => previewSync(c, login, permitted));
    return {
      ...base,
      denied: plan.denied || plan.refused !== null,
      refusal: plan.refused,
      roles: plan.roles,
      grant: plan.granted,
      revoke: plan.revoked,
      wouldCreate: plan.created,
    };
  } catch (e) {
    throw brokerDenial(login, e);
  }
}
