import type { Client, Entry } from 'ldapts';
import type { Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { DirectoryError } from './errors.js';
import { allValues, firstValue } from './groups.js';
import { dnsDomainOfDn, userSearchFilter, type LoginSearch, type SearchTerm } from './login.js';
import { AD_EXPIRY_ATTRIBUTE, PPOLICY_USER_ATTRIBUTES, fileTimeToDate } from './password-expiry.js';

export interface FoundUser {
  dn: string;
  /** The canonical account name: the login attribute's value as stored. */
  login: string;
  memberOf: string[];
  entry: Entry;
}

/** ppolicy's value for "locked by an administrator until unlocked". */
const PERMANENT_LOCK = '000001010000Z';

/** userAccountControl ACCOUNTDISABLE. */
const UAC_DISABLED = 0x2;

function userAttributes(config: DirectoryConfig): string[] {
  const common = [config.loginAttribute, 'memberOf'];
  return config.kind === 'active-directory'
    ? [...common, 'userAccountControl', 'accountExpires', AD_EXPIRY_ATTRIBUTE]
    : [...common, 'pwdAccountLockedTime', ...PPOLICY_USER_ATTRIBUTES];
}

/** The stored login value; with a multi-valued attribute, the one the user typed (ignoring case). */
function canonicalLogin(entry: Entry, attribute: string, name: string): string | undefined {
  const values = allValues(entry, attribute);
  return values.find((v) => v.toLowerCase() === name.toLowerCase()) ?? values[0];
}

/** "corp.example.com" for an account's DN: which domain holds it, for messages. */
function domainOf(dn: string): string {
  return dnsDomainOfDn(dn) ?? dn;
}

export function isDisabled(entry: Entry, config: DirectoryConfig): boolean {
  if (config.kind === 'active-directory') {
    const uac = Number(firstValue(entry, 'userAccountControl') ?? '0');
    const expires = fileTimeToDate(firstValue(entry, 'accountExpires'));
    return (uac & UAC_DISABLED) !== 0 || (expires !== undefined && expires.getTime() <= Date.now());
  }
  return firstValue(entry, 'pwdAccountLockedTime') === PERMANENT_LOCK;
}

async function searchUsers(client: Client, config: DirectoryConfig, terms: SearchTerm[]): Promise<Entry[]> {
  const { searchEntries } = await client.search(config.userBaseDn ?? config.baseDn, {
    scope: 'sub',
    filter: userSearchFilter(terms, config),
    attributes: userAttributes(config),
    paged: { pageSize: 10 },
  });
  return searchEntries;
}

/**
 * The refusal for a login that names several accounts: the domains when they
 * differ (the same sAMAccountName in two domains of a forest), so an
 * administrator knows what to rename; never a guess at which one was meant.
 */
export function ambiguityError(typed: string, dns: string[]): DirectoryError {
  const domains = [...new Set(dns.map(domainOf))];
  if (domains.length > 1) {
    return new DirectoryError(
      'ambiguous',
      `the login "${typed}" names accounts in ${domains.length} domains (${domains.join(', ')}); Rolecall gives every account one database login and refuses rather than guess: ask an administrator to rename one of them`,
      { acrossDomains: true },
    );
  }
  return new DirectoryError('ambiguous', `the login "${typed}" matches ${dns.length} directory accounts; ask an administrator to fix the user filter`);
}

function ambiguous(typed: string, entries: Entry[], log: Logger): DirectoryError {
  log.warn({ login: typed, matches: entries.length, dns: entries.slice(0, 5).map((e) => e.dn) }, 'login matches more than one directory account');
  return ambiguityError(typed, entries.map((e) => e.dn));
}

/**
 * Exactly one account for a login search, or null when there is none. Two
 * accounts answering is refused, never guessed. In the global catalog the
 * canonical name must also be unique across the forest, since it becomes
 * the database login: an account found by its UPN whose sAMAccountName
 * another domain also holds is refused too.
 */
export async function findUser(client: Client, config: DirectoryConfig, search: LoginSearch & { kind: 'search' }, typed: string, log: Logger): Promise<FoundUser | null> {
  const entries = await searchUsers(client, config, search.terms);
  if (entries.length === 0) return null;
  if (entries.length > 1) throw ambiguous(typed, entries, log);
  const entry = entries[0] as Entry;
  const login = canonicalLogin(entry, config.loginAttribute, search.name);
  if (login === undefined) {
    throw new DirectoryError('misconfigured', `the account ${entry.dn} has no ${config.loginAttribute} attribute (check loginAttribute)`);
  }
  const searchedByName = search.terms.some((t) => t.attribute === config.loginAttribute && t.value.toLowerCase() === login.toLowerCase());
  if (config.globalCatalog && !searchedByName) {
    const namesakes = await searchUsers(client, config, [{ attribute: config.loginAttribute, value: login }]);
    if (namesakes.length > 1) throw ambiguous(login, namesakes, log);
  }
  return { dn: entry.dn, login, memberOf: allValues(entry, 'memberOf'), entry };
}
