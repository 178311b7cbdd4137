import { InvalidCredentialsError } from 'ldapts';
import { createDirectory, type DirectoryUser } from '../directory/directory.js';
import { DirectoryError, type DirectoryStage } from '../directory/errors.js';
import { permittedGroups } from '../directory/permitted.js';
import type { Logger } from '../log.js';
import { describeDirectoryServers, type DirectoryConfig } from '../profiles/schema.js';
import { serversReport, type ServersReport } from './directory-servers.js';
import { messageOf, type DirectoryStep, type Step } from './steps.js';

export interface DirectoryCheck {
  ok: boolean;
  /** connect, service bind, base DN; then, with a login, user bind (or user lookup without a password) and groups. */
  steps: Step<DirectoryStep>[];
  /** The servers found (DNS queries and answers) and which of them answered, in the order a sign-in tries them. */
  servers: ServersReport;
  login?: string;
  groups?: string[];
  permittedGroups?: string[];
}

/**
 * "Test directory": every server the profile can use is asked to bind the
 * service account (a fresh DNS lookup first when it names a domain), then
 * connect, bind as the service account, read the base DN, and with a login
 * find that user (binding as them when a password is given) and see which of
 * their groups pass the profile's filter. Changes nothing in the directory.
 */
export async function checkDirectory(
  config: DirectoryConfig,
  bindPassword: string,
  options: { login?: string; password?: string; logger: Logger },
): Promise<DirectoryCheck> {
  const { login, password, logger } = options;
  const steps: Step<DirectoryStep>[] = [];
  const directory = createDirectory(config, bindPassword, logger);
  // What the servers did in this check, up to its end.
  const done = (result: Omit<DirectoryCheck, 'servers'>): DirectoryCheck => ({ ...result, servers: serversReport(directory.report()) });
  try {
    // Every server first, in parallel, so the report says which answered; the test then goes the way a sign-in would.
    await directory.probe();
    try {
      const { details } = await directory.test();
      steps.push(
        { step: 'connect', ok: true, message: details.split(', bound as')[0] ?? details },
        { step: 'service bind', ok: true, message: `bound as ${config.bindDn}` },
        { step: 'base DN', ok: true, message: `${config.baseDn} is readable` },
      );
    } catch (e) {
      const answered = directory.report().servers.find((s) => s.state === 'up')?.url;
      steps.push(...serviceFailureSteps(e, config, failedStage(e, bindPassword), answered));
      return done({ ok: false, steps });
    }
    if (!login) return done({ ok: true, steps });

    let user: DirectoryUser | null;
    const step = password ? 'user bind' : 'user lookup';
    try {
      user = password ? await directory.authenticate(login, password) : await directory.lookup(login);
    } catch (e) {
      steps.push({ step, ok: false, message: messageOf(e) });
      return done({ ok: false, steps, login });
    }
    if (user === null) {
      steps.push({ step, ok: false, message: `no enabled account has ${config.loginAttribute}=${login} under ${config.userBaseDn ?? config.baseDn}` });
      return done({ ok: false, steps, login });
    }
    steps.push({
      step,
      ok: true,
      message: password ? `${login} signed in as ${user.dn}` : `found ${user.dn} (password not checked: give one to test the sign-in)`,
    });
    const permitted = permittedGroups(user.groups, config);
    steps.push({
      step: 'groups',
      ok: permitted.length > 0,
      message:
        permitted.length > 0
          ? `${user.groups.length} group(s), ${permitted.length} pass the group filter: ${permitted.join(', ')}`
          : `${user.groups.length} group(s), none passes the group filter${describeGroupFilter(config)}: this user would be denied`,
    });
    return done({ ok: permitted.length > 0, steps, login: user.login, groups: user.groups, permittedGroups: permitted });
  } finally {
    await directory.close();
  }
}

/**
 * Which stage of the service test failed, from what failed, never from the
 * message: the directory says so for the base DN; a network failure is the
 * connection; a rejected service account (or an empty password, refused
 * before any bind is sent) is the bind.
 */
function failedStage(e: unknown, bindPassword: string): DirectoryStage {
  if (e instanceof DirectoryError && e.stage !== undefined) return e.stage;
  if (e instanceof DirectoryError && (e.failure === 'unreachable' || e.failure === 'timeout')) return 'connect';
  if (bindPassword.length === 0) return 'service bind';
  return e instanceof DirectoryError && (e.failure === 'invalid-credentials' || e.cause instanceof InvalidCredentialsError) ? 'service bind' : 'connect';
}

/** The steps up to the failed stage: the ones before it passed (`answered`: the server that did, when known). */
function serviceFailureSteps(e: unknown, config: DirectoryConfig, stage: DirectoryStage, answered: string | undefined): Step<DirectoryStep>[] {
  const message = messageOf(e);
  const connected: Step<DirectoryStep> = { step: 'connect', ok: true, message: `connected to ${answered ?? describeDirectoryServers(config)}` };
  const bound: Step<DirectoryStep> = { step: 'service bind', ok: true, message: `bound as ${config.bindDn}` };
  switch (stage) {
    case 'base DN':
      return [connected, bound, { step: 'base DN', ok: false, message: `${message}: check directory.baseDn, and that ${config.bindDn} may read it` }];
    case 'service bind':
      return [connected, { step: 'service bind', ok: false, message }];
    case 'connect':
      return [{ step: 'connect', ok: false, message }];
  }
}

/** The profile's group filter in words, for a denial: ` (prefix "heimdall-", pattern /x/)`, or nothing. */
export function describeGroupFilter(config: DirectoryConfig): string {
  const parts = [config.groupPrefix ? `prefix "${config.groupPrefix}"` : '', config.groupPattern ? `pattern /${config.groupPattern}/` : ''].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
