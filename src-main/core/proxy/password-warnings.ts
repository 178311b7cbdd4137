import { passwordWarningFor, type PasswordWarning } from '../auth/password-warning.js';
import type { Profile } from '../profiles/schema.js';

/** More logins than one proxy's users would have; the oldest is dropped beyond it. */
const MAX_LOGINS = 100;

/**
 * The logins that signed in through one proxy with a directory password that
 * expires soon, for its status (the Status page's line). A later sign-in
 * without a warning (the password was changed) forgets the login; the words
 * are worked out again at each read, so "in 3 days" becomes "in 2 days", and
 * a password past its expiry drops out (the directory refuses it now).
 */
export class PasswordWarnings {
  private readonly expiries = new Map<string, Date>();

  constructor(
    private readonly profile: Profile,
    private readonly now: () => number = Date.now,
  ) {}

  /** A successful sign-in of `login`, with the warning its client was sent, if any. */
  signedIn(login: string, warning: PasswordWarning | undefined): void {
    this.expiries.delete(login);
    if (warning === undefined) return;
    this.expiries.set(login, new Date(warning.expiresAt));
    if (this.expiries.size > MAX_LOGINS) this.expiries.delete(this.expiries.keys().next().value as string);
  }

  current(): PasswordWarning[] {
    const out: PasswordWarning[] = [];
    for (const [login, expiresAt] of this.expiries) {
      const w = passwordWarningFor(this.profile, login, expiresAt, new Date(this.now()));
      if (w === null) this.expiries.delete(login);
      else out.push(w);
    }
    return out;
  }
}
