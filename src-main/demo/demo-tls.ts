import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface DemoTls {
  /** The certificate, self-signed: it is also the CA file clients verify it with. */
  certFile: string;
  keyFile: string;
  certPem: string;
}

/**
 * DEMO: a self-signed certificate for localhost and 127.0.0.1, written to
 * `dir` (certificate 0644, key 0600). The demo's PostgreSQL and its broker
 * each get one; Rolecall verifies them with verify-full like any other.
 */
export async function makeDemoTls(dir: string, owner?: { uid: number; gid: number }): Promise<DemoTls> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  if (owner) for (const f of [dir, certFile, keyFile]) chownSync(f, owner.uid, owner.gid);
  return { certFile, keyFile, certPem: pems.cert };
}
