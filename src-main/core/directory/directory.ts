import { InvalidCredentialsError, type Client, type Entry } from 'ldapts';
import { silentLogger, type Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { classifyError, parseLdapUrl, withServiceConnection } from './connection.js';
import { DirectoryError, adSubCodeFailure, parseAdSubCode } from './errors.js';
import { allValues, firstValue, resolveGroups } from './groups.js';
import { loginSearchValue, userSearchFilter } from './login.js';

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
 */

export interface DirectoryUser {
  /** Canonical account name: the login attribute's value as stored (e.g. "alice" for "CORP\ALICE"). */
  login: string;
  dn: string;
  /** Every group the user is in, nested ones included, named by groupNameAttribute. Sorted. */
  groups: string[];
}

export interface Directory {
  /** Service-account search for exactly one user, bind as that DN with the password, then groups. */
  authenticate(login: string, password: string): Promise<DirectoryUser>;
  /** Service account only (no user password): for revalidation and access checks. null = no such user, or disabled. */
  lookup(login: string): Promise<DirectoryUser | null>;
  /** Connect, bind as the service account, read the base DN: for a "Test directory" button. */
  test(): Promise<{ ok: true; details: string }>;
  close(): Promise<void>;
}

/** What Rolecall tells someone whose login or password is wrong: the same words either way. */
const INVALID = 'invalid user name or password';

/** ppolicy's value for "locked by an administrator until unlocked". */
const PERMANENT_LOCK = '000001010000Z';

/** userAccountControl ACCOUNTDISABLE. */
const UAC_DISABLED = 0x2;

interface FoundUser {
  dn: string;
  login: string;
  memberOf: string[];
  entry: Entry;
}

function userAttributes(config: DirectoryConfig): string[] {
  const common = [config.loginAttribute, 'memberOf'];
  return config.kind === 'active-directory'
    ? [...common, 'userAccountControl', 'accountExpires']
    : [...common, 'pwdAccountLockedTime'];
}

/** The stored login value; with a multi-valued attribute, the one the user typed (ignoring case). */
function canonicalLogin(entry: Entry, attribute: string, typed: string): string | undefined {
  const values = allValues(entry, attribute);
  const wanted = typed.slice(typed.lastIndexOf('\\') + 1).toLowerCase();
  return values.find((v) => v.toLowerCase() === wanted) ?? values[0];
}

/** AD accountExpires is a FILETIME (100 ns since 1601); 0 and the maximum mean "never". */
function adAccountExpired(entry: Entry): boolean {
  const raw = firstValue(entry, 'accountExpires');
  if (raw === undefined || !/^\d+$/.test(raw)) return false;
  const ticks = BigInt(raw);
  if (ticks === 0n || ticks === 9223372036854775807n) return false;
  const unixMs = Number((ticks - 116444736000000000n) / 10000n);
  return unixMs <= Date.now();
}

function isDisabled(entry: Entry, config: DirectoryConfig): boolean {
  if (config.kind === 'active-directory') {
    const uac = Number(firstValue(entry, 'userAccountControl') ?? '0');
    return (uac & UAC_DISABLED) !== 0 || adAccountExpired(entry);
  }
  return firstValue(entry, 'pwdAccountLockedTime') === PERMANENT_LOCK;
}

export function createDirectory(config: DirectoryConfig, bindPassword: string, logger: Logger = silentLogger): Directory {
  const log = logger.child({ component: 'directory', url: config.url });
  const { secure } = parseLdapUrl(config.url);
  if (!secure && !config.startTls) {
    log.warn('directory connection is not encrypted: passwords cross the network in clear (use ldaps:// or StartTLS)');
  }
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new DirectoryError('failed', 'the directory client has been closed');
  }

  /** Exactly one account for the typed login, or null when there is none. */
  async function findUser(client: Client, typed: string): Promise<FoundUser | null> {
    const search = loginSearchValue(typed, config);
    if (search === null) return null;
    const { searchEntries } = await client.search(config.userBaseDn ?? config.baseDn, {
      scope: 'sub',
      filter: userSearchFilter(search, config),
      attributes: userAttributes(config),
      paged: { pageSize: 10 },
    });
    if (searchEntries.length === 0) return null;
    if (searchEntries.length > 1) {
      log.warn({ login: typed, matches: searchEntries.length, dns: searchEntries.slice(0, 5).map((e) => e.dn) }, 'login matches more than one directory account');
      throw new DirectoryError('ambiguous', `the login "${typed}" matches ${searchEntries.length} directory accounts; ask an administrator to fix the user filter`);
    }
    const entry = searchEntries[0] as Entry;
    const login = canonicalLogin(entry, config.loginAttribute, typed);
    if (login === undefined) {
      throw new DirectoryError('misconfigured', `the account ${entry.dn} has no ${config.loginAttribute} attribute (check loginAttribute)`);
    }
    return { dn: entry.dn, login, memberOf: allValues(entry, 'memberOf'), entry };
  }

  /** Why the user's own bind failed, as a DirectoryError; logged with login and code, never the password. */
  function userBindFailure(e: unknown, typed: string, user: FoundUser): DirectoryError {
    if (!(e instanceof InvalidCredentialsError)) return classifyError(e, config, 'the user bind');
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

  return {
    async authenticate(login, password) {
      ensureOpen();
      if (password.length === 0) {
        // Would be an unauthenticated bind that "succeeds": never sent.
        log.info({ login }, 'empty password refused before any bind');
        throw new DirectoryError('invalid-credentials', INVALID);
      }
      if (loginSearchValue(login, config) === null) {
        log.info({ login }, 'login not usable for a directory search');
        throw new DirectoryError('invalid-credentials', INVALID);
      }
      return withServiceConnection(config, bindPassword, log, 'authentication', async (client) => {
        const user = await findUser(client, login);
        if (user === null) {
          log.info({ login }, 'no directory account for this login');
          throw new DirectoryError('invalid-credentials', INVALID);
        }
        try {
          await client.bind(user.dn, password);
        } catch (e) {
          throw userBindFailure(e, login, user);
        }
        // Back to the service account: groups are read with its rights, not the user's.
        await client.bind(config.bindDn, bindPassword);
        const groups = await resolveGroups(client, config, user, log);
        log.info({ login: user.login, groups: groups.length }, 'directory authentication succeeded');
        return { login: user.login, dn: user.dn, groups };
      });
    },

    async lookup(login) {
      ensureOpen();
      if (loginSearchValue(login, config) === null) return null;
      return withServiceConnection(config, bindPassword, log, 'lookup', async (client) => {
        const user = await findUser(client, login);
        if (user === null) return null;
        if (isDisabled(user.entry, config)) {
          log.info({ login: user.login }, 'directory account is disabled');
          return null;
        }
        const groups = await resolveGroups(client, config, user, log);
        return { login: user.login, dn: user.dn, groups };
      });
    },

    async test() {
      ensureOpen();
      return withServiceConnection(config, bindPassword, log, 'the directory test', async (client) => {
        let found: boolean;
        try {
          const { searchEntries } = await client.search(config.baseDn, { scope: 'base', attributes: ['1.1'] });
          found = searchEntries.length === 1;
        } catch (e) {
          const inner = classifyError(e, config, 'reading the base DN');
          throw new DirectoryError('misconfigured', `base DN ${config.baseDn} is not readable: ${inner.message}`, { cause: e });
        }
        if (!found) throw new DirectoryError('misconfigured', `base DN ${config.baseDn} is not readable by ${config.bindDn}`);
        const transport = secure ? 'LDAPS' : config.startTls ? 'StartTLS' : 'no encryption';
        const verify = secure || config.startTls ? (config.insecureSkipVerify ? ', certificate NOT verified' : ', certificate verified') : '';
        return { ok: true as const, details: `connected to ${config.url} (${transport}${verify}), bound as ${config.bindDn}, base DN ${config.baseDn} readable` };
      });
    },

    async close() {
      // Every operation uses its own connection and closes it; nothing stays open.
      closed = true;
    },
  };
}
