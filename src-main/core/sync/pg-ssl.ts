import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { SslMode } from '../profiles/schema.js';

/**
 * node-postgres `ssl` option for an sslmode, as libpq reads it:
 * - disable: plaintext.
 * - prefer, require: encrypted, the certificate is not checked. node-postgres
 *   cannot fall back to plaintext, so `prefer` behaves as `require` here: a
 *   server without TLS is refused rather than silently used in the clear.
 * - verify-ca: the chain must lead to the CA (caFile, else Node's default
 *   roots); the host name is not checked.
 * - verify-full: chain as verify-ca, and the certificate must name `host`.
 */
export function pgSslConfig(sslmode: SslMode, caFile: string | undefined, host: string): false | tls.ConnectionOptions {
  switch (sslmode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full': {
      const options: tls.ConnectionOptions = { rejectUnauthorized: true };
      if (caFile !== undefined) options.ca = readCa(caFile);
      options.checkServerIdentity =
        sslmode === 'verify-full'
          ? (_servername, cert) => tls.checkServerIdentity(host, cert)
          : () => undefined; // verify-ca: the CA signature is all that is asked for
      return options;
    }
  }
}

function readCa(caFile: string): Buffer {
  try {
    return readFileSync(caFile);
  } catch (e) {
    throw new Error(`cannot read the database CA file ${caFile}: ${(e as Error).message}`, { cause: e });
  }
}
