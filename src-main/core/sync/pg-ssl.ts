import type tls from 'node:tls';
import { CaFileError, certificateChecks } from '../database/tls.js';
import type { SslMode } from '../profiles/schema.js';

/**
 * node-postgres `ssl` option for an sslmode, with the same certificate checks
 * as the proxy's upstream (database-tls.ts). node-postgres cannot fall back to
 * plaintext, so `prefer` behaves as `require` here: a server without TLS is
 * refused rather than silently used in the clear.
 */
export function pgSslConfig(sslmode: SslMode, caFile: string | undefined, host: string): false | tls.ConnectionOptions {
  if (sslmode === 'disable') return false;
  try {
    return certificateChecks(sslmode, caFile, host);
  } catch (e) {
    if (e instanceof CaFileError) throw new Error(`cannot read the database CA file ${caFile}: ${e.message}`, { cause: e });
    throw e;
  }
}
