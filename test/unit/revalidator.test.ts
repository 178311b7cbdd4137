import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MIN_REVALIDATE_MS, Revalidator } from '../../src-main/core/auth/revalidator.js';

/** The revalidation timer wakes the engine only while someone is connected, and at most once a minute. */
describe('Revalidator timer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms nothing while nobody is connected, checks once a minute at most while someone is, and disarms when the last one leaves', async () => {
    let logins: string[] = [];
    const recheck = vi.fn(async () => null);
    const r = new Revalidator(5_000, { activeLogins: () => logins, recheck, revoke: async () => undefined });
    r.start();
    expect(vi.getTimerCount()).toBe(0);

    logins = ['alice'];
    r.sessionsChanged();
    r.sessionsChanged(); // a second session of the same login: still one timer
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(MIN_REVALIDATE_MS - 1);
    expect(recheck).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(recheck).toHaveBeenCalledTimes(1);
    // Re-armed for the next minute while alice stays.
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(MIN_REVALIDATE_MS);
    expect(recheck).toHaveBeenCalledTimes(2);

    logins = [];
    r.sessionsChanged();
    expect(vi.getTimerCount()).toBe(0);
    r.stop();
  });

  it('0 turns it off', () => {
    const r = new Revalidator(0, { activeLogins: () => ['alice'], recheck: async () => null, revoke: async () => undefined });
    r.start();
    r.sessionsChanged();
    expect(vi.getTimerCount()).toBe(0);
  });
});
