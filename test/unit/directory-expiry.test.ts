import { describe, expect, it } from 'vitest';
import { passwordExpiryWarning } from '../../src-main/core/directory/index.js';
import { fileTimeToDate, generalizedTimeToDate } from '../../src-main/core/directory/password-expiry.js';

const DAY = 86_400_000;
const now = new Date('2026-03-10T12:00:00Z');
const inMs = (ms: number) => new Date(now.getTime() + ms);

describe('passwordExpiryWarning', () => {
  it('warns within the window, in days, with a hint naming the time', () => {
    expect(passwordExpiryWarning(inMs(3 * DAY), 7, now)).toEqual({
      expiresAt: inMs(3 * DAY),
      daysLeft: 3,
      message: 'your directory password expires in 3 days',
      hint: 'Change it before 2026-03-13 12:00 UTC (on Windows: Ctrl+Alt+Del → Change a password), then connect with the new one.',
    });
    // A sign-in a few seconds after "2 days from now" was set still says 2 days.
    expect(passwordExpiryWarning(inMs(2 * DAY - 5000), 7, now)?.message).toBe('your directory password expires in 2 days');
    expect(passwordExpiryWarning(inMs(DAY + 1000), 7, now)?.message).toBe('your directory password expires in 1 day');
  });

  it('counts hours in the last day', () => {
    expect(passwordExpiryWarning(inMs(5 * 3_600_000 - 1000), 7, now)).toMatchObject({ daysLeft: 0, message: 'your directory password expires in 5 hours' });
    expect(passwordExpiryWarning(inMs(60_000), 7, now)?.message).toBe('your directory password expires in 1 hour');
  });

  it('says nothing when far away, already past, unknown, or with warnings off', () => {
    expect(passwordExpiryWarning(inMs(7 * DAY + 1000), 7, now)).toBeNull();
    expect(passwordExpiryWarning(inMs(7 * DAY), 7, now)).not.toBeNull();
    expect(passwordExpiryWarning(inMs(-1000), 7, now)).toBeNull();
    expect(passwordExpiryWarning(undefined, 7, now)).toBeNull();
    expect(passwordExpiryWarning(inMs(DAY), 0, now)).toBeNull();
  });
});

describe('directory time formats', () => {
  it('reads AD FILETIME, with 0 and the maximum meaning never', () => {
    // 100 ns ticks since 1601: 1970 is 116444736000000000; 2024-01-01 is 1704067200 s later.
    expect(fileTimeToDate('116444736000000000')?.toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(fileTimeToDate('133485408000000000')?.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(fileTimeToDate('133485408012345678')?.toISOString()).toBe('2024-01-01T00:00:01.234Z');
    expect(fileTimeToDate('0')).toBeUndefined();
    expect(fileTimeToDate('9223372036854775807')).toBeUndefined();
    expect(fileTimeToDate('garbage')).toBeUndefined();
  });

  it('reads ppolicy GeneralizedTime', () => {
    expect(generalizedTimeToDate('20261201225321Z')?.toISOString()).toBe('2026-12-01T22:53:21.000Z');
    expect(generalizedTimeToDate('20261201225321.123Z')?.toISOString()).toBe('2026-12-01T22:53:21.000Z');
    expect(generalizedTimeToDate('2026-12-01')).toBeUndefined();
  });
});
