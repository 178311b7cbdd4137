import { findSecretKeys } from '../../core/profiles/secret-keys.js';
import { describeDirectoryServers, isBrokerProfile, profileSchema, toFieldErrors, type FieldError, type Profile } from '../../core/profiles/schema.js';
import { secretNames } from '../../core/secrets/secret-store.js';
import { asStartError } from '../../core/service.js';
import type { AppContext } from '../app-context.js';
import type { ApplyOutcome, ProfileSummary, SavedProfile } from '../contract.js';
import { applySaved, toOutcome } from './apply-outcome.js';
import { HandlerError, invalid, notFound } from './handler-error.js';
import { findProfile, loadConfig, secretFlags, serialized, storeErrors } from './profile-access.js';
import { validateProfile } from './profile-input.js';
import { checkPort, nextFreePort, profileOnPort } from './port-check.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

type ProfileChannels =
  | 'profiles.list'
  | 'profiles.get'
  | 'profiles.save'
  | 'profiles.delete'
  | 'profiles.duplicate'
  | 'profiles.import'
  | 'profiles.export'
  | 'profiles.validate';

export function profileHandlers(ctx: AppContext): HandlersFor<ProfileChannels> {
  const log = ctx.logger;
  return {
    'profiles.list': defineHandler('profiles.list', log, async () => {
      const config = await loadConfig(ctx);
      // A broker profile has no secret: the keychain is not asked about it.
      const none = { ldapBind: false, sync: false };
      return Promise.all(config.profiles.map(async (p): Promise<ProfileSummary> => summary(p, isBrokerProfile(p) ? none : await secretFlags(ctx.secrets, p.id))));
    }),

    'profiles.get': defineHandler('profiles.get', log, ({ id }) => findProfile(ctx, id)),

    'profiles.validate': defineHandler('profiles.validate', log, async ({ profile }) => ({ profile: validateProfile(profile) })),

    'profiles.save': defineHandler('profiles.save', log, ({ profile: raw, previousId }) =>
      serialized(ctx, async (): Promise<SavedProfile> => {
        const profile = validateProfile(raw);
        const config = await loadConfig(ctx);
        const index = previousId === undefined ? -1 : config.profiles.findIndex((p) => p.id === previousId);
        if (previousId !== undefined && index === -1) throw notFound(`there is no profile "${previousId}" to update`);
        const renaming = previousId !== undefined && previousId !== profile.id;
        if ((previousId === undefined || renaming) && config.profiles.some((p) => p.id === profile.id)) {
          throw invalid(`a profile "${profile.id}" already exists`, [
            { path: 'id', message: `a profile "${profile.id}" already exists: choose another id` },
          ]);
        }
        await ensurePortUsable(ctx, config.profiles, profile, previousId);
        // A renamed profile's proxy cannot keep running under the old id (it no longer exists): stopped
        // here (sessions get the usual grace), started again under the new id once saved.
        const restartAs = renaming && previousId ? await stopRenamed(ctx, previousId) : null;

        const profiles = [...config.profiles];
        if (index === -1) profiles.push(profile);
        else profiles[index] = profile;
        const at = index === -1 ? profiles.length - 1 : index;
        const errors = await ctx.store.save({ ...config, profiles });
        if (errors) {
          if (restartAs && previousId) await ctx.service.restart(previousId, restartAs).catch(() => undefined);
          throw storeErrors(relativeTo(errors, `profiles.${at}`));
        }
        if (renaming && previousId) await moveSecrets(ctx, previousId, profile.id);
        log.info({ profile: profile.id, renamedFrom: renaming ? previousId : undefined }, 'profile saved');
        const saved = await findProfile(ctx, profile.id);
        const applied = restartAs ? await startRenamed(ctx, saved, restartAs.listen.port) : await applySaved(ctx, saved, 'profiles.save');
        return { ...saved, applied };
      }),
    ),

    'profiles.delete': defineHandler('profiles.delete', log, ({ id }) =>
      serialized(ctx, async () => {
        await ctx.service.stop(id);
        const deleted = await ctx.store.deleteProfile(id);
        if (deleted) {
          await deleteSecrets(ctx, id);
          log.info({ profile: id }, 'profile deleted');
        }
        return { deleted };
      }),
    ),

    'profiles.duplicate': defineHandler('profiles.duplicate', log, ({ id, newId }) =>
      serialized(ctx, async () => {
        const config = await loadConfig(ctx);
        const source = config.profiles.find((p) => p.id === id);
        if (!source) throw notFound(`there is no profile "${id}"`);
        if (config.profiles.some((p) => p.id === newId)) {
          throw invalid(`a profile "${newId}" already exists`, [{ path: 'newId', message: `a profile "${newId}" already exists: choose another id` }]);
        }
        const port = await nextFreePort(config.profiles, source.listen.port + 1, source.listen.host);
        if (port === null) throw new HandlerError({ code: 'conflict', message: `no free local port found after ${source.listen.port}` });
        const copy: Profile = { ...source, id: newId, name: `${source.name} (copy)`.slice(0, 200), listen: { ...source.listen, port } };
        const errors = await ctx.store.save({ ...config, profiles: [...config.profiles, copy] });
        if (errors) throw storeErrors(relativeTo(errors, `profiles.${config.profiles.length}`));
        await copySecrets(ctx, id, newId);
        return findProfile(ctx, newId);
      }),
    ),

    'profiles.import': defineHandler('profiles.import', log, ({ json }) =>
      serialized(ctx, async () => {
        const incoming = parseImport(json);
        const config = await loadConfig(ctx);
        const existing = new Set(config.profiles.map((p) => p.id));
        const clash: FieldError[] = incoming
          .map((p, i) => ({ p, i }))
          .filter(({ p }) => existing.has(p.id))
          .map(({ p, i }) => ({ path: `profiles.${i}.id`, message: `a profile "${p.id}" already exists: delete or rename it first` }));
        if (clash.length > 0) throw invalid('some profiles in the file already exist here', clash);
        const errors = await ctx.store.save({ ...config, profiles: [...config.profiles, ...incoming] });
        if (errors) {
          throw invalid(
            'the profiles could not be imported',
            errors.map((e) => shiftProfileIndex(e, config.profiles.length)),
          );
        }
        log.info({ profiles: incoming.map((p) => p.id) }, 'profiles imported');
        return { imported: incoming.map((p) => p.id) };
      }),
    ),

    'profiles.export': defineHandler('profiles.export', log, async ({ ids }) => {
      const config = await loadConfig(ctx);
      const unknown = (ids ?? []).filter((id) => !config.profiles.some((p) => p.id === id));
      if (unknown.length > 0) throw notFound(`there is no profile ${unknown.map((id) => `"${id}"`).join(', ')}`);
      const profiles = ids ? config.profiles.filter((p) => ids.includes(p.id)) : config.profiles;
      // Profiles hold no secrets by construction; the export is the same shape as the config file.
      return { json: `${JSON.stringify({ version: 1, profiles }, null, 2)}\n` };
    }),
  };
}

function summary(p: Profile, secrets: { ldapBind: boolean; sync: boolean }): ProfileSummary {
  return {
    id: p.id,
    name: p.name,
    mode: p.mode ?? 'direct',
    port: p.listen.port,
    database: p.database.database,
    databaseHost: p.database.host,
    directoryUrl: isBrokerProfile(p) ? '' : p.directory.url,
    directoryServers: isBrokerProfile(p) ? '' : describeDirectoryServers(p.directory),
    brokerUrls: isBrokerProfile(p) ? p.broker.urls : [],
    secrets,
  };
}

/** Stops the proxy of a profile being renamed; answers the profile it ran with, or null when it was not running. */
async function stopRenamed(ctx: AppContext, previousId: string): Promise<Profile | null> {
  const proxy = ctx.service.get(previousId);
  const running = proxy?.status().state === 'running' ? proxy.profile : null;
  await ctx.service.stop(previousId);
  return running;
}

/** The renamed profile's proxy starts under its new id, as if the save had restarted it. */
async function startRenamed(ctx: AppContext, profile: Profile, previousPort: number): Promise<ApplyOutcome> {
  try {
    const status = await ctx.service.start(profile);
    return { outcome: 'restarted', port: status.port, previousPort };
  } catch (e) {
    return toOutcome({ outcome: 'restart-failed', error: asStartError(e, profile.id) }, 'profiles.save');
  }
}

/** Another profile, or another program, on the profile's port: refused before saving, with the field to fix. */
async function ensurePortUsable(ctx: AppContext, profiles: Profile[], profile: Profile, previousId: string | undefined): Promise<void> {
  const port = profile.listen.port;
  const other = profileOnPort(profiles, port, previousId ?? profile.id);
  if (other && other.id !== profile.id) {
    const message = `port ${port} is already used by profile "${other.id}"`;
    throw invalid(message, [{ path: 'listen.port', message }]);
  }
  const check = await checkPort(ctx.service, [], port, { host: profile.listen.host, exceptIds: [profile.id, previousId] });
  if (!check.free) {
    const next = (await nextFreePort(profiles, port + 1)) ?? null;
    const message = `port ${port} is in use by ${check.owner ?? 'another program'}${next ? `: port ${next} is free` : ''}`;
    throw new HandlerError({ code: 'conflict', message, detail: 'EADDRINUSE', fields: [{ path: 'listen.port', message }] });
  }
}

/** Accepts a config file ({"version":1,"profiles":[...]}), an array of profiles, or one profile. */
function parseImport(json: string): Profile[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw invalid(`not valid JSON: ${(e as Error).message}`, [{ path: 'json', message: 'not valid JSON' }]);
  }
  const secretFields = findSecretKeys(raw);
  if (secretFields.length > 0) {
    throw invalid('the file contains passwords: remove them (secrets are stored in the OS keychain, never imported)', secretFields);
  }
  let list: unknown[];
  let prefix = 'profiles';
  if (Array.isArray(raw)) list = raw;
  else if (raw !== null && typeof raw === 'object' && Array.isArray((raw as { profiles?: unknown }).profiles)) {
    list = (raw as { profiles: unknown[] }).profiles;
  } else if (raw !== null && typeof raw === 'object' && 'id' in raw) {
    list = [raw];
    prefix = 'profile';
  } else {
    throw invalid('expected a Rolecall config file, a list of profiles or one profile', [{ path: 'json', message: 'no profiles found' }]);
  }
  if (list.length === 0) throw invalid('the file has no profiles', [{ path: 'json', message: 'no profiles found' }]);
  const errors: FieldError[] = [];
  const profiles: Profile[] = [];
  list.forEach((item, i) => {
    const parsed = profileSchema.safeParse(item);
    if (parsed.success) profiles.push(parsed.data);
    else errors.push(...toFieldErrors(parsed.error).map((e) => ({ ...e, path: prefix === 'profile' ? `profile.${e.path}` : `profiles.${i}.${e.path}` })));
  });
  if (errors.length > 0) throw invalid('some profiles in the file are not valid', errors);
  return profiles;
}

/** Store errors of the merged config name their profile by its index there; report it by its index in the import. */
function shiftProfileIndex(e: FieldError, offset: number): FieldError {
  const m = /^profiles\.(\d+)(\..*)?$/.exec(e.path);
  if (!m) return e;
  return { ...e, path: `profiles.${Number(m[1]) - offset}${m[2] ?? ''}` };
}

function relativeTo(errors: FieldError[], prefix: string): FieldError[] {
  return errors.map((e) => {
    if (e.path === prefix) return { ...e, path: '' };
    if (e.path.startsWith(`${prefix}.`)) return { ...e, path: e.path.slice(prefix.length + 1) };
    return e;
  });
}

/** Secrets follow a renamed profile; a keychain that fails here is logged (the user can type them again). */
async function moveSecrets(ctx: AppContext, from: string, to: string): Promise<void> {
  await copySecrets(ctx, from, to);
  await deleteSecrets(ctx, from);
}

async function copySecrets(ctx: AppContext, from: string, to: string): Promise<void> {
  for (const name of secretNames) {
    try {
      const value = await ctx.secrets.get(from, name);
      if (value) await ctx.secrets.set(to, name, value);
    } catch (e) {
      ctx.logger.warn({ from, to, secret: name, error: (e as Error).message }, 'could not copy a secret to the new profile id');
    }
  }
}

async function deleteSecrets(ctx: AppContext, id: string): Promise<void> {
  for (const name of secretNames) {
    try {
      await ctx.secrets.delete(id, name);
    } catch (e) {
      ctx.logger.warn({ profile: id, secret: name, error: (e as Error).message }, 'could not delete a secret of the profile');
    }
  }
}
