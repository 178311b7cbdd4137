import type { AppContext } from '../app-context.js';
import { applySaved } from './apply-outcome.js';
import { findDirectProfile } from './profile-access.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

/**
 * Secrets go in, never out: set stores a value, has answers booleans, delete
 * removes. No channel returns a secret's value.
 */
export function secretHandlers(ctx: AppContext): HandlersFor<'secrets.set' | 'secrets.has' | 'secrets.delete'> {
  const log = ctx.logger;
  return {
    'secrets.set': defineHandler('secrets.set', log, async ({ profileId, name, value }) => {
      const profile = await findDirectProfile(ctx, profileId, 'the directory check and the role sync');
      await ctx.secrets.set(profileId, name, value);
      log.info({ profile: profileId, secret: name }, 'secret stored');
      // A new password for a running proxy is a change like a saved profile: restarted, or pending while clients are connected.
      const applied = await applySaved(ctx, profile, 'secrets.set');
      return { stored: true as const, backend: ctx.secrets.describe(), applied };
    }),
    'secrets.has': defineHandler('secrets.has', log, async ({ profileId }) => {
      const [ldapBind, sync] = await Promise.all([ctx.secrets.has(profileId, 'ldap-bind'), ctx.secrets.has(profileId, 'sync')]);
      return { ldapBind, sync };
    }),
    'secrets.delete': defineHandler('secrets.delete', log, async ({ profileId, name }) => {
      const deleted = await ctx.secrets.delete(profileId, name);
      log.info({ profile: profileId, secret: name, deleted }, 'secret deleted');
      return { deleted };
    }),
  };
}
