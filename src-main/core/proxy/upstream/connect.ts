import net from 'node:net';
import { Parser } from 'pg-protocol/dist/parser.js';
import { addressOf as where, type DatabaseEndpoint } from '../../database/endpoint.js';
import { silentLogger, type Logger } from '../../log.js';
import { BackendCode, startupMessage } from '../wire.js';
import { authenticate } from './authenticate.js';
import { OpenConnection, type UpstreamAuthMethod, type UpstreamConnection, type UpstreamLogin } from './connection.js';
import { UpstreamError } from './error.js';
import { FrameReader, serverError, typeName } from './frame-reader.js';
import { negotiateTls } from './tls.js';
import { connectDirectTls, DirectTlsRefused, rememberRefused, useDirectTls } from './direct-tls.js';

export { UpstreamError } from './error.js';
export type { UpstreamErrorKind, UpstreamErrorFields } from './error.js';
export type { UpstreamAuthMethod, UpstreamConnection, UpstreamLogin } from './connection.js';

/** StartupMessage, protocol 3.0. Parameters the proxy must not pass on are dropped. */
export function buildStartupPacket(user: string, params: Record<string, string>): Buffer {
  const pairs: [string, string][] = [['user', user]];
  for (const [key, value] of Object.entries(params)) {
    // user is ours; _pq_.* would negotiate protocol extensions we do not speak.
    if (key === 'user' || key.startsWith('_pq_.')) continue;
    pairs.push([key, value]);
  }
  for (const [key, value] of pairs) {
    if (key.length === 0 || key.includes('\0') || value.includes('\0')) {
      throw new UpstreamError('protocol', `startup parameter ${JSON.stringify(key)} contains a NUL byte or is empty`);
    }
  }
  return startupMessage(pairs);
}

function tcpConnect(target: DatabaseEndpoint, track: (s: net.Socket) => void): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    track(socket);
    const cleanup = () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
    };
    const onConnect = () => {
      cleanup();
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      resolve(socket);
    };
    const onError = (e: Error & { code?: string }) => {
      cleanup();
      socket.destroy();
      reject(
        new UpstreamError('unreachable', `cannot connect to PostgreSQL at ${where(target)}: ${e.code ?? e.message}`, { cause: e }),
      );
    };
    socket.on('connect', onConnect);
    socket.on('error', onError);
  });
}

interface Attempt {
  sockets: net.Socket[];
  phase: string;
  /** TLS started without SSLRequest (sslnegotiation=direct, and the server took it). */
  directTls?: boolean;
}

/** ParameterStatus, BackendKeyData and notices until ReadyForQuery, kept verbatim (OpenConnection reads them). */
async function collectUntilReady(reader: FrameReader, parser: Parser, target: DatabaseEndpoint, greeting: Buffer[]): Promise<void> {
  for (;;) {
    const frame = await reader.next();
    switch (frame.code) {
      case BackendCode.errorResponse:
        throw serverError(parser, frame, target);
      case BackendCode.backendKeyData:
        if (frame.raw.length < 13) throw new UpstreamError('protocol', `server at ${where(target)} sent a short BackendKeyData`);
        break;
      case BackendCode.parameterStatus:
      case BackendCode.noticeResponse:
      case BackendCode.readyForQuery:
        break;
      default:
        throw new UpstreamError('protocol', `server at ${where(target)} sent unexpected message ${typeName(frame.code)} during startup`);
    }
    greeting.push(frame.raw);
    if (frame.code === BackendCode.readyForQuery) return;
  }
}

/** TCP then TLS per sslmode and sslnegotiation: direct TLS when asked for and not known to be refused, else SSLRequest. */
async function secureSocket(target: DatabaseEndpoint, attempt: Attempt, logger: Logger): Promise<{ socket: net.Socket; tls: boolean; direct: boolean }> {
  const track = (s: net.Socket) => attempt.sockets.push(s);
  if (target.sslmode !== 'disable' && useDirectTls(target)) {
    attempt.phase = 'negotiating direct TLS with';
    try {
      return { socket: await connectDirectTls(target, { track }), tls: true, direct: true };
    } catch (e) {
      if (!(e instanceof DirectTlsRefused)) throw e;
      rememberRefused(target, e.detail, logger);
    }
  }
  attempt.phase = 'connecting to';
  const raw = await tcpConnect(target, track);
  if (target.sslmode === 'disable') return { socket: raw, tls: false, direct: false };
  attempt.phase = 'negotiating TLS with';
  const socket = await negotiateTls(raw, target, track);
  return { socket, tls: socket !== raw, direct: false };
}

/** TCP, TLS per sslmode, startup, authentication, then the greeting up to ReadyForQuery. */
async function handshake(
  target: DatabaseEndpoint,
  login: UpstreamLogin,
  startup: Buffer,
  attempt: Attempt,
  logger: Logger,
): Promise<UpstreamConnection> {
  const { socket, tls, direct } = await secureSocket(target, attempt, logger);
  attempt.directTls = direct;
  attempt.phase = 'authenticating to';
  const reader = new FrameReader(socket, target);
  const parser = new Parser();
  const greeting: Buffer[] = [];
  socket.write(startup);
  const authMethod: UpstreamAuthMethod = await authenticate({ reader, parser, target, send: (b) => socket.write(b), greeting }, login);
  attempt.phase = 'waiting for the session to start on';
  await collectUntilReady(reader, parser, target, greeting);
  const rest = reader.detach();
  if (rest.length > 0) greeting.push(rest);
  return new OpenConnection(socket, greeting, tls, authMethod);
}

/**
 * Opens the upstream connection as the user: TCP, TLS per sslmode, startup,
 * authentication, and everything up to ReadyForQuery. connectTimeoutMs bounds
 * the whole of it (0 = no limit); the signal aborts it. On failure the socket
 * is destroyed and an UpstreamError explains what happened.
 */
export async function connectUpstream(
  target: DatabaseEndpoint,
  login: UpstreamLogin,
  options: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<UpstreamConnection> {
  const logger = options.logger ?? silentLogger;
  const { signal } = options;
  const startup = buildStartupPacket(login.user, login.params);
  const attempt: Attempt = { sockets: [], phase: 'connecting to' };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    if (target.connectTimeoutMs > 0) {
      timer = setTimeout(() => {
        reject(new UpstreamError('timeout', `timed out after ${target.connectTimeoutMs} ms ${attempt.phase} PostgreSQL at ${where(target)}`));
      }, target.connectTimeoutMs);
    }
    onAbort = () => reject(new UpstreamError('timeout', `connection to ${where(target)} was cancelled`, { cause: signal?.reason }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  const work = handshake(target, login, startup, attempt, logger);
  // If the deadline wins the race, the handshake's own late failure is moot.
  work.catch(() => undefined);
  const started = Date.now();
  try {
    const conn = await Promise.race([work, stopped]);
    logger.debug(
      { upstream: where(target), tls: conn.tls, ...(attempt.directTls ? { directTls: true } : {}), authMethod: conn.authMethod, pid: conn.backendKey?.pid, ms: Date.now() - started },
      'upstream connected',
    );
    return conn;
  } catch (e) {
    for (const s of attempt.sockets) s.destroy();
    const err = e instanceof UpstreamError ? e : new UpstreamError('protocol', `upstream ${where(target)}: ${(e as Error).message}`, { cause: e });
    logger.debug({ upstream: where(target), kind: err.kind, sqlstate: err.sqlstate, err: err.message }, 'upstream connection failed');
    throw err;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
