import type { DirectoryConfig } from '../profiles/schema.js';
import { escapeFilterValue } from './escape.js';

/** One `attribute=value` assertion; a login search matches an account by any of its terms. */
export interface SearchTerm {
  attribute: string;
  value: string;
}

/** What a typed login becomes. */
export type LoginSearch =
  /** Search for these terms; `name` is the account-name part typed (for picking the canonical value). */
  | { kind: 'search'; terms: SearchTerm[]; name: string }
  /** Nothing searchable (empty, only a domain, too long). */
  | { kind: 'unusable' }
  /** DOMAIN\name with a NetBIOS domain the profile does not accept. */
  | { kind: 'foreign-domain'; domain: string };

type LoginConfig = Pick<DirectoryConfig, 'kind' | 'loginAttribute' | 'baseDn' | 'domain' | 'upnSuffixes' | 'netbiosDomains'>;

/** Longer than any real account name: refused before it reaches the directory. */
const MAX_LOGIN_LENGTH = 256;

/** The DNS domain a base DN names (DC=corp,DC=example,DC=com → corp.example.com), if it is made of DC= parts. */
export function dnsDomainOfDn(dn: string): string | undefined {
  const parts = dn.split(',').map((p) => /^\s*dc=(.+?)\s*$/i.exec(p)?.[1]);
  const dcs = parts.filter((p): p is string => p !== undefined);
  return dcs.length === 0 ? undefined : dcs.join('.').toLowerCase();
}

/**
 * Suffixes after which name@suffix means the account name on AD: the
 * domain's own DNS name (AD's implicit UPN, sAMAccountName@domain) and the
 * profile's upnSuffixes.
 */
function accountSuffixes(config: LoginConfig): Set<string> {
  const own = config.domain ?? dnsDomainOfDn(config.baseDn);
  return new Set([...(own === undefined ? [] : [own]), ...config.upnSuffixes].map((s) => s.toLowerCase()));
}

/**
 * Turns a typed login into a search. On Active Directory:
 * - `CORP\alice` searches for `alice`; with netbiosDomains set only those
 *   domains are accepted (others are refused by name), otherwise any prefix
 *   is (the bind that follows proves who it is);
 * - `alice@suffix` searches userPrincipalName, and also the account name when
 *   the suffix is the domain's own or one of upnSuffixes, so
 *   `alice@corp.example` and `alice@example.com` find the same account (two
 *   different accounts answering is refused as ambiguous, never guessed);
 * - anything else searches the login attribute.
 * Case is left to the server, whose matching rules for these attributes
 * ignore it. OpenLDAP gets the value as typed.
 */
export function parseLogin(typed: string, config: LoginConfig): LoginSearch {
  if (typed.length === 0 || typed.length > MAX_LOGIN_LENGTH) return { kind: 'unusable' };
  const plain = (name: string): LoginSearch => ({ kind: 'search', terms: [{ attribute: config.loginAttribute, value: name }], name });
  if (config.kind !== 'active-directory') return plain(typed);
  const slash = typed.indexOf('\\');
  if (slash >= 0) {
    const domain = typed.slice(0, slash);
    const name = typed.slice(slash + 1);
    if (slash === 0 || name.length === 0) return { kind: 'unusable' };
    if (config.netbiosDomains.length > 0 && !config.netbiosDomains.some((d) => d.toLowerCase() === domain.toLowerCase())) {
      return { kind: 'foreign-domain', domain };
    }
    return plain(name);
  }
  const at = typed.lastIndexOf('@');
  if (at >= 0 && config.loginAttribute.toLowerCase() === 'samaccountname') {
    const name = typed.slice(0, at);
    const suffix = typed.slice(at + 1).toLowerCase();
    if (name.length === 0 || suffix.length === 0) return { kind: 'unusable' };
    const terms: SearchTerm[] = [{ attribute: 'userPrincipalName', value: typed }];
    if (accountSuffixes(config).has(suffix)) terms.push({ attribute: config.loginAttribute, value: name });
    return { kind: 'search', terms, name };
  }
  return plain(typed);
}

/** Narrows user searches to people when the profile gives no filter of its own. */
function defaultUserFilter(kind: DirectoryConfig['kind']): string {
  return kind === 'active-directory' ? '(objectCategory=person)(objectClass=user)' : '';
}

/** The complete, escaped filter that finds the account for these terms. */
export function userSearchFilter(terms: SearchTerm[], config: Pick<DirectoryConfig, 'kind' | 'userFilter'>): string {
  const extra = config.userFilter ?? defaultUserFilter(config.kind);
  const assertions = terms.map((t) => `(${t.attribute}=${escapeFilterValue(t.value)})`);
  const match = assertions.length === 1 ? (assertions[0] as string) : `(|${assertions.join('')})`;
  return `(&${match}${extra})`;
}
