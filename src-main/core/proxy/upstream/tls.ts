import net from 'node:net';
import tls from 'node:tls';
import { CaFileError, certificateChecks } from '../../database/tls.js';
import { UpstreamError } from './error.js';
import { addressOf as where, type DatabaseEndpoint } from '../../database/endpoint.js';
import { SSL_REQUEST } from '../wire.js';

const ANSWER_TLS = 0x53; // 'S'
const ANSWER_PLAIN = 0x4e; // 'N'

/** OpenSSL codes that mean "this chain does not lead to a CA we trust". */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/**
 * Without a secureContext, tls.connect builds a new one (an OpenSSL SSL_CTX)
 * for every connection, and each open connection keeps its own: ~18 KB per
 * idle session. Connections that bring no CA file of their own share this one,
 * which is what tls.connect would build: Node's default roots and TLS versions.
 */
let defaultContext: tls.SecureContext | undefined;
function sharedDefaultContext(): tls.SecureContext {
  defaultContext ??= tls.createSecureContext();
  return defaultContext;
}

/** tls.connect options for the sslmode: what is verified, and against which CA. */
export function tlsOptionsFor(target: DatabaseEndpoint): tls.ConnectionOptions {
  // SNI only takes DNS names; for an IP the identity check still covers IP SANs.
  const sni: tls.ConnectionOptions = net.isIP(target.host) === 0 ? { servername: target.host } : {};
  try {
    const checks = certificateChecks(target.sslmode, target.caFile, target.host);
    return { ...sni, secureContext: checks.secureContext ?? sharedDefaultContext(), ...checks };
  } catch (e) {
    if (e instanceof CaFileError) throw new UpstreamError('tls', `cannot read database.caFile ${target.caFile}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** What went wrong in a TLS handshake, naming the certificate problem and what to change. */
export function describeTlsFailure(target: DatabaseEndpoint, error: Error & { code?: string }): string {
  const code = error.code ?? '';
  const trustedBy = target.caFile !== undefined ? `the CA in ${target.caFile}` : "a CA in this system's trust store";
  if (UNTRUSTED_CODES.has(code)) {
    return (
      `certificate presented by ${where(target)} is not signed by ${trustedBy} (${code}): ` +
      'set database.caFile to the CA bundle of your server (for RDS, the RDS CA bundle)'
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return (
      `certificate presented by ${where(target)} is not valid for host "${target.host}" (${error.message}): ` +
      'connect using a host name listed in the certificate, or use sslmode=verify-ca'
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `certificate presented by ${where(target)} is not currently valid (${code}): check the server certificate and this machine's clock`;
  }
  return `TLS handshake with ${where(target)} failed: ${error.message}`;
}

/** Waits for the one-byte answer to SSLRequest. Resolves with everything that arrived in the first chunk. */
function readSslAnswer(socket: net.Socket, target: DatabaseEndpoint): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      cleanup();
      resolve(chunk);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new UpstreamError('unreachable', `connection to ${where(target)} failed during SSL negotiation: ${e.message}`, { cause: e }));
    };
    const onClose = () => {
      cleanup();
      reject(new UpstreamError('unreachable', `server at ${where(target)} closed the connection during SSL negotiation`));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

function handshake(socket: net.Socket, target: DatabaseEndpoint, onTlsSocket?: (s: tls.TLSSocket) => void): Promise<tls.TLSSocket> {
  const options = tlsOptionsFor(target);
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ ...options, socket });
    onTlsSocket?.(secure);
    const cleanup = () => {
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      secure.off('close', onClose);
    };
    const onSecure = () => {
      cleanup();
      resolve(secure);
    };
    const onError = (e: Error & { code?: string }) => {
      cleanup();
      secure.destroy();
      reject(new UpstreamError('tls', describeTlsFailure(target, e), { cause: e }));
    };
    const onClose = () => {
      cleanup();
      reject(new UpstreamError('tls', `server at ${where(target)} closed the connection during the TLS handshake`));
    };
    secure.on('secureConnect', onSecure);
    secure.on('error', onError);
    secure.on('close', onClose);
  });
}

/**
 * SSLRequest on a fresh connection, then TLS per sslmode. Returns the socket to
 * speak the protocol on: a TLSSocket, or the plain socket when sslmode=prefer
 * and the server said 'N'. Must not be called for sslmode=disable.
 * `onTlsSocket` lets the caller track the TLS socket (to destroy it on timeout).
 */
export async function negotiateTls(
  socket: net.Socket,
  target: DatabaseEndpoint,
  onTlsSocket?: (s: tls.TLSSocket) => void,
): Promise<net.Socket | tls.TLSSocket> {
  // Read the CA before talking to the server: a bad caFile is a local mistake.
  tlsOptionsFor(target);
  socket.write(SSL_REQUEST);
  const answer = await readSslAnswer(socket, target);
  const first = answer[0];
  if (first === ANSWER_TLS) {
    // CVE-2021-23222: bytes after 'S' but before the handshake could be injected
    // by a man in the middle and later read as if they came over TLS.
    if (answer.length > 1) {
      throw new UpstreamError(
        'protocol',
        `server at ${where(target)} sent unexpected data after accepting TLS: refusing the connection (possible man-in-the-middle)`,
      );
    }
    return handshake(socket, target, onTlsSocket);
  }
  if (first === ANSWER_PLAIN) {
    if (answer.length > 1) {
      throw new UpstreamError('protocol', `server at ${where(target)} sent unexpected data after refusing TLS`);
    }
    if (target.sslmode === 'prefer') return socket;
    throw new UpstreamError(
      'tls',
      `server at ${where(target)} does not accept TLS connections, but sslmode is ${target.sslmode}: ` +
        'enable ssl on the server, or lower database.sslmode if this network is trusted',
    );
  }
  throw new UpstreamError(
    'protocol',
    `server at ${where(target)} answered SSLRequest with unexpected byte 0x${(first ?? 0).toString(16)}: is this a PostgreSQL server?`,
  );
}
