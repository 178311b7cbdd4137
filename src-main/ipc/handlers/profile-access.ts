import { isBrokerProfile, type Config, type DirectProfile, type FieldError, type Profile } from '../../core/profiles/schema.js';
import { ConfigLoadError } from '../../core/profiles/store.js';
import type { SecretStore } from '../../core/secrets/secret-store.js';
import { SECRET_WHAT } from '../../core/secrets/secret-text.js';
import type { AppContext } from '../app-context.js';
import { HandlerError, notFound } from './handler-error.js';

/** The config file, or a ConfigLoadError the error mapping turns into a message. */
export async function loadConfig(ctx: AppContext): Promise<Config> {
  const loaded = await ctx.store.load();
  if (!loaded.ok) throw new ConfigLoadError(loaded.errors, loaded.path);
  return loaded.config;
}

export async function findProfile(ctx: AppContext, id: string): Promise<Profile> {
  const config = await loadConfig(ctx);
  const profile = config.profiles.find((p) => p.id === id);
  if (!profile) throw notFound(`there is no profile "${id}"`);
  return profile;
}

/**
 * A direct-mode profile, for what only direct mode does on the laptop (its
 * secrets, the access check, the sync login). A broker profile is refused
 * saying where that happens instead.
 */
export async function findDirectProfile(ctx: AppContext, id: string, what: string): Promise<DirectProfile> {
  const profile = await findProfile(ctx, id);
  if (isBrokerProfile(profile)) throw brokerProfileRefusal(profile.id, what);
  return profile;
}

export function brokerProfileRefusal(profileId: string, what: string): HandlerError {
  return new HandlerError({
    code: 'refused',
    message: `profile "${profileId}" signs in through the team broker, which does ${what} for it: this laptop keeps no secret for it`,
  });
}

/** Field errors from the store (relative to the profile), as an 'invalid' error. */
export function storeErrors(fields: FieldError[]): HandlerError {
  return new HandlerError({ code: 'invalid', message: 'the profile was not saved: fix the highlighted fields', fields });
}

/** The editor field where each secret is typed (error paths point at it). */
export const SECRET_FIELD = { 'ldap-bind': 'secrets.ldapBind', sync: 'secrets.sync' } as const;

/**
 * A stored secret, or an 'invalid' error on the field where the user types it.
 * Keychain failures propagate (mapped to 'unavailable').
 */
export async function requireSecret(secrets: SecretStore, profileId: string, name: 'ldap-bind' | 'sync'): Promise<string> {
  const value = await secrets.get(profileId, name);
  if (value) return value;
  const hint =
    name === 'sync'
      ? 'create the sync login in Database setup (it stores a generated password), or type the password in the profile editor'
      : 'type it in the profile editor and save';
  throw new HandlerError({
    code: 'invalid',
    message: `profile "${profileId}" has no ${SECRET_WHAT[name]}: ${hint}`,
    fields: [{ path: SECRET_FIELD[name], message: `not set: ${hint}` }],
  });
}

/** The secrets a profile's proxy starts with: direct mode's two; a broker profile has none. */
export async function requireStartSecrets(ctx: AppContext, profile: Profile): Promise<void> {
  if (isBrokerProfile(profile)) return;
  await requireSecret(ctx.secrets, profile.id, 'ldap-bind');
  await requireSecret(ctx.secrets, profile.id, 'sync');
}

/** Whether each secret is set; a keychain that cannot answer counts as "not set" (app.info says why). */
export async function secretFlags(secrets: SecretStore, profileId: string): Promise<{ ldapBind: boolean; sync: boolean }> {
  const has = (name: 'ldap-bind' | 'sync') => secrets.has(profileId, name).catch(() => false);
  const [ldapBind, sync] = await Promise.all([has('ldap-bind'), has('sync')]);
  return { ldapBind, sync };
}

const queues = new WeakMap<AppContext, Promise<unknown>>();

/** Runs config read-modify-write steps of one context one after another, so two quick edits cannot undo each other. */
export function serialized<T>(ctx: AppContext, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(ctx) ?? Promise.resolve();
  const run = previous.then(task, task);
  queues.set(ctx, run.catch(() => undefined));
  return run;
}
