import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';

export interface LocalTlsFiles {
  certFile: string;
  keyFile: string;
}

/**
 * The certificate the local proxy presents when a client asks for TLS
 * (sslmode=require). Generated once on first use (self-signed for localhost,
 * 127.0.0.1 and ::1) and kept beside the config, key readable by the user only.
 */
export async function ensureLocalCertificate(dir: string): Promise<LocalTlsFiles> {
  const certFile = path.join(dir, 'local-proxy.crt');
  const keyFile = path.join(dir, 'local-proxy.key');
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notAfter = new Date(Date.now() + 5 * 365 * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: 'Rolecall local proxy' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  return { certFile, keyFile };
}

export function loadSecureContext(files: LocalTlsFiles): tls.SecureContext {
  return tls.createSecureContext({
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    minVersion: 'TLSv1.2',
  });
}
