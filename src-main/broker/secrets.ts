import { readFileSync } from 'node:fs';

/*
 * The broker's secrets come from the environment, never from broker.json:
 * each from a variable, or from the file a `<VARIABLE>_FILE` names (a
 * Kubernetes secret mounted as a file, a systemd credential). Giving both is
 * an error: which one wins would be a guess.
 */

export const SECRET_VARS = {
  /** The directory service account's password (directory.bindDn). */
  bindPassword: 'ROLECALL_BROKER_LDAP_BIND_PASSWORD',
  /** The sync login's (sync.user, rolecall_broker) password, for every database; ROLECALL_BROKER_<ID>_SYNC_PASSWORD overrides it for one. */
  syncPassword: 'ROLECALL_BROKER_SYNC_PASSWORD',
  /** The key database passwords are derived from: at least 32 random bytes, base64 (`openssl rand -base64 32`). */
  credentialKey: 'ROLECALL_BROKER_CREDENTIAL_KEY',
} as const;

/** The variable that overrides the sync password for one database id (uppercased, dashes as underscores). */
export function databaseSyncPasswordVar(databaseId: string): string {
  return `ROLECALL_BROKER_${databaseId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_SYNC_PASSWORD`;
}

const MIN_KEY_BYTES = 32;

export interface BrokerSecrets {
  bindPassword: string;
  /** Sync password per database id. */
  syncPasswords: Map<string, string>;
  credentialKey: Buffer;
}

export type SecretsResult = { ok: true; secrets: BrokerSecrets } | { ok: false; errors: string[] };

type Lookup = { value: string; from: string } | { missing: true } | { error: string };

/** A variable's value, or the contents of the file its _FILE variable names (one trailing newline dropped). */
function lookup(env: NodeJS.ProcessEnv, name: string): Lookup {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) return { error: `both ${name} and ${name}_FILE are set: keep one` };
  if (direct) return { value: direct, from: name };
  if (!file) return { missing: true };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { error: `cannot read ${name}_FILE (${file}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const value = text.replace(/\r?\n$/, '');
  if (value.length === 0) return { error: `${name}_FILE (${file}) is empty` };
  return { value, from: `${name}_FILE` };
}

/** The credential key from base64 (standard or URL-safe), at least 32 bytes. */
export function parseCredentialKey(text: string, from: string): Buffer | string {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return `${from} must be base64 (make one with: openssl rand -base64 32)`;
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length < MIN_KEY_BYTES) return `${from} holds ${key.length} bytes; it needs at least ${MIN_KEY_BYTES} (make one with: openssl rand -base64 32)`;
  return key;
}

/** Reads every secret the broker needs; all problems at once, each naming the variable to set. */
export function readBrokerSecrets(env: NodeJS.ProcessEnv, databaseIds: readonly string[]): SecretsResult {
  const errors: string[] = [];
  const need = (name: string, what: string): string | undefined => {
    const r = lookup(env, name);
    if ('error' in r) errors.push(r.error);
    else if ('missing' in r) errors.push(`no ${what}: set ${name} or ${name}_FILE`);
    else return r.value;
    return undefined;
  };
  const bindPassword = need(SECRET_VARS.bindPassword, 'directory service-account password');
  const keyText = lookup(env, SECRET_VARS.credentialKey);
  let credentialKey: Buffer | undefined;
  if ('error' in keyText) errors.push(keyText.error);
  else if ('missing' in keyText) errors.push(`no credential key: set ${SECRET_VARS.credentialKey} or ${SECRET_VARS.credentialKey}_FILE (make one with: openssl rand -base64 32)`);
  else {
    const parsed = parseCredentialKey(keyText.value, keyText.from);
    if (typeof parsed === 'string') errors.push(parsed);
    else credentialKey = parsed;
  }
  const shared = lookup(env, SECRET_VARS.syncPassword);
  if ('error' in shared) errors.push(shared.error);
  const syncPasswords = new Map<string, string>();
  for (const id of databaseIds) {
    const own = lookup(env, databaseSyncPasswordVar(id));
    if ('error' in own) errors.push(own.error);
    else if ('value' in own) syncPasswords.set(id, own.value);
    else if ('value' in shared) syncPasswords.set(id, shared.value);
    else if (!('error' in shared)) {
      errors.push(`no sync-login password for database "${id}": set ${SECRET_VARS.syncPassword} (all databases) or ${databaseSyncPasswordVar(id)}, or their _FILE forms`);
    }
  }
  if (errors.length > 0 || bindPassword === undefined || credentialKey === undefined) return { ok: false, errors };
  return { ok: true, secrets: { bindPassword, syncPasswords, credentialKey } };
}
