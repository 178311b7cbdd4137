import { readFileSync, statSync } from 'node:fs';
import tls from 'node:tls';
import type { SslMode } from '../profiles/schema.js';

/** The profile's CA file could not be used; each caller words it in its own error type. */
export class CaFileError extends Error {
  constructor(cause: unknown) {
    super((cause as Error).message, { cause });
    this.name = 'CaFileError';
  }
}

/**
 * One TLS context per CA file, rebuilt when the file changes. Parsing a CA
 * bundle (the RDS one holds over a hundred certificates) for every connection
 * would cost CPU on each login and memory for each open session.
 */
const caContexts = new Map<string, { mtimeMs: number; size: number; context: tls.SecureContext }>();

function caContext(caFile: string): tls.SecureContext {
  try {
    const { mtimeMs, size } = statSync(caFile);
    const cached = caContexts.get(caFile);
    if (cached && cached.mtimeMs === mtimeMs && cached.size === size) return cached.context;
    const context = tls.createSecureContext({ ca: readFileSync(caFile), minVersion: 'TLSv1.2' });
    caContexts.set(caFile, { mtimeMs, size, context });
    return context;
  } catch (e) {
    throw new CaFileError(e);
  }
}

/**
 * How the database's certificate is checked for an sslmode, as libpq does it,
 * for every connection Rolecall makes to the database (the proxy's upstream and
 * node-postgres for the sync pool and setup):
 * - disable, prefer, require: encrypted (when at all) but not verified;
 * - verify-ca: the chain must lead to the CA (caFile, else Node's default roots);
 * - verify-full: as verify-ca, and the certificate must name `host`.
 * Throws CaFileError when caFile cannot be read.
 */
export function certificateChecks(sslmode: SslMode, caFile: string | undefined, host: string): tls.ConnectionOptions {
  if (sslmode !== 'verify-ca' && sslmode !== 'verify-full') return { rejectUnauthorized: false };
  return {
    rejectUnauthorized: true,
    ...(caFile !== undefined ? { secureContext: caContext(caFile) } : {}),
    checkServerIdentity:
      sslmode === 'verify-full'
        ? (_servername, cert) => tls.checkServerIdentity(host, cert)
        : () => undefined, // verify-ca: the CA signature is all that is asked for.
  };
}
