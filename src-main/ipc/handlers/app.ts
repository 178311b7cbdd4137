import { SecretStoreError } from '../../core/secrets/secret-store.js';
import type { AppContext } from '../app-context.js';
import type { AppInfo } from '../contract.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

/** A profile id no one uses: reading it tells whether the keychain answers at all. */
const PROBE_ID = 'rolecall-keychain-probe';
/** A Secret Service that never answers (locked, stuck D-Bus) counts as unavailable rather than hanging the page. */
const PROBE_TIMEOUT_MS = 5000;

export function appHandlers(ctx: AppContext): HandlersFor<'app.info'> {
  return {
    'app.info': defineHandler('app.info', ctx.logger, async (): Promise<AppInfo> => ({
      version: ctx.version,
      platform: process.platform,
      keychain: await keychainState(ctx),
      configPath: ctx.configPath,
    })),
  };
}

/** Which backend holds secrets and whether it works; never suggests a file fallback, because there is none. */
async function keychainState(ctx: AppContext): Promise<AppInfo['keychain']> {
  const backend = ctx.secrets.describe();
  try {
    await answersWithin(ctx.secrets.has(PROBE_ID, 'sync'), PROBE_TIMEOUT_MS);
    return { backend, available: true, message: `Passwords are kept in ${backend}.` };
  } catch (e) {
    const why = e instanceof SecretStoreError || e instanceof Error ? e.message.replace(/\.$/, '') : String(e);
    const linux =
      process.platform === 'linux'
        ? ' On Linux this needs a Secret Service (gnome-keyring, KWallet) running and unlocked in your session.'
        : '';
    return {
      backend,
      available: false,
      message: `The OS keychain is not available: ${why}.${linux} Rolecall never stores passwords in files, so profiles cannot start until it works (or ROLECALL_* environment variables are set).`,
    };
  }
}

function answersWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the keychain did not answer within ${ms / 1000} s (is it locked?)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
