import type { FieldError } from './schema.js';

/**
 * Keys that look like they hold a secret. The schema would silently strip
 * them (zod objects drop unknown keys), leaving a password sitting in the
 * file; we refuse the file instead. Matched on the key's ending so that
 * settings like cache.passwordValidForSeconds stay allowed.
 */
const SECRET_KEY = /(password|passwd|passphrase|pwd|secret|credentials?|^pass)$/i;

/** Whether a key's name says it holds a secret (dashes and underscores ignored). Also used by the broker's config. */
export function looksLikeSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.replace(/[-_]/g, ''));
}

export function findSecretKeys(value: unknown): FieldError[] {
  const errors: FieldError[] = [];
  walk(value, [], errors, value);
  return errors;
}

function walk(value: unknown, at: (string | number)[], errors: FieldError[], root: unknown): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, [...at, i], errors, root));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    const here = [...at, key];
    if (looksLikeSecretKey(key)) {
      errors.push({ path: here.join('.'), message: secretMessage(here, root) });
    } else {
      walk(child, here, errors, root);
    }
  }
}

function secretMessage(at: (string | number)[], root: unknown): string {
  const profile = profileAt(at, root);
  if (profile?.mode === 'broker') {
    return 'a broker profile holds no secret: the team broker keeps the directory and database secrets, and you type your own password in your client; remove this key from the file';
  }
  const profileId = typeof profile?.id === 'string' ? profile.id : '<profile>';
  const name = at.includes('database') || /sync/i.test(String(at[at.length - 1])) ? 'sync' : 'ldap-bind';
  return `secrets belong in the keychain: rolecall secrets set ${profileId} ${name} (or ROLECALL_* environment variables); remove this key from the file`;
}

function profileAt(at: (string | number)[], root: unknown): { id?: unknown; mode?: unknown } | undefined {
  if (at[0] !== 'profiles' || typeof at[1] !== 'number' || root === null || typeof root !== 'object') return undefined;
  const profiles = (root as { profiles?: unknown }).profiles;
  if (!Array.isArray(profiles)) return undefined;
  const profile: unknown = profiles[at[1]];
  if (profile === null || typeof profile !== 'object') return undefined;
  return profile as { id?: unknown; mode?: unknown };
}
