import type net from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { AuthResult } from '../auth/authenticator.js';
import { passwordWarningFor } from '../auth/password-warning.js';
import { ClientError, SqlState } from '../client-errors.js';
import type { Logger } from '../log.js';
import type { Profile } from '../profiles/schema.js';
import { negotiateStartup, TlsNotOffered } from './client-tls.js';
import { authenticationCleartextPassword, errorResponse, greetingWith, negotiateProtocolVersion, noticeResponse, readPasswordMessage, type ClientStartup } from './frontend-codec.js';
import { PacketReader, ProtocolClose } from './packet-reader.js';
import { relay, type RelayHandle } from './relay.js';
import { failureOutcome, type SessionInfo, type SessionOutcome } from './session-recorder.js';
import { checkStartup, tooManyClients, upstreamParameters, type StartupRequest } from './startup-policy.js';
import type { UpstreamConnection, UpstreamLogin } from './upstream/connection.js';
import { upstreamFailure } from './upstream/error.js';

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
  /** A session has an outcome (authenticated or denied): count it and write its history row (session-recorder.ts). */
  recorded(info: SessionInfo, outcome: SessionOutcome, error: ClientError | null): void;
  closed(info: SessionInfo): void;
}

let nextId = 1;

/** Error text for the log, without the client's password anywhere near it. */
function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * One client connection, from accept to close. run() is the list of steps;
 * each is a method below or a file of its own: negotiate (client-tls.ts) →
 * check startup (startup-policy.ts) → ask for the password → authenticate
 * (the host's Authenticator, core/auth) → connect upstream (upstream/) →
 * relay (relay.ts) → record (session-recorder.ts, through the host). Every
 * failure leaves through fail(), which answers the client and records it.
 */
export class ClientSession {
  readonly info: SessionInfo;
  /**
   * Startup-phase state, dropped when the relay starts: an idle relaying
   * session keeps only what relaying needs (see startRelay()).
   */
  private startupReader: PacketReader | null = new PacketReader();
  private client: Duplex;
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
    this.open();
    try {
      const startup = await this.negotiate();
      if (startup) {
        this.startupReceived = true;
        const request = this.checkStartup(startup);
        const password = await this.askPassword(startup);
        // psql hangs up here to prompt for the password: no directory call, no history row.
        if (password !== null) {
          const { auth, upstream } = await this.signIn(request, password, startup.params);
          this.startRelay(auth, upstream);
        }
      }
      if (!this.relayHandle) this.finish();
    } catch (e) {
      if (e instanceof TlsNotOffered) this.closeUnanswerable(e.diagnosis);
      else this.fail(this.clientErrorFor(e));
    } finally {
      this.clearDeadline();
    }
  }

  /**
   * Access is about to be revoked: the database will end this backend, and the
   * client must then read why. Set before the revocation so no close is missed;
   * null when it turned out not to be (team mode asks first, see ProfileProxy).
   */
  prepareRevoke(error: ClientError | null): void {
    this.relayHandle?.setFinalMessage(error ? errorResponse(error) : undefined);
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

  /** Socket options, the one deadline from accept to ReadyForQuery, and the startup reader. */
  private open(): void {
    const { socket } = this;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('error', () => undefined); // errors surface as close; logged below where they matter
    socket.on('close', this.onSocketClose);
    this.deadline = setTimeout(() => this.onDeadline(), this.host.profile.listen.authTimeoutMs);
    this.reader.attach(socket);
  }

  /** Step 1: SSLRequest / GSSENCRequest / direct TLS / CancelRequest until a StartupMessage (client-tls.ts). */
  private negotiate(): Promise<ClientStartup | null> {
    return negotiateStartup({
      socket: this.socket,
      reader: this.reader,
      tlsContext: this.host.tlsContext,
      secured: (secure) => {
        this.client = secure;
      },
      cancel: (packet) => {
        this.host.cancel(packet);
        this.client.destroy();
      },
    });
  }

  /** Step 2: what the startup asks for is allowed (startup-policy.ts), and there is room for one more client. */
  private checkStartup(startup: ClientStartup): StartupRequest {
    const check = checkStartup(startup.params, this.host.profile);
    this.info.applicationName = check.ok ? check.request.applicationName : check.applicationName;
    this.info.typedLogin = check.ok ? check.request.typedLogin : check.typedLogin;
    if (!check.ok) throw check.error;
    this.info.database = check.request.database;
    if (this.host.isFull()) throw tooManyClients(this.host.profile.listen.maxClients);
    return check.request;
  }

  /** Step 3: AuthenticationCleartextPassword (after NegotiateProtocolVersion for 3.2 or _pq_. options); null when the client hung up. */
  private async askPassword(startup: ClientStartup): Promise<string | null> {
    const out: Buffer[] = [];
    if (startup.minor > 0 || startup.protocolOptions.length > 0) out.push(negotiateProtocolVersion(0, startup.protocolOptions));
    out.push(authenticationCleartextPassword());
    this.client.write(Buffer.concat(out));
    this.awaitingPassword = true;
    const password = await this.reader.read(readPasswordMessage);
    this.awaitingPassword = false;
    return password;
  }

  /**
   * Steps 4 and 5: authenticate, then log in upstream as the user. The
   * cached password may no longer work upstream (changed, or VALID UNTIL
   * passed): then directory + sync (or the broker) run once more. Auth
   * latency covers both.
   */
  private async signIn(
    request: StartupRequest,
    password: string,
    params: Record<string, string>,
  ): Promise<{ auth: AuthResult; upstream: UpstreamConnection }> {
    const started = Date.now();
    const clientInfo = {
      application_name: this.info.applicationName,
      client_addr: this.info.clientAddress,
      database: this.info.database,
    };
    let auth: AuthResult;
    let upstream: UpstreamConnection;
    try {
      auth = await this.authenticate(request, password, clientInfo);
      try {
        upstream = await this.connectUpstream(auth, password, request, params);
      } catch (e) {
        // Team mode also retries a fresh password once: another machine may have just moved the login to the next window.
        if (!((auth.cacheHit || auth.databasePassword !== undefined) && isInvalidPassword(e))) throw e;
        this.host.logger.info({ session: this.info.id, login: auth.login }, 'cached login rejected upstream; re-checking');
        this.host.forgetLogin(auth.login);
        auth = await this.authenticate(request, password, clientInfo);
        upstream = await this.connectUpstream(auth, password, request, params);
      }
    } finally {
      this.info.authLatencyMs = Date.now() - started;
    }
    if (this.abort.signal.aborted) {
      // The client hung up (or the deadline passed) while the database said yes: nobody to relay to.
      upstream.socket.destroy();
      throw new ProtocolClose(null);
    }
    return { auth, upstream };
  }

  /** Step 4: the password and groups checked, the login synced (or a cache hit), through the host's Authenticator (direct or broker). */
  private async authenticate(request: StartupRequest, password: string, clientInfo: Record<string, unknown>): Promise<AuthResult> {
    const auth = await this.host.authenticate(request.typedLogin, password, clientInfo);
    this.checkNotAborted();
    return auth;
  }

  /**
   * Step 5: the server login as the canonical account, with the client's
   * parameters and the profile's defaults (upstream/). The password is the
   * client's in direct mode, the broker's short-lived one in team mode.
   */
  private async connectUpstream(
    auth: AuthResult,
    password: string,
    request: StartupRequest,
    params: Record<string, string>,
  ): Promise<UpstreamConnection> {
    const login: UpstreamLogin = {
      user: auth.login,
      password: auth.databasePassword ?? password,
      params: upstreamParameters(params, request.database, this.host.profile),
    };
    try {
      return await this.host.connectUpstream(login, this.abort.signal);
    } catch (e) {
      this.checkNotAborted();
      throw upstreamFailure(e, this.host.profile.database);
    }
  }

  /** Step 6: the server's greeting to the client, then only bytes (relay.ts); recorded as a success. */
  private startRelay(auth: AuthResult, upstream: UpstreamConnection): void {
    this.info.login = auth.login;
    this.info.groups = auth.groups;
    this.info.cacheHit = auth.cacheHit;
    this.clearDeadline();
    const leftover = this.reader.detach();
    // Nothing of the startup phase outlives it: the reader, the abort signal
    // and its close listener go; of the leftover bytes (which may hold the
    // password message's chunk) only the count is kept.
    this.startupReader = null;
    this.socket.off('close', this.onSocketClose);
    this.abortController = null;
    const leftoverBytes = leftover.length;
    const greeting = this.greetingFor(auth, upstream);
    const greetingBytes = greeting.length;
    const client = this.client;
    // From here on: no timeout of ours, TCP keepalive only.
    this.socket.setTimeout(0);
    client.write(greeting);
    const unregister = upstream.backendKey ? this.host.registerBackend(upstream.backendKey.pid, upstream.backendKey.key) : () => undefined;
    this.record('success', null);
    this.relayHandle = relay(client, upstream.socket, { keepUpstreamOnTerminate: this.host.releaseUpstream !== undefined, pending: leftover });
    const release = this.host.releaseUpstream;
    void this.relayHandle.done.then((r) => {
      unregister();
      if (r.upstreamKept) release?.(upstream);
      this.info.bytesFromClient = r.bytesFromClient + leftoverBytes;
      this.info.bytesToClient = r.bytesToClient + greetingBytes;
      this.finish();
    });
  }

  /**
   * The server's greeting as this client gets it: with a WARNING notice after
   * AuthenticationOk when the user's directory password expires soon (psql
   * prints it; drivers hand it to their notice handlers), noted for the
   * recorder so the hosts can tell the user too.
   */
  private greetingFor(auth: AuthResult, upstream: UpstreamConnection): Buffer {
    const warning = passwordWarningFor(this.host.profile, auth.login, auth.passwordExpiresAt);
    if (warning === null) return upstream.greeting;
    this.info.passwordWarning = warning;
    return greetingWith(upstream.greeting, noticeResponse({ severity: 'WARNING', sqlstate: SqlState.warning, message: warning.message, hint: warning.hint }));
  }

  /** Step 7: the outcome, once (session-recorder.ts through the host). */
  private record(outcome: SessionOutcome, error: ClientError | null): void {
    if (this.outcomeRecorded) return;
    this.outcomeRecorded = true;
    this.host.recorded(this.info, outcome, error);
  }

  /** Any failure as what the client is told: a protocol close (maybe silent), a ClientError, or an internal error. */
  private clientErrorFor(e: unknown): ClientError | null {
    if (e instanceof ProtocolClose) {
      this.host.logger.debug({ session: this.info.id, error: e.message }, 'protocol violation');
      return e.clientError;
    }
    if (e instanceof ClientError) return e;
    this.host.logger.error({ session: this.info.id, error: describe(e) }, 'session failed');
    return new ClientError({
      sqlstate: SqlState.internalError,
      message: 'Rolecall hit an internal error',
      hint: 'Retry; if it persists, send Rolecall\'s log to your team.',
    });
  }

  /** The one way out for a failure: record it (once the client named a login), send the ErrorResponse, close. */
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

  /**
   * A client that cannot read our answer (it speaks TLS we never offered):
   * the log and a history row say why, and the socket just closes.
   */
  private closeUnanswerable(error: ClientError): void {
    this.startupReader?.detach();
    this.host.logger.warn({ session: this.info.id, client: this.info.clientAddress, sqlstate: error.sqlstate }, error.message);
    this.record(failureOutcome(error), error);
    this.finish();
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

  private checkNotAborted(): void {
    if (this.abort.signal.aborted) throw new ProtocolClose(null);
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
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

function isInvalidPassword(e: unknown): boolean {
  return e instanceof ClientError && e.sqlstate === SqlState.invalidPassword;
}
