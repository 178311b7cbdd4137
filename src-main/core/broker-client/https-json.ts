import https from 'node:https';
import type tls from 'node:tls';

/** One JSON request over HTTPS to one URL. The body may hold a password: it is never logged here. */
export interface HttpsJsonRequest {
  url: URL;
  method: 'GET' | 'POST';
  body?: unknown;
  /** Keep-alive agent holding the CA (verify-full: chain and host name checked by Node). */
  agent: https.Agent;
  /** TCP + TLS of a new connection. */
  connectTimeoutMs: number;
  /** The whole exchange, answer included. */
  timeoutMs: number;
  /** Larger answers are cut off and refused. */
  maxBytes: number;
}

export interface HttpsJsonResponse {
  status: number;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** The start of the body, for messages about an answer that is not JSON. */
  excerpt: string;
  /** The server's clock (its Date header), when it sent one. */
  serverDate: number | undefined;
  /** The TLS session the answer came over: protocol and the server's certificate. */
  tls: { protocol: string | null; certificate: tls.PeerCertificate | null };
}

/** Why no answer came: the server could not be reached, its certificate was refused, it was too slow, or too talkative. */
export type TransportFailure = 'unreachable' | 'certificate' | 'timeout' | 'too-large';

export class TransportError extends Error {
  constructor(
    readonly failure: TransportFailure,
    message: string,
    /** True when the request went over a kept connection (which the server may have closed meanwhile). */
    readonly reusedConnection: boolean,
    readonly code?: string,
    /** True when the TCP connection was up (a kept one, or a new one that connected) before it broke, rather than refused. */
    readonly connected: boolean = reusedConnection,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Node's codes for a certificate that does not verify or does not name the host. */
function isCertificateError(code: string | undefined): boolean {
  return code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_|ERR_SSL_|VERIFY|HOSTNAME|ALTNAME/.test(code);
}

function describe(e: NodeJS.ErrnoException): string {
  return e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
}

export function httpsJson(request: HttpsJsonRequest): Promise<HttpsJsonResponse> {
  const { url, method, agent } = request;
  const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), 'utf8');
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: TransportError) => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      clearTimeout(connecting);
      req.destroy();
      reject(e);
    };
    const req = https.request(url, {
      method,
      agent,
      headers: {
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
      },
    });
    let connecting: NodeJS.Timeout | undefined;
    let connected = false;
    const overall = setTimeout(
      () => fail(new TransportError('timeout', `no answer within ${request.timeoutMs} ms`, req.reusedSocket)),
      request.timeoutMs,
    );
    req.on('socket', (socket: tls.TLSSocket) => {
      if (req.reusedSocket) return;
      connecting = setTimeout(
        () => fail(new TransportError('timeout', `no TLS connection within ${request.connectTimeoutMs} ms`, false)),
        request.connectTimeoutMs,
      );
      // TCP up: a break from here on (in the TLS handshake or after) is not a refused connection.
      socket.once('connect', () => (connected = true));
      socket.once('secureConnect', () => clearTimeout(connecting));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const failure: TransportFailure = isCertificateError(e.code) ? 'certificate' : 'unreachable';
      // Anything else that breaks a connection before an answer (EPROTO, a reset TLS handshake) counts as unreachable too.
      fail(new TransportError(failure, describe(e), req.reusedSocket, e.code, req.reusedSocket || connected));
    });
    req.on('response', (res) => {
      // Read now: a connection the server closes after answering has no certificate any more at 'end'.
      const socket = res.socket as tls.TLSSocket | null;
      const session = {
        protocol: socket?.getProtocol?.() ?? null,
        certificate: socket?.getPeerCertificate ? socket.getPeerCertificate() : null,
      };
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > request.maxBytes) {
          fail(new TransportError('too-large', `the answer is larger than ${request.maxBytes} bytes`, req.reusedSocket));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (e: NodeJS.ErrnoException) => fail(new TransportError('unreachable', describe(e), req.reusedSocket, e.code, true)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(overall);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const date = res.headers.date === undefined ? Number.NaN : Date.parse(res.headers.date);
        resolve({
          status: res.statusCode ?? 0,
          json,
          excerpt: text.slice(0, 200),
          serverDate: Number.isNaN(date) ? undefined : date,
          tls: session,
        });
      });
    });
    req.end(payload);
  });
}
