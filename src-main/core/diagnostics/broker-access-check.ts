import type { AccessCheckRequest, AccessCheckResponse } from '../broker-api/schema.js';
import type { BrokerAnswer } from '../broker-client/broker-client.js';
import { brokerDenial } from '../auth/broker-denials.js';
import { verdictFor, type AccessCheck } from './access-check.js';

/** What the access check needs from the broker (core/broker-client's BrokerClient is one). */
export interface BrokerAccessPort {
  accessCheck(request: AccessCheckRequest): Promise<BrokerAnswer<AccessCheckResponse>>;
}

/**
 * "Why can't I get in?" for a broker profile: the broker checks the caller's
 * own password, then answers the dry run with its service account (the
 * directory groups of the caller or of `subject`, the database's filter, and
 * rolecall.preview_sync). The same result and verdicts as direct mode's
 * check. A refusal or failure of the broker throws the ClientError the proxy
 * would give a client (brokerDenial).
 */
export async function checkAccessThroughBroker(
  broker: BrokerAccessPort,
  database: string,
  caller: { login: string; password: string },
  subject?: string,
): Promise<AccessCheck> {
  let answer: AccessCheckResponse;
  try {
    answer = (await broker.accessCheck({ login: caller.login, password: caller.password, database, ...(subject === undefined ? {} : { subject }) })).value;
  } catch (e) {
    throw brokerDenial(e);
  }
  const base = { login: answer.login, groups: answer.groups, permittedGroups: answer.permittedGroups };
  if (!answer.found) {
    return { ...base, preview: null, verdict: `${answer.login} cannot sign in: the directory has no enabled account by that name (it does not exist, or it is disabled or locked).` };
  }
  if (answer.permittedGroups.length === 0) {
    const which =
      answer.groups.length === 0 ? 'is in no directory group' : `is in ${answer.groups.length} directory group(s), but none passes this database's group filter on the broker`;
    return { ...base, preview: null, verdict: `${answer.login} would be denied: ${which}. Ask to be added to a database access group.` };
  }
  const preview = {
    wouldCreate: answer.wouldCreate,
    grant: answer.grant,
    revoke: answer.revoke,
    roles: answer.roles,
    denied: answer.denied,
    refusal: answer.refusal,
  };
  return { ...base, preview, verdict: verdictFor(answer.login, answer.permittedGroups, preview) };
}
