import type net from 'node:net';
import tls from 'node:tls';
import { addressOf as where, type DatabaseEndpoint } from '../../database/endpoint.js';
import type { Logger } from '../../log.js';
import { UpstreamError } from './error.js';
import { describeTlsFailure, tlsOptionsFor } from './tls.js';

/**
 * sslnegotiation=direct (PostgreSQL 17+): TLS from the first byte, ALPN
 * "postgresql", no SSLRequest round trip. tls.connect makes the socket itself
 * (no plain socket to wrap), so it takes `onread` (see readInto).
 */

/**
 * Every read of every direct TLS connection decrypts into this one buffer,
 * and copyOut hands the stream an exact-size copy. Node 24 otherwise gives
 * each read a slice of a fresh 64 KB ArrayBuffer: memory outside the heap that
 * drives full collections (README, Performance). One buffer serves all
 * connections because a read is decrypted and copied out in one synchronous step.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Pushes a copy as Node's own read path does, so the socket stays an ordinary
 * stream for every reader (startup, relay, reset): 'data' events, pause() and
 * resume() (net.Socket stops and restarts onread reads itself), and push's
 * false stopping reads while nobody consumes them.
 */
function copyOut(this: tls.TLSSocket, length: number, buffer: Uint8Array): boolean {
  return this.push(Buffer.from(buffer.subarray(0, length)));
}

/** Not in @types/node's tls options, but honoured by tls.connect when it makes the socket itself. */
const readInto: { onread: net.OnReadOpts } = { onread: { buffer: SHARED_READ_BUFFER, callback: copyOut } };

/** How long an endpoint that refused direct TLS is reached with SSLRequest before direct is tried again. */
export const DIRECT_RETRY_MS = 10 * 60_000;

/** host:port → until when SSLRequest is used. In memory only: a restart tries direct again. */
const refusedUntil = new Map<string, number>();
/** Endpoints already logged as refusing direct TLS: said once per process, not once per connection. */
const logged = new Set<string>();

/** The server answered our ClientHello as a pre-17 server would: it cannot be a TLS problem of ours. */
export class DirectTlsRefused extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'DirectTlsRefused';
  }
}

export function useDirectTls(target: DatabaseEndpoint, now = Date.now()): boolean {
  if (target.sslnegotiation !== 'direct') return false;
  const until = refusedUntil.get(where(target));
  if (until === undefined) return true;
  if (now < until) return false;
  refusedUntil.delete(where(target));
  return true;
}

/** Remembers that the endpoint speaks SSLRequest only, and says so once. */
export function rememberRefused(target: DatabaseEndpoint, why: string, logger: Logger, now = Date.now()): void {
  const key = where(target);
  refusedUntil.set(key, now + DIRECT_RETRY_MS);
  if (logged.has(key)) return;
  logged.add(key);
  logger.warn(
    { upstream: key, reason: why },
    'server does not accept direct TLS (sslnegotiation=direct needs PostgreSQL 17+): connecting with SSLRequest instead',
  );
}

/** For tests: forget what was learnt about endpoints. */
export function forgetDirectTlsRefusals(): void {
  refusedUntil.clear();
  logged.clear();
}

/**
 * What a server before 17 does with a ClientHello: it reads it as a startup
 * packet with an absurd length and closes without a word (reset or EOF before
 * any TLS record), or, from a proxy or an older build, sends a protocol error
 * that OpenSSL cannot read as TLS.
 */
function looksRefused(e: Error & { code?: string }): boolean {
  const code = e.code ?? '';
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    /socket disconnected before secure TLS connection/i.test(e.message)
  );
}

export interface DirectTlsOptions {
  track: (s: tls.TLSSocket) => void;
}

/**
 * TCP and TLS in one step. Rejects with DirectTlsRefused when the server does
 * not speak direct TLS (the caller falls back to SSLRequest), and with an
 * UpstreamError for anything else: unreachable, or the same certificate
 * messages as after SSLRequest.
 */
export function connectDirectTls(target: DatabaseEndpoint, options: DirectTlsOptions): Promise<tls.TLSSocket> {
  const tlsOptions = tlsOptionsFor(target);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      ...tlsOptions,
      host: target.host,
      port: target.port,
      ALPNProtocols: ['postgresql'],
      ...readInto,
    });
    options.track(socket);
    let tcpUp = false;
    const cleanup = () => {
      socket.off('connect', onConnect);
      socket.off('secureConnect', onSecure);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onConnect = () => {
      tcpUp = true;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
    };
    const onSecure = () => {
      cleanup();
      // PostgreSQL 17+ insists on the ALPN; a server that ignored it is not one we may speak to like this.
      if (socket.alpnProtocol !== 'postgresql') {
        socket.destroy();
        reject(
          new UpstreamError(
            'protocol',
            `server at ${where(target)} accepted direct TLS without the "postgresql" ALPN protocol: is this a PostgreSQL 17+ server? ` +
              'Set database.sslnegotiation to "postgres"',
          ),
        );
        return;
      }
      resolve(socket);
    };
    const onError = (e: Error & { code?: string }) => {
      cleanup();
      socket.destroy();
      if (!tcpUp) {
        reject(new UpstreamError('unreachable', `cannot connect to PostgreSQL at ${where(target)}: ${e.code ?? e.message}`, { cause: e }));
      } else if (looksRefused(e)) reject(new DirectTlsRefused(e.code ?? e.message));
      else reject(new UpstreamError('tls', describeTlsFailure(target, e), { cause: e }));
    };
    const onClose = () => {
      cleanup();
      if (tcpUp) reject(new DirectTlsRefused('closed before the TLS handshake'));
      else reject(new UpstreamError('unreachable', `cannot connect to PostgreSQL at ${where(target)}: closed`));
    };
    socket.on('connect', onConnect);
    socket.on('secureConnect', onSecure);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
