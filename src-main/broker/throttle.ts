import { ClientError, SqlState, invalidCredentials } from '../core/client-errors.js';
import { failureOf } from '../core/auth/denials.js';
import { parseLogin } from '../core/directory/login.js';
import type { DirectoryConfig } from '../core/profiles/schema.js';
import { throttleEnter, throttleLeave } from '../core/sync/broker-sync.js';
import type { SyncClient } from '../core/sync/sync-client.js';
import { RetryLaterError } from './api-error.js';

type Outcome<T> = { held: true; until: string | null } | { held: false; value: T } | { held: false; error: unknown };

/**
 * The wrong-password throttle every replica shares (rolecall.throttle_enter /
 * throttle_leave in one transaction on one database): the directory's
 * password check of a login runs while its row is locked, so concurrent
 * checks of the same login on any replica wait for it; after a wrong password
 * the login is held and answered without asking the directory. Only a wrong
 * password holds; an outage changes nothing.
 */
export class SharedThrottle {
  constructor(
    private readonly sync: SyncClient,
    private readonly holdSeconds: number,
    private readonly directory: Pick<DirectoryConfig, 'kind' | 'loginAttribute' | 'baseDn' | 'domain' | 'upnSuffixes' | 'netbiosDomains'>,
    private readonly now: () => number,
  ) {}

  /** The throttle's key for a typed login: the account-name part, so CORP\alice and alice@corp.test share alice's hold. */
  keyOf(typedLogin: string): string {
    const search = parseLogin(typedLogin, this.directory);
    return (search.kind === 'search' ? search.name : typedLogin).toLowerCase();
  }

  /** Runs the password check `check` under the login's throttle; throws 28P01 (with when to retry) while the login is held. */
  async guard<T>(typedLogin: string, check: () => Promise<T>): Promise<T> {
    const key = this.keyOf(typedLogin);
    const outcome = await this.sync.transaction<Outcome<T>>(async (client) => {
      const state = await throttleEnter(client, key);
      if (state.held) return { held: true, until: state.held_until };
      try {
        const value = await check();
        await throttleLeave(client, key, false, this.holdSeconds);
        return { held: false, value };
      } catch (error) {
        if (failureOf(error) === 'invalid-credentials') await throttleLeave(client, key, true, this.holdSeconds);
        return { held: false, error };
      }
    });
    if (outcome.held) throw this.heldError(typedLogin, outcome.until);
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  private heldError(login: string, until: string | null): RetryLaterError {
    const left = until === null ? this.holdSeconds : Math.max(1, Math.ceil((Date.parse(until) - this.now()) / 1000));
    const base: ClientError = invalidCredentials(login);
    return new RetryLaterError(
      {
        sqlstate: SqlState.invalidPassword,
        message: base.message,
        hint: `A wrong password was given for this login moments ago, so it is not checked again yet: wait ${left} s, then use your directory (Active Directory) account name and password.`,
      },
      left,
    );
  }
}
