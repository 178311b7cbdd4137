/**
 * Where the two secrets of a profile live: the directory service-account
 * password ("ldap-bind") and the sync-account password ("sync"). Never in a
 * profile file, a log or the history.
 */
export const secretNames = ['ldap-bind', 'sync'] as const;
export type SecretName = (typeof secretNames)[number];

export interface SecretStore {
  get(profileId: string, name: SecretName): Promise<string | null>;
  set(profileId: string, name: SecretName, value: string): Promise<void>;
  /** True when something was deleted. */
  delete(profileId: string, name: SecretName): Promise<boolean>;
  has(profileId: string, name: SecretName): Promise<boolean>;
  /** Human-readable backend, for `rolecall secrets` and the UI. */
  describe(): string;
}

export type SecretStoreErrorCode = 'unavailable' | 'read-only' | 'invalid';

/** A failure the user can act on; its message never contains a secret. */
export class SecretStoreError extends Error {
  constructor(
    readonly code: SecretStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SecretStoreError';
  }
}

export function isSecretName(s: string): s is SecretName {
  return (secretNames as readonly string[]).includes(s);
}

/** Same rule as a profile id in the schema; keeps keychain accounts unambiguous (no "/"). */
const PROFILE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkSecretKey(profileId: string, name: string): void {
  if (!PROFILE_ID.test(profileId)) {
    throw new SecretStoreError('invalid', `"${profileId}" is not a profile id (lowercase letters, digits and dashes)`);
  }
  if (!isSecretName(name)) {
    throw new SecretStoreError('invalid', `unknown secret "${name}": use one of ${secretNames.join(', ')}`);
  }
}

export function checkSecretValue(value: string): void {
  // An empty bind password can pass as an anonymous bind on some servers.
  if (typeof value !== 'string' || value.length === 0) {
    throw new SecretStoreError('invalid', 'a secret cannot be empty');
  }
}
