import { envVarNames } from './env-store.js';
import type { SecretName } from './secret-store.js';

/** What each secret is, in the words every message uses. */
export const SECRET_WHAT: Record<SecretName, string> = {
  'ldap-bind': 'directory service-account password',
  sync: 'sync-account password',
};

/** The variable headless use sets for a secret of any profile (ROLECALL_LDAP_BIND_PASSWORD, ROLECALL_SYNC_PASSWORD). */
function sharedEnvVar(profileId: string, name: SecretName): string {
  return envVarNames(profileId, name).at(-1) ?? '';
}

/** A secret that is not set, and how to set it from the command line. */
export function missingSecretMessage(profileId: string, name: SecretName): string {
  return `profile "${profileId}" has no ${SECRET_WHAT[name]}: run \`rolecall secrets set ${profileId} ${name}\` (stored in the OS keychain) or set ${sharedEnvVar(profileId, name)}`;
}

/** A secret the store could not read (a locked or missing keychain). */
export function unreadableSecretMessage(profileId: string, name: SecretName, error: unknown): string {
  const why = error instanceof Error ? error.message : String(error);
  return `cannot read the ${SECRET_WHAT[name]} of profile "${profileId}": ${why}. Unlock the OS keychain, or set ${sharedEnvVar(profileId, name)} for headless use`;
}
