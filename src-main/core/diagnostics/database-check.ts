import net from 'node:net';
import tls from 'node:tls';
import { connectPg, describeConnectFailure, DatabaseConfigError } from '../database/connect.js';
import { addressOf, databaseEndpoint } from '../database/endpoint.js';
import type { Logger } from '../log.js';
import type { DatabaseConfig, DatabaseTarget } from '../profiles/schema.js';
import { negotiateTls } from '../proxy/upstream/tls.js';
import { SyncClient } from '../sync/sync-client.js';
import { syncTarget } from '../sync/sync-target.js';
import { messageOf, type CheckHints, type DatabaseStep, type SecretLookup, type Step } from './steps.js';

export interface DatabaseCheck {
  ok: boolean;
  /** connect, tls, sync login, rolecall schema: it stops at the first that fails. */
  steps: Step<DatabaseStep>[];
  serverVersion?: string;
  tls?: boolean;
  /** Version of the installed rolecall schema, null when not installed. */
  installedVersion?: string | null;
}

export interface DatabaseCheckOptions {
  /** The sync-account password, asked for only when the check gets that far. */
  syncPassword(): Promise<SecretLookup>;
  hints: CheckHints;
  logger: Logger;
}

/**
 * "Test database": TCP, then TLS as the sslmode asks (on a raw socket: the
 * most precise answer for network and certificate problems), then the sync
 * account logs in, then whether Rolecall's SQL is installed and which
 * version. Changes nothing in the database.
 */
export async function checkDatabase(db: DatabaseConfig, options: DatabaseCheckOptions): Promise<DatabaseCheck> {
  const result = await reachDatabase(db);
  const { steps } = result;
  if (!steps.every((s) => s.ok)) return result;

  const secret = await options.syncPassword();
  if (!secret.ok) {
    steps.push({ step: 'sync login', ok: false, message: secret.message });
    return result;
  }
  const syncPassword = secret.value;
  if (!(await loginStep(db, result, 'sync login', db.syncUser, syncPassword, `the sync account "${db.syncUser}"`))) return result;

  const sync = new SyncClient({ ...syncTarget(db, syncPassword), poolSize: 1 }, options.logger);
  try {
    result.installedVersion = await sync.installedVersion();
    steps.push(
      result.installedVersion === null
        ? { step: 'rolecall schema', ok: false, message: `Rolecall's SQL is not installed in ${db.database}: ${options.hints.install}` }
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

/**
 * The database as a team-mode profile sees it: TCP and TLS, then, with a
 * login and the database password the broker gave it, that login's own
 * sign-in. Changes nothing in the database.
 */
export async function checkDatabaseAs(db: DatabaseTarget, login?: { user: string; password: string }): Promise<DatabaseCheck> {
  const result = await reachDatabase(db);
  if (!login || !result.steps.every((s) => s.ok)) {
    result.ok = result.steps.every((s) => s.ok);
    return result;
  }
  await loginStep(db, result, 'user login', login.user, login.password, `"${login.user}"`);
  result.ok = result.steps.every((s) => s.ok);
  return result;
}

/** One login to the database as `user`, recorded as a step with the server's version; true when it worked. */
async function loginStep(db: DatabaseTarget, result: DatabaseCheck, step: DatabaseStep, user: string, password: string, who: string): Promise<boolean> {
  try {
    const client = await connectPg(db, user, password, 'rolecall-test');
    try {
      const { rows } = await client.query<{ v: string }>("SELECT pg_catalog.current_setting('server_version') AS v");
      result.serverVersion = rows[0]?.v ?? 'unknown';
    } finally {
      await client.end().catch(() => undefined);
    }
    result.steps.push({ step, ok: true, message: `${who} logged in to ${db.database} (PostgreSQL ${result.serverVersion})` });
    return true;
  } catch (e) {
    if (e instanceof DatabaseConfigError) throw e;
    result.steps.push({ step, ok: false, message: describeConnectFailure(e, who, `${addressOf(db)}/${db.database}`) });
    return false;
  }
}

/** Steps connect and tls: it stops at the first that fails. */
async function reachDatabase(db: DatabaseTarget): Promise<DatabaseCheck> {
  const where = addressOf(db);
  const steps: Step<DatabaseStep>[] = [];
  const result: DatabaseCheck = { ok: false, steps };
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
      const secured = await withTimeout(negotiateTls(socket, databaseEndpoint(db)), db.connectTimeoutMs, `no TLS answer from ${where} within ${db.connectTimeoutMs} ms`);
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
  } finally {
    socket.destroy();
  }
  return result;
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
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
