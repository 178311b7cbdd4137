import { passwordExpiryWarning } from '../directory/expiry-warning.js';
import { isBrokerProfile, type Profile } from '../profiles/schema.js';

/**
 * A sign-in's "your directory password expires soon", as the session's
 * NoticeResponse, the desktop notification and the Status page all show it.
 * Plain JSON (it travels in events and over IPC).
 */
export interface PasswordWarning {
  /** The database login whose directory password it is. */
  login: string;
  /** ISO time the password expires. */
  expiresAt: string;
  daysLeft: number;
  /** "your directory password expires in 3 days" */
  message: string;
  hint: string;
}

/**
 * The team broker sends an expiry only when it is within its own directory's
 * expiryWarningDays, so a laptop shows whatever it sends (365 is the most the
 * setting allows).
 */
const BROKER_DECIDES_DAYS = 365;

/** How many days ahead a profile warns: the directory's expiryWarningDays, or the broker's choice. */
export function expiryWarningDays(profile: Profile): number {
  return isBrokerProfile(profile) ? BROKER_DECIDES_DAYS : profile.directory.expiryWarningDays;
}

/** The warning for `login` whose password expires at `expiresAt`, or null when there is nothing to say (yet). */
export function passwordWarningFor(profile: Profile, login: string, expiresAt: Date | undefined, now: Date = new Date()): PasswordWarning | null {
  const w = passwordExpiryWarning(expiresAt, expiryWarningDays(profile), now);
  if (w === null) return null;
  return { login, expiresAt: w.expiresAt.toISOString(), daysLeft: w.daysLeft, message: w.message, hint: w.hint };
}
