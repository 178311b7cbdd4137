import { settingsSchema, toFieldErrors } from '../../core/profiles/schema.js';
import type { AppContext } from '../app-context.js';
import { invalid } from './handler-error.js';
import { loadConfig, serialized, storeErrors } from './profile-access.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

/** App settings live in the config file next to the profiles. */
export function settingsHandlers(ctx: AppContext): HandlersFor<'settings.get' | 'settings.set'> {
  const log = ctx.logger;
  return {
    'settings.get': defineHandler('settings.get', log, async () => (await loadConfig(ctx)).settings),
    'settings.set': defineHandler('settings.set', log, ({ settings: raw }) =>
      serialized(ctx, async () => {
        const parsed = settingsSchema.safeParse(raw);
        if (!parsed.success) throw invalid('some settings are not valid', toFieldErrors(parsed.error));
        const config = await loadConfig(ctx);
        const errors = await ctx.store.save({ ...config, settings: parsed.data });
        if (errors) throw storeErrors(errors);
        // A shorter retention applies now, not at the next start.
        ctx.history.prune(parsed.data.historyRetentionDays);
        return parsed.data;
      }),
    ),
  };
}
