/** What to tell a user whose directory password expires soon: one wording for psql, the notification and the Status page. */
export interface PasswordExpiryWarning {
  expiresAt: Date;
  /** Whole days left, rounded (0 when under a day). */
  daysLeft: number;
  /** "your directory password expires in 3 days" */
  message: string;
  hint: string;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * Whether to warn, and with what words, for a password expiring at
 * `expiresAt` when the profile warns `warningDays` ahead (0: never). An
 * expiry already past gets no warning: the directory refuses that password
 * with its own message.
 */
export function passwordExpiryWarning(expiresAt: Date | undefined, warningDays: number, now: Date = new Date()): PasswordExpiryWarning | null {
  if (expiresAt === undefined || warningDays <= 0) return null;
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0 || left > warningDays * DAY_MS) return null;
  const daysLeft = Math.round(left / DAY_MS);
  const when = left < DAY_MS ? `in ${plural(Math.max(1, Math.ceil(left / HOUR_MS)), 'hour')}` : `in ${plural(Math.max(1, daysLeft), 'day')}`;
  return {
    expiresAt,
    daysLeft: left < DAY_MS ? 0 : Math.max(1, daysLeft),
    message: `your directory password expires ${when}`,
    hint: `Change it before ${expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (on Windows: Ctrl+Alt+Del → Change a password), then connect with the new one.`,
  };
}
