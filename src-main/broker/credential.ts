import { createHmac, timingSafeEqual } from 'node:crypto';
import { buildScramVerifier, SCRAM_ITERATIONS } from '../core/sync/scram-verifier.js';

/*
 * The database password the broker hands out, derived (never stored) from the
 * credential key, the database server, the login and the time window:
 *
 *   w        = floor(now / windowSeconds)
 *   password = base64url(HMAC-SHA256(key, "rolecall/db-password/v1\0" serverId "\0" login "\0" w))
 *   salt     = first 16 bytes of HMAC-SHA256(key, "rolecall/db-salt/v1\0" serverId "\0" login "\0" w)
 *
 * Every replica and every laptop of the user get the same password in a
 * window, and the same verifier (same salt and iterations), so a repeated sync
 * writes nothing. Per server, never per database: roles and their passwords
 * are cluster-wide in PostgreSQL. Pure: the clock comes in as `nowMs`.
 */

export interface CredentialWindow {
  windowSeconds: number;
  graceSeconds: number;
}

export interface DerivedCredential {
  /** The window number (floor(now / windowSeconds)). */
  window: number;
  password: string;
  salt: Buffer;
  /** The database's VALID UNTIL: the window's end plus the grace. */
  validUntil: Date;
  /** When to ask for the next one: the window's end. */
  renewAfter: Date;
}

const PASSWORD_LABEL = 'rolecall/db-password/v1';
const SALT_LABEL = 'rolecall/db-salt/v1';
const SALT_BYTES = 16;

function mac(key: Buffer, label: string, serverId: string, login: string, window: number): Buffer {
  return createHmac('sha256', key).update(`${label}\0${serverId}\0${login}\0${window}`, 'utf8').digest();
}

export function windowAt(nowMs: number, windowSeconds: number): number {
  return Math.floor(nowMs / 1000 / windowSeconds);
}

/** The credential of one window (the current one unless `window` is given). */
export function deriveCredential(
  key: Buffer,
  serverId: string,
  login: string,
  nowMs: number,
  settings: CredentialWindow,
  window: number = windowAt(nowMs, settings.windowSeconds),
): DerivedCredential {
  const endSeconds = (window + 1) * settings.windowSeconds;
  return {
    window,
    password: mac(key, PASSWORD_LABEL, serverId, login, window).toString('base64url'),
    salt: mac(key, SALT_LABEL, serverId, login, window).subarray(0, SALT_BYTES),
    validUntil: new Date((endSeconds + settings.graceSeconds) * 1000),
    renewAfter: new Date(endSeconds * 1000),
  };
}

/*
 * A verifier costs 4096+ PBKDF2 rounds (a few ms of CPU on the event loop),
 * and every sign-in of a login in one window needs the same one: the last
 * VERIFIER_CACHE_SIZE are kept. Keyed by salt and iterations: the salt is an
 * HMAC of the key, server, login and window, so it names the credential
 * without holding its password. A verifier is what the database stores
 * anyway; it never leaves the broker except to the sync.
 */
const VERIFIER_CACHE_SIZE = 10_000;
const verifiers = new Map<string, string>();

/** The SCRAM verifier of a derived password: its own salt, and at least PostgreSQL's 4096 iterations or the database's floor. */
export function credentialVerifier(credential: DerivedCredential, minIterations: number): string {
  const iterations = Math.max(SCRAM_ITERATIONS, minIterations);
  const id = `${credential.salt.toString('base64')}:${iterations}`;
  const known = verifiers.get(id);
  if (known !== undefined) return known;
  const verifier = buildScramVerifier(credential.password, { salt: credential.salt, iterations });
  if (verifiers.size >= VERIFIER_CACHE_SIZE) verifiers.delete(verifiers.keys().next().value as string);
  verifiers.set(id, verifier);
  return verifier;
}

/**
 * Whether `presented` is the password of this login on this server now: the
 * current window's, or the previous window's while its grace lasts. Compared
 * in constant time.
 */
export function isCurrentPassword(key: Buffer, serverId: string, login: string, presented: string, nowMs: number, settings: CredentialWindow): boolean {
  const current = windowAt(nowMs, settings.windowSeconds);
  const given = Buffer.from(presented, 'utf8');
  let match = false;
  for (const window of [current, current - 1]) {
    const c = deriveCredential(key, serverId, login, nowMs, settings, window);
    if (c.validUntil.getTime() <= nowMs) continue;
    const expected = Buffer.from(c.password, 'utf8');
    // Both are compared whatever the first gave, so the time taken says nothing about which matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) match = true;
  }
  return match;
}
