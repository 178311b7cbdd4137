import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificatesInPem, readPresentedCertificates, trustAnchor } from '../../src-main/core/broker-client/peer-certificate.js';
import { freePort, tempDir } from '../harness/ports.js';
import { makeTestPki, type TestPki } from '../harness/tls.js';

// What "Connect to your team" shows before the user trusts a broker: read from real TLS servers
// (one sending its CA along, one sending only its own certificate), never trusting them.

let dir: string;
let pki: TestPki;
const servers: https.Server[] = [];
let withChain: string;
let leafOnly: string;
let requests = 0;

async function serve(cert: string): Promise<string> {
  const server = https.createServer({ cert, key: readFileSync(pki.keyFile) }, (_req, res) => {
    requests++;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  dir = tempDir('peer-cert');
  pki = makeTestPki(dir);
  withChain = await serve(readFileSync(pki.certFile, 'utf8') + readFileSync(pki.caFile, 'utf8'));
  leafOnly = await serve(readFileSync(pki.certFile, 'utf8'));
});

afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

describe('the certificates a broker presents', () => {
  it('are read without trusting them: the chain, why it does not verify, and the CA that could be trusted', async () => {
    const p = await readPresentedCertificates(withChain, { timeoutMs: 2000 });
    expect(p.verified).toBe(false);
    expect(p.problem).toBe('self-signed certificate in certificate chain: its CA is not one this machine trusts (SELF_SIGNED_CERT_IN_CHAIN)');
    expect(p.chain.map((c) => [c.subject, c.issuer, c.isCA, c.selfSigned])).toEqual([
      ['CN=localhost', 'CN=Rolecall Test CA', false, false],
      ['CN=Rolecall Test CA', 'CN=Rolecall Test CA', true, true],
    ]);
    expect(p.chain[0]!.altNames).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(p.chain[0]!.fingerprint256).toBe(fingerprint(pki.certFile));
    expect(trustAnchor(p.chain)?.fingerprint256).toBe(fingerprint(pki.caFile));
    // Reading sent nothing: no HTTP request reached the server.
    expect(requests).toBe(0);
  });

  it('verify once the CA is given, and a server that sends only its own certificate offers nothing to trust', async () => {
    const ca = readFileSync(pki.caFile, 'utf8');
    expect(await readPresentedCertificates(withChain, { timeoutMs: 2000, ca })).toMatchObject({ verified: true, problem: null });
    const leaf = await readPresentedCertificates(leafOnly, { timeoutMs: 2000 });
    expect(leaf.problem).toMatch(/^unable to verify the first certificate: its issuer is not a CA this machine trusts \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
    expect(trustAnchor(leaf.chain)).toBeNull();
    expect((await readPresentedCertificates(leafOnly, { timeoutMs: 2000, ca })).verified).toBe(true);
    // Another CA does not vouch for it.
    expect((await readPresentedCertificates(leafOnly, { timeoutMs: 2000, ca: readFileSync(pki.otherCaFile) })).verified).toBe(false);
  });

  it('check the host name too: a certificate for 127.0.0.1 and localhost does not do for [::1]', async () => {
    const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    servers.push(server);
    const p = await readPresentedCertificates(`https://[::1]:${(server.address() as AddressInfo).port}`, { timeoutMs: 2000, ca: readFileSync(pki.caFile) });
    expect(p.verified).toBe(false);
    expect(p.problem).toMatch(/IP: ::1 is not in the cert's list: 127\.0\.0\.1/);
  });

  it('say so when nothing answers, as a BrokerFailure', async () => {
    const url = `https://127.0.0.1:${await freePort()}`;
    await expect(readPresentedCertificates(url, { timeoutMs: 2000 })).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('of a PEM bundle are read in order; a file with none is refused', () => {
    const bundle = certificatesInPem(readFileSync(pki.caFile, 'utf8') + readFileSync(pki.otherCaFile, 'utf8'));
    expect(bundle.map((c) => c.subject)).toEqual(['CN=Rolecall Test CA', 'CN=Other Test CA']);
    expect(() => certificatesInPem('not a certificate')).toThrow(/holds no PEM certificate/);
    expect(path.basename(pki.caFile)).toBe('ca.pem');
  });
});
