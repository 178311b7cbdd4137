import type { DirectoryConfig } from '../profiles/schema.js';
import { escapeFilterValue } from './escape.js';

/** Which attribute to search and for what value, from what the user typed. */
export interface LoginSearch {
  attribute: string;
  value: string;
}

/** Longer than any real account name: refused before it reaches the directory. */
const MAX_LOGIN_LENGTH = 256;

/**
 * Turns a typed login into a search. On Active Directory `CORP\alice` searches
 * for `alice` (any domain prefix is accepted: the bind that follows proves who
 * it is), and `alice@corp.test` searches userPrincipalName when the login
 * attribute is sAMAccountName. Case is left to the server, whose matching
 * rules for these attributes ignore it. OpenLDAP gets the value as typed.
 * Returns null when nothing searchable is left (empty, or only a domain).
 */
export function loginSearchValue(typed: string, config: Pick<DirectoryConfig, 'kind' | 'loginAttribute'>): LoginSearch | null {
  if (typed.length === 0 || typed.length > MAX_LOGIN_LENGTH) return null;
  if (config.kind !== 'active-directory') return { attribute: config.loginAttribute, value: typed };
  const slash = typed.indexOf('\\');
  if (slash >= 0) {
    const name = typed.slice(slash + 1);
    if (slash === 0 || name.length === 0) return null;
    return { attribute: config.loginAttribute, value: name };
  }
  if (typed.includes('@') && config.loginAttribute.toLowerCase() === 'samaccountname') {
    return { attribute: 'userPrincipalName', value: typed };
  }
  return { attribute: config.loginAttribute, value: typed };
}

/** Narrows user searches to people when the profile gives no filter of its own. */
function defaultUserFilter(kind: DirectoryConfig['kind']): string {
  return kind === 'active-directory' ? '(objectCategory=person)(objectClass=user)' : '';
}

/** The complete, escaped filter that finds the account for a login search. */
export function userSearchFilter(search: LoginSearch, config: Pick<DirectoryConfig, 'kind' | 'userFilter'>): string {
  const extra = config.userFilter ?? defaultUserFilter(config.kind);
  return `(&(${search.attribute}=${escapeFilterValue(search.value)})${extra})`;
}
