import { InvalidCredentialsError, type Client } from 'ldapts';
import { silentLogger, type Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { classifyError, countedBind, errorContext, openConnection, type ConnectContext, type DirectoryCounters } from './connection.js';
import { DirectoryError, adSubCodeFailure, parseAdSubCode } from './errors.js';
import { findUser, isDisabled, type FoundUser } from './find-user.js';
import { firstValue, resolveGroups } from './groups.js';
import { parseLogin, type LoginSearch } from './login.js';
import { PasswordPolicyCache, adPasswordExpiry } from './password-expiry.js';
import type { DirectoryReport } from './report.js';
import { ServerSet, type Connected } from './server-set.js';
import { transportOf, type DirectoryServer } from './servers.js';
import { ServicePool, type PoolTimers } from './service-pool.js';

/*
 * What a failed sign-in reveals (deliberate choices):
 * - Unknown login, wrong password, empty password, unusable login: all the same
 *   'invalid-credentials' and the same message. An empty password never
 *   reaches the server (it would be an anonymous bind that "succeeds").
 * - AD: the failure is what the DC's sub-code says. Samba/AD answer 533
 *   (disabled) only after the password checked out, so a wrong password on a
 *   disabled account stays 'invalid-credentials'. 775 (locked) is what AD
 *   itself tells any client, right password or not; we pass it on.
 * - OpenLDAP ppolicy: a locked account fails its bind with invalidCredentials
 *   whatever the password, and the server's own ppolicy control says "Account
 *   locked" to anyone who asks (measured on slapd 2.5). We report
 *   'account-locked' when the bind failed and the service account saw
 *   pwdAccountLockedTime: it tells nothing the directory does not already tell
 *   any client on the network, and it saves the real user a support call.
 *   A lockout whose pwdLockoutDuration has passed but whose attribute slapd has
 *   not yet cleared would also read as locked until the next good bind.
 * - DOMAIN\name with a NetBIOS domain outside netbiosDomains is refused by
 *   name before any search: it says which domains the profile accepts, which
 *   is configuration, not anything about accounts.
 */

export interface DirectoryUser {
  /** Canonical account name: the login attribute's value as stored (e.g. "alice" for "CORP\ALICE"). */
  login: string;
  dn: string;
  /** Every group the user is in, nested ones included, named by groupNameAttribute. Sorted. */
  groups: string[];
  /** When the directory password expires; absent when it never does or the directory does not say. */
  passwordExpiresAt?: Date;
}

export interface Directory {
  /** Service-account search for exactly one user, bind as that DN with the password (own connection), then groups. */
  authenticate(login: string, password: string): Promise<DirectoryUser>;
  /** Service account only (no user password): for revalidation and access checks. null = no such user, or disabled. */
  lookup(login: string): Promise<DirectoryUser | null>;
  /** Connect, bind as the service account, read the base DN: for a "Test directory" button. */
  test(): Promise<{ ok: true; details: string; report: DirectoryReport }>;
  /** Asks DNS again and tries a service bind on every server: which were found and which answered. */
  probe(): Promise<DirectoryReport>;
  /** What was discovered, how each server last answered, and the work counted so far. No network. */
  report(): DirectoryReport;
  close(): Promise<void>;
}

export interface DirectoryOptions {
  /** For tests: the service pool's timers (to count wake-ups) and the clock. */
  timers?: PoolTimers;
  now?: () => number;
}

/** What Rolecall tells someone whose login or password is wrong: the same words either way. */
const INVALID = 'invalid user name or password';

export function createDirectory(
  config: DirectoryConfig,
  bindPassword: string,
  logger: Logger = silentLogger,
  options: DirectoryOptions = {},
): Directory {
  const log = logger.child({
    component: 'directory',
    ...(config.domain === undefined ? {} : { domain: config.domain }),
    ...(config.urls.length > 0 ? { urls: config.urls } : {}),
  });
  const now = options.now ?? Date.now;
  const counters: DirectoryCounters = { connections: 0, serviceBinds: 0, userBinds: 0 };
  const servers = new ServerSet(config, log, now);
  const ctx: ConnectContext = { config, logger: log, counters, resolveHost: (host) => servers.discovery.resolveHost(host) };
  const policies = new PasswordPolicyCache(now);
  for (const s of servers.known()) {
    if (!s.secure && !config.startTls) {
      log.warn({ server: s.url }, 'directory connection is not encrypted: passwords cross the network in clear (use ldaps:// or StartTLS)');
    }
  }

  async function serviceBind(client: Client): Promise<void> {
    // An empty password is an anonymous bind on many servers: never "succeed" with it.
    if (bindPassword.length === 0) throw new DirectoryError('misconfigured', 'no password is stored for the directory service account');
    await countedBind(client, config.bindDn, bindPassword, () => counters.serviceBinds++);
  }

  const pool = new ServicePool({
    size: config.serviceConnections,
    idleMs: config.serviceIdleSeconds * 1000,
    open: () => servers.connect(ctx, 'the service-account bind', serviceBind),
    logger: log,
    now,
    ...(options.timers ? { timers: options.timers } : {}),
  });
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new DirectoryError('failed', 'the directory client has been closed');
  }

  /** Runs service-account work on a pooled connection; errors come back as DirectoryErrors naming the server. */
  function asService<T>(what: string, work: (conn: Connected) => Promise<T>): Promise<T> {
    return pool.use(async (conn) => {
      try {
        return await work(conn);
      } catch (e) {
        throw classifyError(e, errorContext(conn.server, config), what);
      }
    });
  }

  /** Why the user's own bind failed, as a DirectoryError; logged with login and code, never the password. */
  function userBindFailure(e: unknown, typed: string, user: FoundUser, server: DirectoryServer): DirectoryError {
    if (!(e instanceof InvalidCredentialsError)) return classifyError(e, errorContext(server, config), 'the user bind');
    if (config.kind === 'active-directory') {
      const adCode = parseAdSubCode(e.message);
      const { failure, meaning } = adSubCodeFailure(adCode);
      log.info({ login: typed, dn: user.dn, adCode, meaning }, 'directory rejected the user bind');
      const message = failure === 'invalid-credentials' ? INVALID : `${meaning}: contact your directory administrator`;
      return new DirectoryError(failure, message, adCode === undefined ? {} : { adCode });
    }
    // ppolicy answers a locked account with plain invalidCredentials, whatever
    // the password. Our search (as the service account) already read the lock.
    if (firstValue(user.entry, 'pwdAccountLockedTime') !== undefined) {
      log.info({ login: typed, dn: user.dn }, 'directory rejected the user bind: account locked (pwdAccountLockedTime)');
      return new DirectoryError('account-locked', 'account locked: contact your directory administrator');
    }
    log.info({ login: typed, dn: user.dn }, 'directory rejected the user bind: invalid credentials');
    return new DirectoryError('invalid-credentials', INVALID);
  }

  /** The user's password checked by a bind on a connection of its own, on the server that found the account first. */
  async function bindAsUser(user: FoundUser, password: string, typed: string, where: DirectoryServer): Promise<void> {
    const { client } = await servers.connect(
      ctx,
      'the user bind',
      async (c, server) => {
        try {
          await countedBind(c, user.dn, password, () => counters.userBinds++);
        } catch (e) {
          throw userBindFailure(e, typed, user, server);
        }
      },
      where,
    );
    await client.unbind().catch(() => undefined);
  }

  async function expiryOf(client: Client, user: FoundUser): Promise<Date | undefined> {
    return config.kind === 'active-directory' ? adPasswordExpiry(user.entry) : policies.expiry(client, user.entry, config);
  }

  function toUser(user: FoundUser, groups: string[], passwordExpiresAt: Date | undefined): DirectoryUser {
    return { login: user.login, dn: user.dn, groups, ...(passwordExpiresAt === undefined ? {} : { passwordExpiresAt }) };
  }

  /** The search for a typed login, or the refusal it earns before any network. */
  function searchFor(login: string): LoginSearch & { kind: 'search' } {
    const search = parseLogin(login, config);
    if (search.kind === 'search') return search;
    if (search.kind === 'foreign-domain') {
      log.info({ login, domain: search.domain }, 'NetBIOS domain not accepted by this profile');
      const forms = config.netbiosDomains.map((d) => `${d}\\name`).join(', ');
      throw new DirectoryError('domain-not-accepted', `the domain "${search.domain}" is not one this profile accepts: sign in as ${forms}, or name@domain`);
    }
    log.info({ login }, 'login not usable for a directory search');
    throw new DirectoryError('invalid-credentials', INVALID);
  }

  function report(): DirectoryReport {
    const discovery = servers.discovery.report();
    return {
      ...(discovery === undefined ? {} : { discovery }),
      servers: servers.health.status(servers.health.order(servers.known())),
      serviceConnections: pool.stats,
      counters: { ...counters },
    };
  }

  return {
    async authenticate(login, password) {
      ensureOpen();
      if (password.length === 0) {
        // Would be an unauthenticated bind that "succeeds": never sent.
        log.info({ login }, 'empty password refused before any bind');
        throw new DirectoryError('invalid-credentials', INVALID);
      }
      const search = searchFor(login);
      return asService('authentication', async ({ client, server }) => {
        const user = await findUser(client, config, search, login, log);
        if (user === null) {
          log.info({ login }, 'no directory account for this login');
          throw new DirectoryError('invalid-credentials', INVALID);
        }
        const passwordExpiresAt = await expiryOf(client, user);
        await bindAsUser(user, password, login, server);
        // Groups are read with the service account's rights, not the user's.
        const groups = await resolveGroups(client, config, user, log);
        log.info({ login: user.login, groups: groups.length, passwordExpiresAt }, 'directory authentication succeeded');
        return toUser(user, groups, passwordExpiresAt);
      });
    },

    async lookup(login) {
      ensureOpen();
      const search = parseLogin(login, config);
      if (search.kind !== 'search') return null;
      return asService('lookup', async ({ client }) => {
        const user = await findUser(client, config, search, login, log);
        if (user === null) return null;
        if (isDisabled(user.entry, config)) {
          log.info({ login: user.login }, 'directory account is disabled');
          return null;
        }
        const groups = await resolveGroups(client, config, user, log);
        return toUser(user, groups, await expiryOf(client, user));
      });
    },

    async test() {
      ensureOpen();
      const details = await asService('the directory test', async ({ client, server }) => {
        let found: boolean;
        try {
          const { searchEntries } = await client.search(config.baseDn, { scope: 'base', attributes: ['1.1'] });
          found = searchEntries.length === 1;
        } catch (e) {
          const inner = classifyError(e, errorContext(server, config), 'reading the base DN');
          throw new DirectoryError('misconfigured', `base DN ${config.baseDn} is not readable: ${inner.message}`, { cause: e, stage: 'base DN' });
        }
        if (!found) throw new DirectoryError('misconfigured', `base DN ${config.baseDn} is not readable by ${config.bindDn}`, { stage: 'base DN' });
        return `connected to ${server.url} (${transportOf(server, config)}), bound as ${config.bindDn}, base DN ${config.baseDn} readable`;
      });
      return { ok: true as const, details, report: report() };
    },

    async probe() {
      ensureOpen();
      servers.discovery.refresh();
      let list: DirectoryServer[] = [];
      try {
        list = await servers.all();
      } catch (e) {
        log.warn({ error: (e as Error).message }, 'directory discovery found no servers');
      }
      await Promise.all(
        list.map(async (server) => {
          try {
            const client = await openConnection(server, ctx, 'the service-account bind', serviceBind);
            servers.health.up(server);
            await client.unbind().catch(() => undefined);
          } catch (e) {
            servers.health.down(server, e instanceof Error ? e.message : String(e));
          }
        }),
      );
      return report();
    },

    report,

    async close() {
      closed = true;
      await pool.close();
    },
  };
}
