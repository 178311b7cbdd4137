import type { AppContext } from '../app-context.js';
import { findProfile, requireStartSecrets } from './profile-access.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

export function proxyHandlers(ctx: AppContext): HandlersFor<'proxies.start' | 'proxies.stop' | 'proxies.status' | 'proxies.restart'> {
  const log = ctx.logger;
  return {
    'proxies.start': defineHandler('proxies.start', log, async ({ id }) => {
      const profile = await findProfile(ctx, id);
      // Checked here so the error points at the field to fill in; the service would only say it in words.
      await requireStartSecrets(ctx, profile);
      // A port in use comes back as a StartError naming the owner: mapped to 'conflict' on listen.port.
      return ctx.service.start(profile);
    }),
    'proxies.stop': defineHandler('proxies.stop', log, async ({ id }) => {
      const proxy = ctx.service.get(id);
      if (!proxy) return null;
      await ctx.service.stop(id);
      return { ...proxy.status(), pendingRestart: false };
    }),
    'proxies.status': defineHandler('proxies.status', log, async () => ctx.service.status()),
    // Applies a pending change: the profile as saved now, with the secrets as stored now. Open sessions
    // get the usual grace, then are closed. A failed start leaves the proxy stopped, in state 'error'.
    'proxies.restart': defineHandler('proxies.restart', log, async ({ id }) => {
      const profile = await findProfile(ctx, id);
      await requireStartSecrets(ctx, profile);
      const status = await ctx.service.restart(id, profile);
      log.info({ profile: id, port: status.port }, 'proxy restarted');
      return status;
    }),
  };
}
