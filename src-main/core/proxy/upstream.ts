import net from 'node:net';
import type tls from 'node:tls';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DatabaseError, AuthenticationMD5Password } from 'pg-protocol/dist/messages.js';
import { addressOf as where, type DatabaseEndpoint } from '../database-endpoint.js';
import { silentLogger, type Logger } from '../log.js';
import { ScramClient, ScramError, SCRAM_MECHANISM, type ScramKeyCache } from '../sync/scram-client.js';
import { md5PasswordResponse } from './md5-password.js';
import { negotiateTls } from './upstream-tls.js';
import { UpstreamError } from './upstream-error.js';
import { SqlState } from './errors.js';
import { BackendCode as CODE, cstring, message, passwordMessage, startupMessage } from './wire.js';

export { UpstreamError } from './upstream-error.js';
export type { UpstreamErrorKind, UpstreamErrorFields } from './upstream-error.js';


export interface UpstreamLogin {
  user: string;
  password: string;
  /** Startup parameters (database, application_name, client_encoding, options...); `user` is set from `user`. */
  params: Record<string, string>;
  /** Optional cache of SCRAM keys for this (user, password): skips PBKDF2 when salt and iterations are unchanged. */
  scramKeyCache?: ScramKeyCache;
}

export type UpstreamAuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface UpstreamConnection {
  /** Paused, with none of our listeners left: ready to be piped. */
  socket: net.Socket | tls.TLSSocket;
  /**
   * Bytes to forward to the client verbatim, exactly as the server sent them:
   * AuthenticationOk, ParameterStatus, BackendKeyData, NoticeResponse, ReadyForQuery,
   * followed by anything (normally nothing) the server sent after ReadyForQuery.
   */
  greeting: Buffer;
  backendKey: { pid: number; key: Buffer } | null;
  /** The server's ParameterStatus values (server_version, TimeZone...), as in the greeting. */
  readonly parameters: Record<string, string>;
  tls: boolean;
  authMethod: UpstreamAuthMethod;
}

/**
 * What an open connection holds for the whole session, kept small: one
 * thousand idle clients hold one thousand of these. The greeting is one
 * buffer of its own (not a slice of Node's shared 8 KB pool, which a long-lived
 * slice would pin), the backend key is a view into it, and the parameters are
 * read from it only when asked for.
 */
class OpenConnection implements UpstreamConnection {
  readonly backendKey: { pid: number; key: Buffer } | null;

  constructor(
    readonly socket: net.Socket | tls.TLSSocket,
    readonly greeting: Buffer,
    readonly tls: boolean,
    readonly authMethod: UpstreamAuthMethod,
  ) {
    this.backendKey = null;
    for (const [code, start, end] of frames(greeting)) {
      // Read by hand: the key may be longer than 4 bytes (protocol 3.2).
      if (code === CODE.backendKeyData) this.backendKey = { pid: greeting.readInt32BE(start), key: greeting.subarray(start + 4, end) };
    }
  }

  get parameters(): Record<string, string> {
    const parameters: Record<string, string> = {};
    for (const [code, start, end] of frames(this.greeting)) {
      if (code !== CODE.parameterStatus) continue;
      const nul = this.greeting.indexOf(0, start);
      if (nul < 0 || nul >= end) continue;
      parameters[this.greeting.toString('utf8', start, nul)] = this.greeting.toString('utf8', nul + 1, Math.max(nul + 1, end - 1));
    }
    return parameters;
  }
}

/** The messages in a buffer of whole backend messages: type byte, payload start and end. */
function* frames(buffer: Buffer): Generator<[code: number, start: number, end: number]> {
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const end = offset + 1 + buffer.readUInt32BE(offset + 1);
    if (end > buffer.length) return;
    yield [buffer[offset] as number, offset + 5, end];
    offset = end;
  }
}

/** Concatenates into a buffer of exactly that size, outside Node's shared pool (see OpenConnection). */
function ownBuffer(parts: Buffer[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const p of parts) offset += p.copy(out, offset);
  return out;
}

/** Startup-phase messages are small; a huge length means garbage or hostility. */
const MAX_STARTUP_MESSAGE = 1 << 20;

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

function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(bytes.length, 0);
  return message('p', Buffer.concat([cstring(mechanism), len, bytes]));
}

interface Frame {
  code: number;
  /** The whole message, type byte included. */
  raw: Buffer;
}

/** Splits the server's byte stream into whole messages during the startup phase. */
class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: UpstreamError | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly target: DatabaseEndpoint,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  next(): Promise<Frame> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.deliver();
    });
  }

  /** Pauses the socket, removes our listeners and returns bytes not yet consumed. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    return rest;
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.deliver();
  };

  private readonly onError = (e: Error) => {
    this.fail(new UpstreamError('unreachable', `connection to ${where(this.target)} failed: ${e.message}`, { cause: e }));
  };

  private readonly onClose = () => {
    this.fail(new UpstreamError('unreachable', `server at ${where(this.target)} closed the connection unexpectedly`));
  };

  private fail(e: UpstreamError): void {
    this.failure ??= e;
    this.deliver();
  }

  private deliver(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (length < 4 || length > MAX_STARTUP_MESSAGE) {
        this.waiter = undefined;
        waiter.reject(new UpstreamError('protocol', `server at ${where(this.target)} sent an invalid message length (${length})`));
        return;
      }
      if (this.buffered.length >= length + 1) {
        const raw = this.buffered.subarray(0, length + 1);
        this.buffered = this.buffered.subarray(length + 1);
        this.waiter = undefined;
        waiter.resolve({ code: raw[0] as number, raw });
        return;
      }
    }
    if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    }
  }
}

/** pg-protocol's view of one complete frame. */
function parseFrame(parser: Parser, frame: Frame): BackendMessage {
  let parsed: BackendMessage | undefined;
  parser.parse(frame.raw, (m) => {
    parsed = m;
  });
  if (parsed === undefined) throw new UpstreamError('protocol', 'incomplete server message');
  return parsed;
}

function serverError(parser: Parser, frame: Frame, target: DatabaseEndpoint): UpstreamError {
  const err = parseFrame(parser, frame) as DatabaseError;
  const fields = { severity: err.severity, code: err.code, message: err.message, detail: err.detail, hint: err.hint };
  return new UpstreamError('server', err.message || `server at ${where(target)} reported an error`, {
    sqlstate: err.code ?? SqlState.connectionFailure,
    raw: Buffer.from(frame.raw),
    fields,
  });
}

function typeName(code: number): string {
  return `'${String.fromCharCode(code)}'`;
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
}

const SASL_CODES = { sasl: 10, continue: 11, final: 12 } as const;

async function authenticate(
  reader: FrameReader,
  parser: Parser,
  target: DatabaseEndpoint,
  login: UpstreamLogin,
  send: (b: Buffer) => void,
  greeting: Buffer[],
): Promise<UpstreamAuthMethod> {
  let method: UpstreamAuthMethod = 'trust';
  let scram: ScramClient | undefined;
  let scramStep: 'first' | 'final' | 'done' = 'first';
  const protocolError = (what: string) => new UpstreamError('protocol', `server at ${where(target)} ${what}`);
  for (;;) {
    const frame = await reader.next();
    if (frame.code === CODE.errorResponse) throw serverError(parser, frame, target);
    if (frame.code === CODE.noticeResponse) {
      greeting.push(frame.raw);
      continue;
    }
    if (frame.code !== CODE.authentication || frame.raw.length < 9) {
      throw protocolError(`sent ${typeName(frame.code)} where an authentication request was expected`);
    }
    const authCode = frame.raw.readInt32BE(5);
    switch (authCode) {
      case 0: {
        // Mutual authentication: a server that skips SASLFinal has not proven anything.
        if (scram && scramStep !== 'done') throw protocolError('ended SCRAM authentication without proving its identity');
        greeting.push(frame.raw);
        return method;
      }
      case 3:
        method = 'password';
        send(passwordMessage(login.password));
        break;
      case 5: {
        const m = parseFrame(parser, frame) as AuthenticationMD5Password;
        method = 'md5';
        send(passwordMessage(md5PasswordResponse(login.user, login.password, m.salt)));
        break;
      }
      case SASL_CODES.sasl: {
        const m = parseFrame(parser, frame) as BackendMessage & { mechanisms: string[] };
        if (!m.mechanisms.includes(SCRAM_MECHANISM)) {
          const offered = m.mechanisms.join(', ') || 'none';
          throw new UpstreamError(
            'unsupported-auth',
            `server at ${where(target)} offers SASL mechanisms ${offered}; Rolecall supports ${SCRAM_MECHANISM} without channel binding` +
              (m.mechanisms.includes(`${SCRAM_MECHANISM}-PLUS`) ? ' (SCRAM-SHA-256-PLUS only is not supported)' : ''),
            { sqlstate: SqlState.featureNotSupported },
          );
        }
        method = 'scram-sha-256';
        scram = new ScramClient({ password: login.password, ...(login.scramKeyCache ? { keyCache: login.scramKeyCache } : {}) });
        send(saslInitialResponse(SCRAM_MECHANISM, scram.clientFirst()));
        break;
      }
      case SASL_CODES.continue: {
        if (!scram || scramStep !== 'first') throw protocolError('sent an unexpected SASL continue message');
        const m = parseFrame(parser, frame) as BackendMessage & { data: string };
        send(message('p', Buffer.from(scram.clientFinal(m.data), 'utf8')));
        scramStep = 'final';
        break;
      }
      case SASL_CODES.final: {
        if (!scram || scramStep !== 'final') throw protocolError('sent an unexpected SASL final message');
        const m = parseFrame(parser, frame) as BackendMessage & { data: string };
        scram.verifyServerFinal(m.data);
        scramStep = 'done';
        break;
      }
      case 2:
      case 7:
      case 8:
      case 9: {
        const name = authCode === 2 ? 'Kerberos V5' : authCode === 9 ? 'SSPI' : 'GSSAPI';
        throw new UpstreamError(
          'unsupported-auth',
          `server at ${where(target)} asks for ${name} authentication, which Rolecall does not support: ` +
            'use scram-sha-256 (or md5/password) for this user in pg_hba.conf',
          { sqlstate: SqlState.invalidAuthorization },
        );
      }
      default:
        throw new UpstreamError('unsupported-auth', `server at ${where(target)} asks for unknown authentication method ${authCode}`, {
          sqlstate: SqlState.invalidAuthorization,
        });
    }
  }
}

/** ParameterStatus, BackendKeyData and notices until ReadyForQuery, kept verbatim (OpenConnection reads them). */
async function collectUntilReady(reader: FrameReader, parser: Parser, target: DatabaseEndpoint, greeting: Buffer[]): Promise<void> {
  for (;;) {
    const frame = await reader.next();
    switch (frame.code) {
      case CODE.errorResponse:
        throw serverError(parser, frame, target);
      case CODE.backendKeyData:
        if (frame.raw.length < 13) throw new UpstreamError('protocol', `server at ${where(target)} sent a short BackendKeyData`);
        break;
      case CODE.parameterStatus:
      case CODE.noticeResponse:
      case CODE.readyForQuery:
        break;
      default:
        throw new UpstreamError('protocol', `server at ${where(target)} sent unexpected message ${typeName(frame.code)} during startup`);
    }
    greeting.push(frame.raw);
    if (frame.code === CODE.readyForQuery) return;
  }
}

async function handshake(target: DatabaseEndpoint, login: UpstreamLogin, startup: Buffer, attempt: Attempt): Promise<UpstreamConnection> {
  attempt.phase = 'connecting to';
  const raw = await tcpConnect(target, (s) => attempt.sockets.push(s));
  let socket: net.Socket = raw;
  if (target.sslmode !== 'disable') {
    attempt.phase = 'negotiating TLS with';
    socket = await negotiateTls(raw, target, (s) => attempt.sockets.push(s));
  }
  attempt.phase = 'authenticating to';
  const reader = new FrameReader(socket, target);
  const parser = new Parser();
  const greeting: Buffer[] = [];
  const send = (b: Buffer) => {
    socket.write(b);
  };
  send(startup);
  let authMethod: UpstreamAuthMethod;
  try {
    authMethod = await authenticate(reader, parser, target, login, send, greeting);
  } catch (e) {
    if (e instanceof ScramError) {
      throw new UpstreamError('protocol', `SCRAM authentication with ${where(target)} failed: ${e.message}`, { cause: e });
    }
    throw e;
  }
  attempt.phase = 'waiting for the session to start on';
  await collectUntilReady(reader, parser, target, greeting);
  const rest = reader.detach();
  if (rest.length > 0) greeting.push(rest);
  return new OpenConnection(socket, ownBuffer(greeting), socket !== raw, authMethod);
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
  const work = handshake(target, login, startup, attempt);
  // If the deadline wins the race, the handshake's own late failure is moot.
  work.catch(() => undefined);
  const started = Date.now();
  try {
    const conn = await Promise.race([work, stopped]);
    logger.debug(
      { upstream: where(target), tls: conn.tls, authMethod: conn.authMethod, pid: conn.backendKey?.pid, ms: Date.now() - started },
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
