import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { saslprep } from '@mongodb-js/saslprep';

/** PostgreSQL's own defaults (scram_iterations, SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;

/**
 * Normalizes a password the way PostgreSQL does before hashing it: SASLprep
 * when the password is valid for it, the raw bytes otherwise (libpq and the
 * server both fall back like that).
 */
export function normalizePassword(password: string): Buffer {
  try {
    return Buffer.from(saslprep(password), 'utf8');
  } catch {
    return Buffer.from(password, 'utf8');
  }
}

export interface ScramKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Counts PBKDF2 runs (the slow part of SCRAM): the perf guard asserts warm reconnects make none. */
export const scramWork = { pbkdf2Runs: 0 };

export function deriveScramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  scramWork.pbkdf2Runs++;
  const saltedPassword = pbkdf2Sync(normalizePassword(password), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', saltedPassword).update('Server Key').digest();
  return { saltedPassword, clientKey, storedKey, serverKey };
}

/**
 * Builds a SCRAM-SHA-256 verifier in PostgreSQL's rolpassword format, so the
 * database can be given `PASSWORD '<verifier>'` and never sees the plaintext.
 */
export function buildScramVerifier(
  password: string,
  options: { salt?: Buffer; iterations?: number } = {},
): string {
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const { storedKey, serverKey } = deriveScramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const VERIFIER_RE = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

export function isScramVerifier(value: string): boolean {
  return VERIFIER_RE.test(value);
}
