import { checkSecretKey, SecretStoreError, type SecretName, type SecretStore } from './secret-store.js';

const SUFFIX: Record<SecretName, string> = {
  'ldap-bind': 'LDAP_BIND_PASSWORD',
  sync: 'SYNC_PASSWORD',
};

export interface EnvSecretStoreOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * The profiles being started, which the generic ROLECALL_LDAP_BIND_PASSWORD /
   * ROLECALL_SYNC_PASSWORD apply to. Unset: they apply to every profile.
   * Per-profile variables always win over the generic ones.
   */
  profileIds?: readonly string[];
}

/** Variable names consulted for one secret, most specific first. */
export function envVarNames(profileId: string, name: SecretName): string[] {
  const id = profileId.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return [`ROLECALL_${id}_${SUFFIX[name]}`, `ROLECALL_${SUFFIX[name]}`];
}

/**
 * Reads secrets from ROLECALL_* environment variables, for headless use.
 * Read-only: a process cannot change its parent's environment.
 */
export class EnvSecretStore implements SecretStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly profileIds: readonly string[] | undefined;

  constructor(options: EnvSecretStoreOptions = {}) {
    this.env = options.env ?? process.env;
    this.profileIds = options.profileIds;
  }

  async get(profileId: string, name: SecretName): Promise<string | null> {
    checkSecretKey(profileId, name);
    const [specific, generic] = envVarNames(profileId, name);
    const own = specific === undefined ? undefined : this.env[specific];
    if (own) return own;
    if (this.profileIds !== undefined && !this.profileIds.includes(profileId)) return null;
    const shared = generic === undefined ? undefined : this.env[generic];
    // Empty means unset: an empty bind password is an anonymous bind.
    return shared ? shared : null;
  }

  async set(profileId: string, name: SecretName, _value?: string): Promise<void> {
    checkSecretKey(profileId, name);
    throw this.readOnly(profileId, name);
  }

  async delete(profileId: string, name: SecretName): Promise<boolean> {
    checkSecretKey(profileId, name);
    throw this.readOnly(profileId, name);
  }

  async has(profileId: string, name: SecretName): Promise<boolean> {
    return (await this.get(profileId, name)) !== null;
  }

  describe(): string {
    return 'environment variables (ROLECALL_*_PASSWORD)';
  }

  private readOnly(profileId: string, name: SecretName): SecretStoreError {
    return new SecretStoreError(
      'read-only',
      `secrets from environment variables are read-only: change ${envVarNames(profileId, name).join(' or ')} where the process is started`,
    );
  }
}
