import net from 'node:net';
import tls from 'node:tls';
import { createDirectory, type DirectoryUser } from '../../core/directory/directory.js';
import { DirectoryError } from '../../core/directory/errors.js';
import { permittedGroups } from '../../core/directory/permitted.js';
import type { DatabaseConfig, DirectoryConfig, Profile } from '../../core/profiles/schema.js';
import { negotiateTls } from '../../core/proxy/upstream/tls.js';
import { SyncClient } from '../../core/sync/sync-client.js';
import { syncTarget } from '../../core/sync/sync-target.js';
import { databaseEndpoint } from '../../core/database/endpoint.js';
import type { AppContext } from '../app-context.js';
import type { AccessCheckResult, DatabaseTestResult, DirectoryTestResult } from '../contract.js';
import { HandlerError } from './handler-error.js';
import { DatabaseConfigError, connectPg, describeConnectFailure, isNotInstalled } from '../../core/database/connect.js';
import { findProfile, requireSecret } from './profile-access.js';
import { parseDatabasePart, parseDirectoryPart } from './profile-parts.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

type Step = { step: string; ok: boolean; message: string };

/**
 * "Test directory", "Test database" and "Why can't I get in?": each reports
 * every step it took with a precise outcome, and changes nothing anywhere.
 */
export function diagnosticsHandlers(
  ctx: AppContext,
): HandlersFor<'diagnostics.testDirectory' | 'diagnostics.testDatabase' | 'diagnostics.accessCheck'> {
  const log = ctx.logger;
  return {
    'diagnostics.testDirectory': defineHandler('diagnostics.testDirectory', log, async ({ profile, login, password }) => {
      const { id, directory } = parseDirectoryPart(profile);
      const bindPassword = await requireSecret(ctx.secrets, id, 'ldap-bind');
      return testDirectory(ctx, directory, bindPassword, login?.trim() || undefined, password || undefined);
    }),
    'diagnostics.testDatabase': defineHandler('diagnostics.testDatabase', log, async ({ profile }) => {
      const { id, database } = parseDatabasePart(profile);
      return testDatabase(ctx, id, database);
    }),
    'diagnostics.accessCheck': defineHandler('diagnostics.accessCheck', log, async ({ profileId, login, password }) => {
      const profile = await findProfile(ctx, profileId);
      const bindPassword = await requireSecret(ctx.secrets, profileId, 'ldap-bind');
      const syncPassword = await requireSecret(ctx.secrets, profileId, 'sync');
      return accessCheck(ctx, profile, bindPassword, syncPassword, login.trim(), password || undefined);
    }),
  };
}

async function testDirectory(
  ctx: AppContext,
  config: DirectoryConfig,
  bindPassword: string,
  login: string | undefined,
  password: string | undefined,
): Promise<DirectoryTestResult> {
  const steps: Step[] = [];
  const directory = createDirectory(config, bindPassword, ctx.logger);
  try {
    try {
      const { details } = await directory.test();
      steps.push(
        { step: 'connect', ok: true, message: details.split(', bound as')[0] ?? details },
        { step: 'service bind', ok: true, message: `bound as ${config.bindDn}` },
        { step: 'base DN', ok: true, message: `${config.baseDn} is readable` },
      );
    } catch (e) {
      steps.push(...serviceFailureSteps(e, config));
      return { ok: false, steps };
    }
    if (!login) return { ok: true, steps };

    let user: DirectoryUser | null;
    const step = password ? 'user bind' : 'user lookup';
    try {
      user = password ? await directory.authenticate(login, password) : await directory.lookup(login);
    } catch (e) {
      steps.push({ step, ok: false, message: messageOf(e) });
      return { ok: false, steps, login };
    }
    if (user === null) {
      steps.push({ step, ok: false, message: `no enabled account has ${config.loginAttribute}=${login} under ${config.userBaseDn ?? config.baseDn}` });
      return { ok: false, steps, login };
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
          : `${user.groups.length} group(s), none passes the group filter${filterText(config)}: this user would be denied`,
    });
    return { ok: permitted.length > 0, steps, login: user.login, groups: user.groups, permittedGroups: permitted };
  } finally {
    await directory.close();
  }
}

/** Which of connect / service bind / base DN failed, from the kind of directory error. */
function serviceFailureSteps(e: unknown, config: DirectoryConfig): Step[] {
  const message = messageOf(e);
  const failure = e instanceof DirectoryError ? e.failure : 'failed';
  const connected = { step: 'connect', ok: true, message: `connected to ${config.url}` };
  if (/base DN/.test(message)) {
    return [connected, { step: 'service bind', ok: true, message: `bound as ${config.bindDn}` }, { step: 'base DN', ok: false, message }];
  }
  if (/service account/.test(message) || failure === 'invalid-credentials') {
    return [connected, { step: 'service bind', ok: false, message }];
  }
  return [{ step: 'connect', ok: false, message }];
}

function filterText(config: DirectoryConfig): string {
  const parts = [config.groupPrefix ? `prefix "${config.groupPrefix}"` : '', config.groupPattern ? `pattern /${config.groupPattern}/` : ''].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

async function testDatabase(ctx: AppContext, profileId: string, db: DatabaseConfig): Promise<DatabaseTestResult> {
  const where = `${db.host}:${db.port}`;
  const steps: Step[] = [];
  const result: DatabaseTestResult = { ok: false, steps };

  // 1. TCP, then TLS as the sslmode asks, on a raw socket: the most precise answer for network and certificate problems.
  let socket: net.Socket;
  try {
    socket = await tcpConnect(db.host, db.port, db.connectTimeoutMs);
    steps.push({ step: 'connect', ok: true, message: `reached ${where}` });
  } catch (e) {
    steps.push({ step: 'connect', ok: false, message: `cannot reach ${where} (${messageOf(e)}): check database.host, database.port and the network` });
    return result;
  }
  try {
    if (db.sslmode === 'disable') {
      result.tls = false;
      steps.push({ step: 'tls', ok: true, message: 'not used (sslmode=disable): traffic to the database is not encrypted' });
    } else {
      const secured = await withTimeout(
        negotiateTls(socket, databaseEndpoint(db)),
        db.connectTimeoutMs,
        `no TLS answer from ${where} within ${db.connectTimeoutMs} ms`,
      );
      result.tls = secured instanceof tls.TLSSocket;
      const checked = db.sslmode === 'verify-full' ? 'certificate and host name verified' : db.sslmode === 'verify-ca' ? 'certificate verified (host name not checked)' : 'certificate NOT verified';
      steps.push({
        step: 'tls',
        ok: true,
        message: result.tls ? `encrypted (${(secured as tls.TLSSocket).getProtocol() ?? 'TLS'}), ${checked} (sslmode=${db.sslmode})` : 'the server does not offer TLS: continuing in clear (sslmode=prefer)',
      });
      if (secured !== socket) secured.destroy();
    }
  } catch (e) {
    steps.push({ step: 'tls', ok: false, message: messageOf(e) });
    return result;
  } finally {
    socket.destroy();
  }

  // 2. The sync account logs in.
  let syncPassword: string;
  try {
    syncPassword = await requireSecret(ctx.secrets, profileId, 'sync');
  } catch (e) {
    if (!(e instanceof HandlerError)) throw e;
    steps.push({ step: 'sync login', ok: false, message: e.message });
    return result;
  }
  const who = `the sync account "${db.syncUser}"`;
  try {
    const client = await connectPg(db, db.syncUser, syncPassword, 'rolecall-test');
    try {
      const { rows } = await client.query<{ v: string }>("SELECT pg_catalog.current_setting('server_version') AS v");
      result.serverVersion = rows[0]?.v ?? 'unknown';
    } finally {
      await client.end().catch(() => undefined);
    }
    steps.push({ step: 'sync login', ok: true, message: `${who} logged in to ${db.database} (PostgreSQL ${result.serverVersion})` });
  } catch (e) {
    if (e instanceof DatabaseConfigError) throw e;
    steps.push({ step: 'sync login', ok: false, message: describeConnectFailure(e, who, `${where}/${db.database}`) });
    return result;
  }

  // 3. Rolecall's SQL is installed, and which version.
  const sync = new SyncClient({ ...syncTarget(db, syncPassword), poolSize: 1 }, ctx.logger);
  try {
    result.installedVersion = await sync.installedVersion();
    steps.push(
      result.installedVersion === null
        ? { step: 'rolecall schema', ok: false, message: `Rolecall's SQL is not installed in ${db.database}: run Database setup → Install` }
        : { step: 'rolecall schema', ok: true, message: `version ${result.installedVersion} installed` },
    );
  } catch (e) {
    steps.push({ step: 'rolecall schema', ok: false, message: messageOf(e) });
  } finally {
    await sync.close();
  }
  result.ok = steps.every((s) => s.ok);
  return result;
}

async function accessCheck(
  ctx: AppContext,
  profile: Profile,
  bindPassword: string,
  syncPassword: string,
  login: string,
  password: string | undefined,
): Promise<AccessCheckResult> {
  const config = profile.directory;
  const directory = createDirectory(config, bindPassword, ctx.logger);
  let user: DirectoryUser | null;
  try {
    user = password ? await directory.authenticate(login, password) : await directory.lookup(login);
  } finally {
    await directory.close();
  }
  if (user === null) {
    return {
      login,
      groups: [],
      permittedGroups: [],
      preview: null,
      verdict: `${login} cannot sign in: no enabled directory account has ${config.loginAttribute}=${login} (it does not exist, or it is disabled or locked).`,
    };
  }
  const permitted = permittedGroups(user.groups, config);
  const base = { login: user.login, groups: user.groups, permittedGroups: permitted };
  if (permitted.length === 0) {
    const which = user.groups.length === 0 ? 'is in no directory group' : `is in ${user.groups.length} directory group(s), but none passes the group filter${filterText(config)}`;
    return { ...base, preview: null, verdict: `${user.login} would be denied: ${which}. Ask to be added to a database access group.` };
  }

  // What a sync would do, as the sync account, through the same function the proxy uses to decide.
  const dbLogin = profile.loginCase === 'lower' ? user.login.toLowerCase() : user.login;
  const where = `${profile.database.host}:${profile.database.port}/${profile.database.database}`;
  let client;
  try {
    client = await connectPg(profile.database, profile.database.syncUser, syncPassword, 'rolecall-access-check');
  } catch (e) {
    if (e instanceof DatabaseConfigError) throw e;
    throw new HandlerError({
      code: 'unavailable',
      message: describeConnectFailure(e, `the sync account "${profile.database.syncUser}"`, where),
      ...(typeof (e as { code?: unknown }).code === 'string' ? { detail: (e as { code: string }).code } : {}),
    });
  }
  let plan: PreviewRow;
  try {
    const { rows } = await client.query<{ r: PreviewRow }>('SELECT rolecall.preview_sync($1, $2::text[]) AS r', [dbLogin, permitted]);
    if (!rows[0]) throw new Error('rolecall.preview_sync returned no row');
    plan = rows[0].r;
  } catch (e) {
    if (isNotInstalled(e)) {
      throw new HandlerError({ code: 'failed', message: `Rolecall's SQL is not installed in ${where}: run Database setup → Install`, detail: (e as { code: string }).code });
    }
    throw e;
  } finally {
    await client.end().catch(() => undefined);
  }
  const preview = {
    wouldCreate: plan.created,
    grant: plan.granted,
    revoke: plan.revoked,
    roles: plan.roles,
    denied: plan.denied,
    refusal: plan.refused,
  };
  return { ...base, preview, verdict: verdictFor(dbLogin, permitted, preview) };
}

/** rolecall.preview_sync's jsonb (sql/postgres/install.sql). */
interface PreviewRow {
  refused: string | null;
  exists: boolean;
  managed: boolean;
  denied: boolean;
  created: boolean;
  granted: string[];
  revoked: string[];
  roles: string[];
  skipped: string[];
}

function verdictFor(login: string, permitted: string[], p: NonNullable<AccessCheckResult['preview']>): string {
  if (p.refusal) return `${login} would be refused: ${p.refusal}. Rolecall never manages such a role; an administrator must rename or drop it.`;
  if (p.denied) {
    return (
      `${login} would be denied: the permitted group(s) ${permitted.join(', ')} map to no database role. ` +
      `An administrator maps one with SELECT rolecall.allow_group('<group>', '<role>').`
    );
  }
  const changes = [
    p.wouldCreate ? 'the database login would be created' : '',
    p.grant.length > 0 ? `grant ${p.grant.join(', ')}` : '',
    p.revoke.length > 0 ? `revoke ${p.revoke.join(', ')}` : '',
  ].filter(Boolean);
  return `${login} can sign in with role(s) ${p.roles.join(', ')}${changes.length > 0 ? `; at sign-in Rolecall would ${changes.join(', ')}` : '; nothing would change'}.`;
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code ?? e.message));
    });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
