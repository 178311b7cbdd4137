import type { Client, Entry } from 'ldapts';
import type { DirectoryConfig } from '../profiles/schema.js';
import { firstValue } from './groups.js';

/*
 * When the user's directory password expires, read at sign-in with the
 * service account. Active Directory computes it for us
 * (msDS-UserPasswordExpiryTimeComputed: pwdLastSet + the domain's or the
 * fine-grained policy's maximum age; a constructed attribute, returned only
 * when asked for by name). OpenLDAP ppolicy keeps pwdChangedTime on the user
 * and pwdMaxAge on the policy that applies: the user's pwdPolicySubentry, else
 * the profile's passwordPolicyDn (slapd's ppolicy_default is not readable by
 * clients). Undefined means "does not expire" or "cannot tell".
 */

export const AD_EXPIRY_ATTRIBUTE = 'msDS-UserPasswordExpiryTimeComputed';
export const PPOLICY_USER_ATTRIBUTES = ['pwdChangedTime', 'pwdPolicySubentry'];

/** FILETIME (100 ns ticks since 1601-01-01 UTC) as a Date; 0 and the maximum mean "never" (undefined). */
export function fileTimeToDate(raw: string | undefined): Date | undefined {
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const ticks = BigInt(raw);
  if (ticks === 0n || ticks >= 9223372036854775807n) return undefined;
  return new Date(Number((ticks - 116444736000000000n) / 10000n));
}

/** LDAP GeneralizedTime as ppolicy writes it (20261201225321Z, optionally with fractions). */
export function generalizedTimeToDate(raw: string | undefined): Date | undefined {
  const m = raw === undefined ? null : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$/.exec(raw);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/** AD: straight from the constructed attribute. */
export function adPasswordExpiry(entry: Entry): Date | undefined {
  return fileTimeToDate(firstValue(entry, AD_EXPIRY_ATTRIBUTE));
}

const POLICY_CACHE_MS = 5 * 60_000;

/** Reads ppolicy pwdMaxAge per policy entry, remembered for a few minutes (policies rarely change). */
export class PasswordPolicyCache {
  private readonly maxAge = new Map<string, { seconds: number; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** OpenLDAP: pwdChangedTime + the applicable policy's pwdMaxAge; undefined without both. */
  async expiry(client: Client, entry: Entry, config: Pick<DirectoryConfig, 'passwordPolicyDn'>): Promise<Date | undefined> {
    const changed = generalizedTimeToDate(firstValue(entry, 'pwdChangedTime'));
    const policyDn = firstValue(entry, 'pwdPolicySubentry') ?? config.passwordPolicyDn;
    if (changed === undefined || policyDn === undefined) return undefined;
    const seconds = await this.maxAgeOf(client, policyDn);
    return seconds > 0 ? new Date(changed.getTime() + seconds * 1000) : undefined;
  }

  private async maxAgeOf(client: Client, dn: string): Promise<number> {
    const hit = this.maxAge.get(dn.toLowerCase());
    if (hit !== undefined && hit.until > this.now()) return hit.seconds;
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['pwdMaxAge'] });
    const raw = searchEntries[0] === undefined ? undefined : firstValue(searchEntries[0], 'pwdMaxAge');
    const seconds = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : 0;
    this.maxAge.set(dn.toLowerCase(), { seconds, until: this.now() + POLICY_CACHE_MS });
    return seconds;
  }
}
