import { admit } from '../../core/auth/admission.js';
import type { SignInRequest, SignInResponse } from '../../core/broker-api/schema.js';
import { passwordExpiryWarning } from '../../core/directory/expiry-warning.js';
import { credentialVerifier, deriveCredential } from '../credential.js';
import { brokerDenial } from '../denials.js';
import { recordDatabaseFailure, secondsSince } from '../metrics.js';
import { checkPassword, servedDatabase, type BrokerDeps, type Caller } from '../deps.js';

/** The audit trail's client info (rolecall.sync_login takes at most 4 KiB): the laptop's entries first, as many as fit. */
const MAX_CLIENT_INFO = 3000;

export function auditInfo(deps: BrokerDeps, caller: Caller, database: string, fromLaptop: SignInRequest['clientInfo'] = {}): Record<string, unknown> {
  const info: Record<string, unknown> = { via: 'broker', broker: deps.replica, database, client_addr: caller.address };
  if (caller.device !== undefined) info.device = caller.device;
  for (const [k, v] of Object.entries(fromLaptop)) {
    if (k in info) continue;
    if (JSON.stringify({ ...info, [k]: v }).length > MAX_CLIENT_INFO) break;
    info[k] = v;
  }
  return info;
}

/**
 * POST /v1/sign-in: the user's directory password is checked (under the
 * shared throttle), their groups filtered for this database, and the login
 * synced with the verifier of a password derived for this window. The
 * directory password never becomes a database password and never reaches the
 * database; the derived password goes back to the laptop only.
 */
export async function signIn(deps: BrokerDeps, req: SignInRequest, caller: Caller): Promise<SignInResponse> {
  const db = servedDatabase(deps, req.database);
  const user = await checkPassword(deps, req.login, req.password);
  const log = deps.logger.child({ endpoint: 'sign-in', database: db.config.id });
  const { login, groups } = admit(user, db.rules, log);
  try {
    const credential = deriveCredential(deps.credentialKey, db.config.serverId, login, deps.now(), deps.config.credentials);
    const verifier = credentialVerifier(credential, await db.pool.minIterations());
    const syncStart = process.hrtime.bigint();
    const synced = await db.pool.sync.syncLogin({
      login,
      verifier,
      groups,
      validUntil: credential.validUntil,
      clientInfo: auditInfo(deps, caller, db.config.id, req.clientInfo),
    });
    deps.metrics.sync(db.config.id, secondsSince(syncStart));
    const warning = passwordExpiryWarning(user.passwordExpiresAt, deps.config.directory.expiryWarningDays, new Date(deps.now()));
    log.info({ login, groups, roles: synced.roles, unchanged: synced.unchanged, window: credential.window, client: caller.address }, 'signed in');
    return {
      login,
      password: credential.password,
      validUntil: credential.validUntil.toISOString(),
      renewAfter: credential.renewAfter.toISOString(),
      groups,
      roles: synced.roles,
      ...(warning === null ? {} : { directoryPasswordExpiresAt: warning.expiresAt.toISOString() }),
    };
  } catch (e) {
    recordDatabaseFailure(deps.metrics, db.config.id, e);
    const denial = brokerDenial(login, e);
    denial.account ??= login;
    throw denial;
  }
}
