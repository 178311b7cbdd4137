import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { BrokerFailure } from './broker-failure.js';

/** One certificate as a person compares it with what their team published. */
export interface CertificateFacts {
  /** "CN=broker.corp.example.com, O=Corp" */
  subject: string;
  issuer: string;
  /** SHA-256 of the DER, colon-separated hex (as browsers and `openssl x509 -fingerprint -sha256` print it). */
  fingerprint256: string;
  validFrom: string;
  validTo: string;
  /** "DNS:broker.corp.example.com, IP Address:10.0.0.5", or null when it names none. */
  altNames: string | null;
  isCA: boolean;
  /** Issued by itself (a root, or a certificate nobody else vouches for). */
  selfSigned: boolean;
  pem: string;
}

/** What a TLS server presented, read without trusting it. */
export interface PresentedCertificates {
  host: string;
  port: number;
  /** The server's certificate first, then its issuers as far as they are known. */
  chain: CertificateFacts[];
  /** The chain verified against the CA given (or Node's trusted roots) and names the host. */
  verified: boolean;
  /** Why it did not verify, in OpenSSL's or Node's words. */
  problem: string | null;
}

export function certificateFacts(x: X509Certificate): CertificateFacts {
  return {
    subject: oneLine(x.subject),
    issuer: oneLine(x.issuer),
    fingerprint256: x.fingerprint256,
    validFrom: x.validFrom,
    validTo: x.validTo,
    altNames: x.subjectAltName ?? null,
    isCA: x.ca,
    selfSigned: x.checkIssued(x) && x.verify(x.publicKey),
    pem: x.toString(),
  };
}

/** Every certificate of a PEM bundle, in order; a bundle without one throws naming the problem. */
export function certificatesInPem(pem: string): CertificateFacts[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('it holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((b) => certificateFacts(new X509Certificate(b)));
}

/**
 * The certificate a user can decide to trust for this chain: its top when
 * that is self-signed (a root the server sent along, or a self-signed
 * server certificate). Null when the server did not send the certificate
 * that vouches for it: then only the team's CA file can make it verify.
 */
export function trustAnchor(chain: readonly CertificateFacts[]): CertificateFacts | null {
  const top = chain[chain.length - 1];
  return top?.selfSigned ? top : null;
}

/**
 * Opens a TLS connection to the URL's host only to read the certificates it
 * presents, checks them against `ca` (else Node's trusted roots) and the host
 * name, and closes it. Nothing is ever sent over it: this is how a user sees
 * a broker's certificate before deciding to trust it; requests that carry a
 * password always go over a verified connection (BrokerClient).
 */
export function readPresentedCertificates(url: string, options: { ca?: string | Buffer; timeoutMs: number }): Promise<PresentedCertificates> {
  const { hostname, port: givenPort } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(givenPort || 443);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ...(net.isIP(host) ? {} : { servername: host }),
      // Only to read the chain: the verdict is computed below and nothing is written to this socket.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      timeout: options.timeoutMs,
    });
    const fail = (message: string) => {
      socket.destroy();
      reject(new BrokerFailure('unreachable', `${url}: ${message}`, { url, tried: [] }));
    };
    socket.once('timeout', () => fail(`no TLS connection within ${options.timeoutMs} ms`));
    socket.once('error', (e: NodeJS.ErrnoException) => fail(e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      const chain = chainOf(peer);
      // Node checks the chain, then the host name (ERR_TLS_CERT_ALTNAME_INVALID); checkServerIdentity says which names it has.
      const code = socket.authorized ? '' : String(socket.authorizationError ?? '');
      const identity = peer.raw && (socket.authorized || code === 'ERR_TLS_CERT_ALTNAME_INVALID') ? tls.checkServerIdentity(host, peer) : undefined;
      const problem = identity ? identity.message : socket.authorized ? null : verifyProblem(code);
      socket.destroy();
      resolve({ host, port, chain, verified: problem === null, problem });
    });
  });
}

/** OpenSSL's verify codes (what Node reports) in words, code kept. */
const VERIFY_WORDS: Record<string, string> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain: its CA is not one this machine trusts',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate: no CA this machine trusts vouches for it',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is not a CA this machine trusts',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is not a CA this machine trusts',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate: its issuer is not a CA this machine trusts',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet (check this machine\'s clock)',
  CERT_REVOKED: 'the certificate was revoked',
  CERT_SIGNATURE_FAILURE: 'the certificate\'s signature does not check out',
};

function verifyProblem(code: string): string {
  if (code === '') return 'the certificate was not verified';
  const words = VERIFY_WORDS[code];
  return words ? `${words} (${code})` : code;
}

function chainOf(peer: tls.DetailedPeerCertificate): CertificateFacts[] {
  const out: CertificateFacts[] = [];
  const seen = new Set<string>();
  for (let c: tls.DetailedPeerCertificate | undefined = peer; c?.raw && out.length < 10; c = c.issuerCertificate) {
    const facts = certificateFacts(new X509Certificate(c.raw));
    if (seen.has(facts.fingerprint256)) break;
    seen.add(facts.fingerprint256);
    out.push(facts);
  }
  return out;
}

/** The CN of a one-line name ("CN=localhost, O=Corp" → "localhost"), else its O, else the whole name. */
export function commonName(name: string): string {
  return /(?:^|, )CN=([^,]+)/.exec(name)?.[1] ?? /(?:^|, )O=([^,]+)/.exec(name)?.[1] ?? name;
}

function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
