import type net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { Profile } from '../profiles/schema.js';
import type { AuthResult } from '../auth/authenticator.js';
import { ClientError, SqlState } from '../client-errors.js';
import {
  authenticationCleartextPassword,
  errorResponse,
  negotiateProtocolVersion,
  readPasswordMessage,
  readStartupPacket,
  type StartupPacket,
} from './frontend-codec.js';
import { PacketReader, ProtocolClose } from './packet-reader.js';
import { relay, type RelayHandle } from './relay.js';
import { failureOutcome, type SessionInfo, type SessionOutcome } from './session-recorder.js';
import type { UpstreamConnection, UpstreamLogin } from './upstream/connection.js';
import { UpstreamError } from './upstream/error.js';

export type { SessionInfo, SessionOutcome } from './session-recorder.js';

/** What a session needs from the proxy that accepted it. */
export interface SessionHost {
  readonly profile: Profile;
  readonly logger: Logger;
  /** Local TLS context when the profile enables it. */
  readonly tlsContext: tls.SecureContext | null;
  authenticate(typedLogin: string, password: string, clientInfo: Record<string, unknown>): Promise<AuthResult>;
  forgetLogin(login: string): void;
  connectUpstream(login: UpstreamLogin, signal: AbortSignal): Promise<UpstreamConnection>;
  /** Present when the host reuses server connections: takes one back after its client left with a Terminate. */
  releaseUpstream?(upstream: UpstreamConnection): void;
  /** A CancelRequest for one of our sessions: forward it; unknown keys are ignored. */
  cancel(packet: Buffer): void;
  registerBackend(pid: number, key: Buffer): () => void;
  /** Capacity check at startup time: true when another client would be one too many. */
  isFull(): boolean;
  /** A session has an outcome (authenticated or denied): returns a handle to its history row. */
  recorded(info: SessionInfo, outcome: SessionOutcome, error: ClientError | null): void;
  closed(info: SessionInfo): void;
}

let nextId = 1;

/** Error text for the log, without the client's password anywhere near it. */
function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * One client connection, from accept to close: startup negotiation, password
 * request, directory + sync (through the host's authenticator), upstream login,
 * then a pure byte relay.
 */
export class ClientSession {
  readonly info: SessionInfo;
  /**
   * Startup-phase state, dropped when the relay starts: an idle relaying
   * session keeps only what relaying needs (see startRelay).
   */
  private startupReader: PacketReader | null = new PacketReader();
  private client: Duplex;
  private tlsDone = false;
  private gssDone = false;
  private abortController: AbortController | null = new AbortController();
  /** A client that leaves mid-authentication must not leave a server connection behind. */
  private readonly onSocketClose = () => this.abortController?.abort();
  private deadline: NodeJS.Timeout | null = null;
  private relayHandle: RelayHandle | null = null;
  private outcomeRecorded = false;
  private revoked: ClientError | null = null;
  private startupReceived = false;
  private awaitingPassword = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly host: SessionHost,
  ) {
    this.client = socket;
    this.info = {
      id: nextId++,
      startedAt: Date.now(),
      clientAddress: socket.remoteAddress ?? null,
      typedLogin: null,
      login: null,
      database: null,
      applicationName: null,
      groups: [],
      cacheHit: false,
      authLatencyMs: null,
      bytesFromClient: 0,
      bytesToClient: 0,
    };
  }

  /** True until a StartupMessage arrived: such a socket cost nothing yet, so a flood of them may be evicted. */
  get awaitingStartup(): boolean {
    return !this.startupReceived && !this.socket.destroyed;
  }

  get relaying(): boolean {
    return this.relayHandle !== null;
  }

  /** Live byte counts for the status view. */
  get bytes(): { fromClient: number; toClient: number } {
    return this.relayHandle?.bytes ?? { fromClient: 0, toClient: 0 };
  }

  async run(): Promise<void> {
    const { socket } = this;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('error', () => undefined); // errors surface as close; logged below where they matter
    socket.on('close', this.onSocketClose);
    this.deadline = setTimeout(() => this.onDeadline(), this.host.profile.listen.authTimeoutMs);
    this.reader.attach(socket);
    try {
      const startup = await this.negotiate();
      if (startup) {
        this.startupReceived = true;
        await this.authenticateAndConnect(startup);
      }
      if (!this.relayHandle) this.finish();
    } catch (e) {
      if (e instanceof ProtocolClose) {
        this.host.logger.debug({ session: this.info.id, error: e.message }, 'protocol violation');
        this.fail(e.clientError);
      } else if (e instanceof ClientError) {
        this.fail(e);
      } else {
        this.host.logger.error({ session: this.info.id, error: describe(e) }, 'session failed');
        this.fail(
          new ClientError({
            sqlstate: SqlState.internalError,
            message: 'Rolecall hit an internal error',
            hint: 'Retry; if it persists, send Rolecall\'s log to your team.',
          }),
        );
      }
    } finally {
      this.clearDeadline();
    }
  }

  /**
   * Access is about to be revoked: the database will end this backend, and the
   * client must then read why. Set before the revocation so no close is missed.
   */
  prepareRevoke(error: ClientError): void {
    this.relayHandle?.setFinalMessage(errorResponse(error));
  }

  /** Access revoked (revalidation): close after the current server message with a clear FATAL. */
  revoke(error: ClientError): void {
    this.revoked = error;
    if (this.relayHandle) this.relayHandle.close(errorResponse(error));
    else this.fail(error);
  }

  /** Proxy shutdown: cut the connection. */
  destroy(): void {
    this.abortController?.abort();
    this.client.destroy();
  }

  private onDeadline(): void {
    this.host.logger.info({ session: this.info.id, login: this.info.typedLogin }, 'authentication timed out');
    this.abortController?.abort();
    // Before a valid startup packet there is nobody to talk to; after it, say why.
    if (this.info.typedLogin === null) this.client.destroy();
    else
      this.fail(
        new ClientError({
          sqlstate: SqlState.connectionFailure,
          message: `authentication did not complete within ${Math.round(this.host.profile.listen.authTimeoutMs / 1000)} s`,
          // Blame the right side: a client still owing its password is not a slow directory.
          hint: this.awaitingPassword
            ? 'No password arrived in time: enter it sooner, or raise listen.authTimeoutMs in the profile.'
            : 'The directory or the database may be slow or unreachable; retry.',
        }),
      );
  }

  /** The startup-phase reader; gone once relaying (nothing reads packets then). */
  private get reader(): PacketReader {
    if (!this.startupReader) throw new ProtocolClose(null);
    return this.startupReader;
  }

  /** Aborts authentication work when the client leaves; also gone once relaying. */
  private get abort(): AbortController {
    this.abortController ??= abortedController();
    return this.abortController;
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  /** Startup phase: SSLRequest / GSSENCRequest / CancelRequest until a StartupMessage. */
  private async negotiate(): Promise<Extract<StartupPacket, { type: 'startup' }> | null> {
    for (;;) {
      if (!(await this.reader.waitForData())) return null;
      // PostgreSQL 17's direct TLS: a TLS ClientHello instead of an SSLRequest.
      if (this.reader.firstByte === 0x16 && !this.tlsDone) {
        if (!this.host.tlsContext) throw new ProtocolClose(null);
        await this.startTls(true);
        continue;
      }
      const packet = await this.reader.read(readStartupPacket);
      if (!packet) return null;
      switch (packet.type) {
        case 'ssl':
          this.refuseBufferedPlaintext('SSL');
          if (this.tlsDone) throw new ProtocolClose(null);
          if (this.host.tlsContext) await this.startTls(false);
          else {
            this.client.write('N');
            this.tlsDone = true; // answered: a second SSLRequest is a violation
          }
          break;
        case 'gssenc':
          this.refuseBufferedPlaintext('GSSAPI encryption');
          if (this.gssDone || this.tlsDone) throw new ProtocolClose(null);
          this.gssDone = true;
          this.client.write('N');
          break;
        case 'cancel':
          this.host.cancel(packet.raw);
          this.client.destroy();
          return null;
        case 'startup':
          return packet;
      }
    }
  }

  /** CVE-2021-23214: bytes that arrived with the request would be unencrypted. */
  private refuseBufferedPlaintext(what: string): void {
    if (this.reader.buffered > 0) {
      throw new ProtocolClose(
        new ClientError({ sqlstate: SqlState.protocolViolation, message: `received unencrypted data after ${what} request` }),
      );
    }
  }

  private async startTls(direct: boolean): Promise<void> {
    const context = this.host.tlsContext;
    if (!context) throw new ProtocolClose(null);
    const pending = this.reader.detach();
    if (!direct) this.socket.write('S');
    // Direct TLS: the ClientHello was already read, so TLS must read it back through a stream wrapper.
    const transport = direct ? withPrefix(this.socket, pending) : this.socket;
    const secure = new tls.TLSSocket(transport, {
      isServer: true,
      secureContext: context,
      // Direct TLS must say it speaks PostgreSQL (ALPN), as the server requires.
      ALPNProtocols: ['postgresql'],
    });
    secure.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', () => resolve());
      secure.once('close', () => reject(new ProtocolClose(null)));
    });
    if (direct && secure.alpnProtocol !== 'postgresql') throw new ProtocolClose(null);
    this.client = secure;
    this.tlsDone = true;
    this.reader.attach(secure);
  }

  private async authenticateAndConnect(startup: Extract<StartupPacket, { type: 'startup' }>): Promise<void> {
    const { profile } = this.host;
    const params = startup.params;
    const typedLogin = params.user ?? '';
    this.info.applicationName = params.application_name ?? null;
    if (!typedLogin) {
      throw new ClientError({
        sqlstate: SqlState.invalidAuthorization,
        message: 'no PostgreSQL user name specified in startup packet',
        hint: 'Connect with your directory account name, e.g. psql -U alice.',
      });
    }
    this.info.typedLogin = typedLogin;
    const replication = params.replication?.toLowerCase();
    if (replication !== undefined && !['false', 'off', 'no', '0'].includes(replication)) {
      throw new ClientError({
        sqlstate: SqlState.featureNotSupported,
        message: 'replication connections are not supported through Rolecall',
        hint: 'Connect to the database directly for replication.',
      });
    }
    this.info.database = this.resolveDatabase(params.database, typedLogin);
    if (this.host.isFull()) {
      throw new ClientError({
        sqlstate: SqlState.tooManyConnections,
        message: `sorry, too many clients already (this Rolecall profile allows ${profile.listen.maxClients})`,
        hint: 'Close idle connections in your tools, or raise listen.maxClients in the profile.',
      });
    }
    const out: Buffer[] = [];
    if (startup.minor > 0 || startup.protocolOptions.length > 0) out.push(negotiateProtocolVersion(0, startup.protocolOptions));
    out.push(authenticationCleartextPassword());
    this.client.write(Buffer.concat(out));

    this.awaitingPassword = true;
    const password = await this.reader.read(readPasswordMessage);
    this.awaitingPassword = false;
    // psql hangs up here to prompt for the password: no directory call, no history row.
    if (password === null) return;

    const started = Date.now();
    const clientInfo = {
      application_name: this.info.applicationName,
      client_addr: this.info.clientAddress,
      database: this.info.database,
    };
    let auth: AuthResult;
    let upstream: UpstreamConnection;
    try {
      auth = await this.host.authenticate(typedLogin, password, clientInfo);
      this.checkNotAborted();
      try {
        upstream = await this.connect(auth, password, params);
      } catch (e) {
        // The cached password no longer works upstream (changed, or VALID UNTIL passed): redo directory + sync once.
        if (!(auth.cacheHit && isInvalidPassword(e))) throw e;
        this.host.logger.info({ session: this.info.id, login: auth.login }, 'cached login rejected upstream; re-checking');
        this.host.forgetLogin(auth.login);
        auth = await this.host.authenticate(typedLogin, password, clientInfo);
        this.checkNotAborted();
        upstream = await this.connect(auth, password, params);
      }
    } finally {
      this.info.authLatencyMs = Date.now() - started;
    }
    if (this.abort.signal.aborted) {
      // The client hung up (or the deadline passed) while the database said yes: nobody to relay to.
      upstream.socket.destroy();
      throw new ProtocolClose(null);
    }
    this.info.login = auth.login;
    this.info.groups = auth.groups;
    this.info.cacheHit = auth.cacheHit;
    this.startRelay(upstream);
  }

  private async connect(auth: AuthResult, password: string, params: Record<string, string>): Promise<UpstreamConnection> {
    const upstreamParams: Record<string, string> = { ...this.host.profile.database.sessionDefaults };
    for (const [k, v] of Object.entries(params)) {
      if (k === 'user' || k === 'database' || k === 'replication') continue;
      upstreamParams[k] = v;
    }
    upstreamParams.database = this.info.database ?? this.host.profile.database.database;
    try {
      return await this.host.connectUpstream({ user: auth.login, password, params: upstreamParams }, this.abort.signal);
    } catch (e) {
      this.checkNotAborted();
      throw upstreamClientError(e, this.host.profile);
    }
  }

  private checkNotAborted(): void {
    if (this.abort.signal.aborted) throw new ProtocolClose(null);
  }

  private resolveDatabase(requested: string | undefined, typedLogin: string): string {
    const db = this.host.profile.database;
    // libpq sends database = user name when none is given: that means "the profile's database".
    if (!requested || requested === typedLogin || requested === db.database) return db.database;
    if (db.allowedDatabases.includes(requested)) return requested;
    throw new ClientError({
      sqlstate: SqlState.invalidCatalogName,
      message: `database "${requested}" is not served by this Rolecall profile`,
      hint: `This profile serves "${db.database}"${db.allowedDatabases.length ? ` and ${db.allowedDatabases.map((d) => `"${d}"`).join(', ')}` : ''}: connect with dbname=${db.database}, or add it to database.allowedDatabases.`,
    });
  }

  private startRelay(upstream: UpstreamConnection): void {
    this.clearDeadline();
    const leftover = this.reader.detach();
    // Nothing of the startup phase outlives it: the reader, the abort signal
    // and its close listener go; of the leftover bytes (which may hold the
    // password message's chunk) only the count is kept.
    this.startupReader = null;
    this.socket.off('close', this.onSocketClose);
    this.abortController = null;
    const leftoverBytes = leftover.length;
    const greetingBytes = upstream.greeting.length;
    const client = this.client;
    // From here on: no timeout of ours, TCP keepalive only.
    this.socket.setTimeout(0);
    client.write(upstream.greeting);
    if (leftoverBytes > 0) upstream.socket.write(leftover);
    const unregister = upstream.backendKey ? this.host.registerBackend(upstream.backendKey.pid, upstream.backendKey.key) : () => undefined;
    this.record('success', null);
    this.relayHandle = relay(client, upstream.socket, { keepUpstreamOnTerminate: this.host.releaseUpstream !== undefined });
    const release = this.host.releaseUpstream;
    void this.relayHandle.done.then((r) => {
      unregister();
      if (r.upstreamKept) release?.(upstream);
      this.info.bytesFromClient = r.bytesFromClient + leftoverBytes;
      this.info.bytesToClient = r.bytesToClient + greetingBytes;
      this.finish();
    });
  }

  private record(outcome: SessionOutcome, error: ClientError | null): void {
    if (this.outcomeRecorded) return;
    this.outcomeRecorded = true;
    this.host.recorded(this.info, outcome, error);
  }

  private fail(error: ClientError | null): void {
    this.startupReader?.detach();
    // A denied session ends here: record the directory account it matched, if any.
    if (error?.account && this.info.login === null) this.info.login = error.account;
    if (error && this.info.typedLogin !== null && !this.revoked) this.record(failureOutcome(error), error);
    if (error && !this.client.destroyed) this.client.end(errorResponse(error));
    else this.client.destroy();
    // Do not wait forever for a client that does not read its error.
    setTimeout(() => this.client.destroy(), 2000).unref();
    if (!this.relayHandle) this.finish();
  }

  private finished = false;
  /** Tells the host exactly once that this session is over. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.client.destroy();
    this.host.closed(this.info);
  }
}

/** Stands in for the abort controller once relaying: any late check sees "aborted". */
function abortedController(): AbortController {
  const c = new AbortController();
  c.abort();
  return c;
}

/** A Duplex over the socket that first yields bytes already read from it. */
function withPrefix(socket: net.Socket, prefix: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  if (prefix.length > 0) stream.push(prefix);
  socket.on('data', (c: Buffer) => {
    if (!stream.push(c)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  socket.resume();
  return stream;
}

function isInvalidPassword(e: unknown): boolean {
  return e instanceof ClientError && e.sqlstate === SqlState.invalidPassword;
}

/** Maps an upstream failure to what the client sees: the server's own error verbatim, else 08006. */
function upstreamClientError(e: unknown, profile: Profile): ClientError {
  if (e instanceof ClientError) return e;
  if (e instanceof UpstreamError && e.kind === 'server' && e.raw) {
    return new ClientError({ sqlstate: e.sqlstate, message: e.fields?.message ?? 'server error', raw: e.raw });
  }
  const where = `${profile.database.host}:${profile.database.port}`;
  return new ClientError({
    sqlstate: e instanceof UpstreamError && e.kind !== 'server' ? e.sqlstate : SqlState.connectionFailure,
    message: `could not connect to the database at ${where}: ${e instanceof Error ? e.message : String(e)}`,
    hint: 'Check your VPN or network, and the profile\'s database host, port and sslmode.',
    cause: e,
  });
}
