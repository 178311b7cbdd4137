import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { waitFor } from '../harness/ports.js';
import { TimerCensus, type PendingTimer } from '../harness/timer-census.js';

/**
 * An idle tray costs nothing: with ten authenticated clients sitting idle, no
 * timer of the engine fires more often than once a minute, and with nobody
 * connected the revalidation timer is not armed at all. Counted from the
 * timers themselves (async_hooks), never timed.
 */

const MINUTE_MS = 60_000;
let env: RolecallEnv;
const census = new TimerCensus('/src-main/');
const proxy = () => env.service.get('app')!;

function describeTimers(timers: PendingTimer[]): string {
  return timers.map((t) => `${t.repeating ? 'every' : 'in'} ${t.periodMs} ms: ${t.createdAt}`).join('\n');
}

/** Wake-ups the armed timers would cause in the next minute. */
function wakeupsPerMinute(timers: PendingTimer[]): number {
  return timers.reduce((n, t) => n + (t.repeating ? Math.floor(MINUTE_MS / t.periodMs) : t.periodMs <= MINUTE_MS ? 1 : 0), 0);
}

describe('idle cost: timer wake-ups of an idle engine', () => {
  beforeAll(async () => {
    census.start();
    // A revalidation interval below a minute is asked for on purpose: the engine must not wake that often.
    env = await startRolecallEnv({ pgVersion: 15, profile: (b) => ({ ...b, revalidate: { intervalSeconds: 5 } }) });
  });
  afterAll(async () => {
    census.stop();
    await env?.stop();
  });

  it('arms no timer while nobody is connected', () => {
    expect(describeTimers(census.pending())).toBe('');
  });

  it('with 10 idle authenticated clients, every armed timer fires at most once a minute', async () => {
    const clients: pg.Client[] = [];
    const logins = ['alice', 'dave', 'erin'] as const;
    for (let i = 0; i < 10; i++) {
      const login = logins[i % logins.length]!;
      const c = await env.connect(login, USERS[login]);
      await c.query('select 1');
      clients.push(c);
    }
    await waitFor('10 sessions', async () => (proxy().status().activeConnections === 10 ? true : undefined), 5000, 10);
    const pending = census.pending();
    const tooOften = pending.filter((t) => t.periodMs < MINUTE_MS);
    expect(describeTimers(tooOften)).toBe('');
    // The revalidation check is due (once, not per client), at the one-minute floor.
    const revalidation = pending.filter((t) => t.createdAt.includes('revalidator'));
    expect(revalidation.map((t) => t.periodMs)).toEqual([MINUTE_MS]);
    expect(wakeupsPerMinute(pending)).toBeLessThanOrEqual(pending.length);

    await Promise.all(clients.map((c) => c.end()));
    await waitFor('sessions closed', async () => (proxy().status().activeConnections === 0 ? true : undefined), 5000, 10);
    // Nobody connected: the revalidation timer is gone; no timer repeats.
    const after = census.pending();
    expect(describeTimers(after.filter((t) => t.createdAt.includes('revalidator') || t.repeating))).toBe('');
  });
});
