import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { credentialVerifier, deriveCredential, isCurrentPassword, windowAt } from '../../src-main/broker/credential.js';
import { scramWork } from '../../src-main/core/sync/scram-verifier.js';

const key = Buffer.alloc(32, 7);
const settings = { windowSeconds: 3600, graceSeconds: 900 };
const t = Date.UTC(2026, 11, 1, 10, 20, 30); // inside the window 10:00–11:00 UTC

describe('derived database credentials', () => {
  it('is the documented HMAC of server, login and window, base64url', () => {
    const c = deriveCredential(key, 'db.example:5432', 'alice', t, settings);
    const w = Math.floor(t / 1000 / 3600);
    expect(c.window).toBe(w);
    const expected = createHmac('sha256', key).update(`rolecall/db-password/v1\0db.example:5432\0alice\0${w}`).digest('base64url');
    expect(c.password).toBe(expected);
    expect(c.salt).toEqual(createHmac('sha256', key).update(`rolecall/db-salt/v1\0db.example:5432\0alice\0${w}`).digest().subarray(0, 16));
    expect(c.renewAfter.toISOString()).toBe('2026-12-01T11:00:00.000Z');
    expect(c.validUntil.toISOString()).toBe('2026-12-01T11:15:00.000Z');
  });

  it('is the same anywhere in a window and changes with the window, the server, the login and the key', () => {
    const a = deriveCredential(key, 's:1', 'alice', t, settings);
    expect(deriveCredential(key, 's:1', 'alice', t + 30 * 60_000, settings).password).toBe(a.password);
    const others = [
      deriveCredential(key, 's:1', 'alice', t + 3600_000, settings),
      deriveCredential(key, 's:2', 'alice', t, settings),
      deriveCredential(key, 's:1', 'bob', t, settings),
      deriveCredential(Buffer.alloc(32, 8), 's:1', 'alice', t, settings),
    ];
    for (const o of others) {
      expect(o.password).not.toBe(a.password);
      expect(o.salt.equals(a.salt)).toBe(false);
    }
    // The NUL separators keep ("ab", "c") and ("a", "bc") apart.
    expect(deriveCredential(key, 'ab', 'c', t, settings).password).not.toBe(deriveCredential(key, 'a', 'bc', t, settings).password);
  });

  it('builds the same verifier every time in a window, with its salt and at least 4096 iterations', () => {
    const c = deriveCredential(key, 's:1', 'alice', t, settings);
    const v = credentialVerifier(c, 0);
    expect(credentialVerifier(deriveCredential(key, 's:1', 'alice', t + 1000, settings), 0)).toBe(v);
    expect(v).toMatch(new RegExp(`^SCRAM-SHA-256\\$4096:${c.salt.toString('base64').replace(/[+/]/g, '\\$&')}\\$`));
    expect(credentialVerifier(c, 10_000)).toMatch(/^SCRAM-SHA-256\$10000:/);
  });

  it('runs PBKDF2 once per credential and iteration count: a repeated sign-in in the window reuses the verifier', () => {
    const c = deriveCredential(key, 's:cache', 'carol', t, settings);
    const before = scramWork.pbkdf2Runs;
    const v = credentialVerifier(c, 0);
    expect(credentialVerifier(deriveCredential(key, 's:cache', 'carol', t + 1000, settings), 0)).toBe(v);
    expect(scramWork.pbkdf2Runs - before).toBe(1);
    // The next window, another login, or a higher floor is another verifier, computed.
    expect(credentialVerifier(deriveCredential(key, 's:cache', 'carol', t + 3600_000, settings), 0)).not.toBe(v);
    expect(credentialVerifier(deriveCredential(key, 's:cache', 'dave', t, settings), 0)).not.toBe(v);
    expect(credentialVerifier(c, 8192)).toMatch(/^SCRAM-SHA-256\$8192:/);
    expect(scramWork.pbkdf2Runs - before).toBe(4);
  });

  it('accepts the current window\'s password and the previous one only while its grace lasts', () => {
    const now = deriveCredential(key, 's:1', 'alice', t, settings);
    const previous = deriveCredential(key, 's:1', 'alice', t - 3600_000, settings);
    expect(isCurrentPassword(key, 's:1', 'alice', now.password, t, settings)).toBe(true);
    expect(isCurrentPassword(key, 's:1', 'alice', previous.password, t, settings)).toBe(false); // 10:20: the 09:00 window's grace ended at 10:15
    const early = Date.UTC(2026, 11, 1, 10, 5, 0);
    expect(isCurrentPassword(key, 's:1', 'alice', previous.password, early, settings)).toBe(true);
    expect(isCurrentPassword(key, 's:1', 'bob', now.password, t, settings)).toBe(false);
    expect(isCurrentPassword(key, 's:2', 'alice', now.password, t, settings)).toBe(false);
    expect(isCurrentPassword(key, 's:1', 'alice', `${now.password}x`, t, settings)).toBe(false);
    expect(windowAt(t, 3600)).toBe(now.window);
  });
});
