import { execFileSync } from 'node:child_process';
import { writeFileSync, chmodSync, chownSync } from 'node:fs';
import path from 'node:path';

export interface TestPki {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A second CA that signed nothing: for "wrong CA" tests. */
  otherCaFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throwaway CA and a server certificate for 127.0.0.1 / localhost (and any
 * `dnsNames`, e.g. a DC's name found through DNS), made with the openssl CLI.
 * Servers under test (PostgreSQL, slapd, Samba) use it so the proxy's
 * verify-full and LDAPS paths are exercised for real.
 */
export function makeTestPki(dir: string, owner?: { uid: number; gid: number }, dnsNames: string[] = []): TestPki {
  const ext = path.join(dir, 'san.ext');
  const san = ['IP:127.0.0.1', 'DNS:localhost', ...dnsNames.map((n) => `DNS:${n}`)].join(',');
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=Rolecall Test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=Other Test CA', '-keyout', 'other-ca.key', '-out', 'other-ca.pem'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'san.ext', '-out', 'server.pem'], dir);
  const keyFile = path.join(dir, 'server.key');
  chmodSync(keyFile, 0o600);
  if (owner) {
    for (const f of ['server.key', 'server.pem', 'ca.pem']) chownSync(path.join(dir, f), owner.uid, owner.gid);
  }
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    certFile: path.join(dir, 'server.pem'),
    keyFile,
    otherCaFile: path.join(dir, 'other-ca.pem'),
  };
}

/** A client (device) certificate for `cn`, signed by the PKI's CA, or by its other CA (one the server does not trust). */
export function makeClientCert(pki: TestPki, cn: string, signer: 'ca' | 'other-ca' = 'ca'): { certFile: string; keyFile: string } {
  const name = `client-${cn.replace(/[^A-Za-z0-9]/g, '_')}-${signer}`;
  const ext = path.join(pki.dir, `${name}.ext`);
  writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], pki.dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-days', '30', '-extfile', ext, '-out', `${name}.pem`], pki.dir);
  return { certFile: path.join(pki.dir, `${name}.pem`), keyFile: path.join(pki.dir, `${name}.key`) };
}
