import { ClientError, SqlState } from '../client-errors.js';
import { AuthCache } from './auth-cache.js';
import type { AuthCounters, AuthResult } from './authenticator.js';
import { internalError } from './denials.js';

/** What one real sign-in produced: the result, and how long it may be reused. */
export interface FreshSignIn {
  result: Omit<AuthResult, 'cacheHit'>;
  ttlMs: number;
}

/**
 * The memory both authenticators put in front of a real sign-in: a positive
 * cache, a short negative cache for definite answers (28P01, 28000) and
 * single-flight (concurrent attempts with the same login and password share
 * one attempt). Keyed by the login and an HMAC of the password (AuthCache):
 * no password is ever kept.
 */
export class SignInMemo {
  private readonly positive: AuthCache<Omit<AuthResult, 'cacheHit'>>;
  private readonly negative: AuthCache<{ error: ClientError }>;
  private readonly inFlight = new Map<string, Promise<AuthResult>>();

  constructor(
    private readonly negativeTtlMs: number,
    private readonly counters: AuthCounters,
    now: () => number = Date.now,
  ) {
    this.positive = new AuthCache(now);
    this.negative = new AuthCache(now);
  }

  /** The remembered outcome for this login and password, else `attempt` (once, however many callers wait). */
  signIn(typedLogin: string, password: string, attempt: () => Promise<FreshSignIn>): Promise<AuthResult> {
    const cached = this.positive.get(typedLogin, password);
    if (cached) {
      this.counters.cacheHits++;
      return Promise.resolve({ ...cached, cacheHit: true });
    }
    const denied = this.negative.get(typedLogin, password);
    if (denied) {
      this.counters.negativeHits++;
      return Promise.reject(denied.error);
    }
    // Single-flight key: login plus the password's cache identity (never the password itself).
    const flightKey = this.positive.identify(typedLogin, password);
    const running = this.inFlight.get(flightKey);
    if (running) return running;
    const run = attempt()
      .then(({ result, ttlMs }) => {
        this.positive.set(typedLogin, password, result, ttlMs, result.login);
        return { ...result, cacheHit: false };
      })
      .catch((e: unknown) => {
        const error = e instanceof ClientError ? e : internalError(e);
        // Only a definite "no" is remembered; an outage must not lock people out after it ends.
        if (error.sqlstate === SqlState.invalidPassword || error.sqlstate === SqlState.invalidAuthorization) {
          this.negative.set(typedLogin, password, { error }, this.negativeTtlMs);
        }
        throw error;
      })
      .finally(() => this.inFlight.delete(flightKey));
    this.inFlight.set(flightKey, run);
    return run;
  }

  /** Forgets a login's successes, however it was typed. */
  forgetLogin(login: string): void {
    this.positive.forgetLogin(login);
  }

  clear(): void {
    this.positive.clear();
    this.negative.clear();
  }
}
