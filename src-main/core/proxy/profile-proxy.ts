import { EventEmitter } from 'node:events';
import net from 'node:net';
import type tls from 'node:tls';
import type { AuthCounters, Authenticator } from '../auth/authenticator.js';
import type { PasswordWarning } from '../auth/password-warning.js';
import { Revalidator, type RevalidationReport } from '../auth/revalidator.js';
import { ClientError, SqlState } from '../client-errors.js';
import { databaseEndpoint, type DatabaseEndpoint } from '../database/endpoint.js';
import type { Logger } from '../log.js';
import { isBrokerProfile, type Profile } from '../profiles/schema.js';
import { forwardCancel } from './cancel-forwarder.js';
import { CancelRegistry } from './cancel-registry.js';
import { ensureLocalCertificate, loadSecureContext } from './local-tls.js';
import { PasswordWarnings } from './password-warnings.js';
import { describePortOwner } from './port-owner.js';
import { ClientSession, type SessionHost } from './session.js';
import { SessionRecorder, type ConnectionEvent, type HistorySink, type SessionClosedEvent, type SessionTally } from './session-recorder.js';
import { connectUpstream, type UpstreamConnection, type UpstreamLogin } from './upstream/connect.js';
import { UpstreamPool } from './upstream/pool.js';
import { ScramKeyStore } from './upstream/scram-key-cache.js';

export type { ConnectionEvent, HistorySink, SessionClosedEvent } from './session-recorder.js';

/** What a ProfileProxy tells its host, typed like ProxyService's events. */
export interface ProfileProxyEvents {
  status: [ProxyStatus];
  connection: [ConnectionEvent];
  closed: [SessionClosedEvent];
}

export interface ProfileProxyDeps {
  /** Signs clients in: DirectoryAuthenticator (directory + sync) in direct mode, BrokerAuthenticator in team mode. The proxy owns it from here (closes it on stop). */
  authenticator: Authenticator;
  logger: Logger;
  history?: HistorySink;
  /** Where the generated local TLS certificate lives (when the profile enables local TLS). */
  tlsDir: string;
}

export type ProxyState = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';

export interface ActiveSession {
  id: number;
  login: string;
  database: string | null;
  applicationName: string | null;
  clientAddress: string | null;
  since: number;
  bytesFromClient: number;
  bytesToClient: number;
}

export interface ProxyStatus {
  profileId: string;
  name: string;
  /** direct: this machine checks the directory and syncs; broker: the team's broker does. */
  mode: 'direct' | 'broker';
  state: ProxyState;
  host: string;
  port: number;
  error: string | null;
  activeConnections: number;
  sessions: ActiveSession[];
  counters: AuthCounters & SessionTally;
  /** Logins that signed in here whose directory password expires soon (the Status page shows them). */
  passwordWarnings: PasswordWarning[];
}

/**
 * At most how long a login stays signed in without asking again: direct mode's
 * cache.ttlSeconds; in team mode the broker's answer decides (its password
 * window), and 10 minutes bounds what is kept for it here.
 */
function cachedLoginSeconds(profile: Profile): number {
  return isBrokerProfile(profile) ? 600 : profile.cache.ttlSeconds;
}

/** What a client whose access was revoked reads before its session closes. */
function revokedError(login: string, reason: string): ClientError {
  return new ClientError({
    sqlstate: SqlState.invalidAuthorization,
    message: `Rolecall revoked access for "${login}": ${reason}`,
    hint: 'Ask to be added back to a database access group, then connect again.',
  });
}

/** Raised when a profile's local port cannot be used. Never silently moves to another port. */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

/**
 * The proxy for one profile: a loopback listener, its sessions, cancel
 * routing, kept server connections and revalidation, around an Authenticator.
 */
export class ProfileProxy extends EventEmitter<ProfileProxyEvents> {
  readonly authenticator: Authenticator;
  /** Server connections kept between clients of the same login (profile.pool). */
  readonly pool: UpstreamPool;
  private readonly scramKeys: ScramKeyStore;
  private readonly server: net.Server;
  private readonly sessions = new Set<ClientSession>();
  private readonly cancels = new CancelRegistry<DatabaseEndpoint>();
  private readonly revalidator: Revalidator;
  private readonly target: DatabaseEndpoint;
  private readonly recorder: SessionRecorder;
  private readonly passwordWarnings: PasswordWarnings;
  private readonly host: SessionHost;
  private tlsContext: tls.SecureContext | null = null;
  private state: ProxyState = 'stopped';
  private lastError: string | null = null;
  private readonly maxAwaitingStartup: number;

  constructor(
    readonly profile: Profile,
    private readonly deps: ProfileProxyDeps,
  ) {
    super();
    this.target = databaseEndpoint(profile.database);
    this.authenticator = deps.authenticator;
    this.passwordWarnings = new PasswordWarnings(profile);
    this.recorder = new SessionRecorder(profile.id, deps.history, {
      connection: (event) => {
        if (event.outcome === 'success' && event.session.login !== null) {
          this.passwordWarnings.signedIn(event.session.login, event.session.passwordWarning);
          this.revalidator.sessionsChanged();
        }
        this.emit('connection', event);
        this.emitStatus();
      },
      closed: (event) => {
        this.emit('closed', event);
        this.emitStatus();
      },
    });
    this.revalidator = new Revalidator(profile.revalidate.intervalSeconds * 1000, {
      activeLogins: () => [...this.sessions].map((s) => s.info.login).filter((l): l is string => l !== null),
      recheck: (login) => this.recheckLogin(login),
      revoke: (login, reason) => this.revokeLogin(login, reason),
      logger: deps.logger,
    });
    // Derived SCRAM keys and kept connections live no longer than a cached login.
    const loginLifetime = cachedLoginSeconds(profile);
    this.scramKeys = new ScramKeyStore(loginLifetime * 1000);
    this.pool = new UpstreamPool(
      { ...profile.pool, maxLifetimeSeconds: Math.max(loginLifetime, 60) },
      (login, signal) =>
        connectUpstream(this.target, { ...login, scramKeyCache: this.scramKeys.forLogin(login.user, login.password) }, { signal, logger: deps.logger }),
      deps.logger,
    );
    this.host = this.createHost();
    this.server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) =>
      this.accept(socket),
    );
    // Sockets that have not sent a startup packet yet are capped on their own (oldest evicted, see accept),
    // so a flood of idle sockets cannot lock real clients out; real clients are limited at startup (53300).
    this.maxAwaitingStartup = Math.max(profile.listen.maxClients, 100);
    // A backstop only: bounded memory even if authenticating clients pile up.
    this.server.maxConnections = profile.listen.maxClients * 2 + this.maxAwaitingStartup;
  }

  async start(): Promise<void> {
    if (this.state === 'running' || this.state === 'starting') return;
    this.state = 'starting';
    this.lastError = null;
    this.emitStatus();
    try {
      const { listen } = this.profile;
      if (listen.tls.enabled) {
        const files =
          listen.tls.certFile && listen.tls.keyFile
            ? { certFile: listen.tls.certFile, keyFile: listen.tls.keyFile }
            : await ensureLocalCertificate(this.deps.tlsDir);
        this.tlsContext = loadSecureContext(files);
      }
      this.pool.reopen();
      await this.listen();
      this.revalidator.start();
      this.state = 'running';
      this.deps.logger.info({ profile: this.profile.id, host: listen.host, port: listen.port }, 'proxy listening');
    } catch (e) {
      this.state = 'error';
      this.lastError = e instanceof Error ? e.message : String(e);
      this.emitStatus();
      throw e;
    }
    this.emitStatus();
  }

  private listen(): Promise<void> {
    const { host, port } = this.profile.listen;
    return new Promise((resolve, reject) => {
      const onError = async (e: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        if (e.code === 'EADDRINUSE') {
          const owner = await describePortOwner(port);
          reject(
            new ListenError(
              `port ${port} on ${host} is already in use${owner ? ` by ${owner}` : ''}: stop that program or give profile "${this.profile.id}" another listen.port`,
              'EADDRINUSE',
            ),
          );
        } else if (e.code === 'EACCES') {
          reject(new ListenError(`not allowed to listen on ${host}:${port}: use a port above 1024`, 'EACCES'));
        } else if (e.code === 'EADDRNOTAVAIL') {
          reject(new ListenError(`cannot listen on ${host}: no such local address`, 'EADDRNOTAVAIL'));
        } else reject(new ListenError(`cannot listen on ${host}:${port}: ${e.message}`, e.code ?? 'ERROR'));
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      // exclusive: never share the port with another process's listener.
      this.server.listen({ host, port, exclusive: true });
    });
  }

  /** Stops accepting, lets sessions finish for graceMs, then closes what is left. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.emitStatus();
    this.revalidator.stop();
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sessions) s.destroy();
    this.pool.close();
    await closed;
    await this.authenticator.close().catch(() => undefined);
    this.state = 'stopped';
    this.emitStatus();
  }

  /** A listener that died (rare) is reported, never restarted on another port. */
  get address(): { host: string; port: number } {
    return { host: this.profile.listen.host, port: this.profile.listen.port };
  }

  status(): ProxyStatus {
    const sessions: ActiveSession[] = [];
    for (const s of this.sessions) {
      if (!s.relaying || s.info.login === null) continue;
      const b = s.bytes;
      sessions.push({
        id: s.info.id,
        login: s.info.login,
        database: s.info.database,
        applicationName: s.info.applicationName,
        clientAddress: s.info.clientAddress,
        since: s.info.startedAt,
        bytesFromClient: b.fromClient,
        bytesToClient: b.toClient,
      });
    }
    return {
      profileId: this.profile.id,
      name: this.profile.name,
      mode: this.profile.mode ?? 'direct',
      state: this.state,
      host: this.profile.listen.host,
      port: this.profile.listen.port,
      error: this.lastError,
      activeConnections: sessions.length,
      sessions,
      counters: { ...this.authenticator.counters, ...this.recorder.tally },
      passwordWarnings: this.passwordWarnings.current(),
    };
  }

  revalidateNow(): Promise<RevalidationReport> {
    return this.revalidator.runOnce();
  }

  /** Revokes a login in the database and closes its sessions here with a clear FATAL. */
  async revokeLogin(login: string, reason: string): Promise<void> {
    this.forgetLogin(login);
    const error = revokedError(login, reason);
    const affected = this.sessionsOf(login);
    for (const s of affected) s.prepareRevoke(error);
    await this.authenticator.revoke(login, reason);
    for (const s of affected) s.revoke(error);
  }

  /**
   * Revalidation's question for one login. When asking may already end the
   * login's access (team mode: the broker revokes, and the database ends the
   * sessions, before the answer arrives), its sessions are told beforehand
   * what to say if the server ends them, and told to forget it if access stays.
   */
  private async recheckLogin(login: string): Promise<string | null> {
    if (!this.authenticator.recheckRevokes) return this.authenticator.recheck(login);
    const affected = this.sessionsOf(login);
    for (const s of affected) s.prepareRevoke(revokedError(login, 'the team broker found it may no longer sign in'));
    let reason: string | null = null;
    try {
      reason = await this.authenticator.recheck(login);
      return reason;
    } finally {
      if (reason === null) for (const s of affected) s.prepareRevoke(null);
    }
  }

  private sessionsOf(login: string): ClientSession[] {
    return [...this.sessions].filter((s) => s.info.login === login);
  }

  /** Everything remembered about a login's password: cached checks, kept server connections, SCRAM keys. */
  private forgetLogin(login: string): void {
    this.authenticator.forget(login);
    this.pool.drainLogin(login);
    this.scramKeys.forgetLogin(login);
  }

  private accept(socket: net.Socket): void {
    this.recorder.accepted();
    this.evictIdleIfCrowded();
    const session = new ClientSession(socket, this.host);
    this.sessions.add(session);
    void session.run();
  }

  /**
   * Too many sockets that have sent nothing usable yet: close the oldest one. A
   * real client sends its startup packet within milliseconds, so only sockets
   * that sat idle longest are lost, never a client that is logging in.
   */
  private evictIdleIfCrowded(): void {
    let waiting = 0;
    let oldest: ClientSession | undefined;
    for (const s of this.sessions) {
      if (!s.awaitingStartup) continue;
      waiting++;
      oldest ??= s;
    }
    if (oldest && waiting >= this.maxAwaitingStartup) oldest.destroy();
  }

  private emitStatus(): void {
    this.emit('status', this.status());
  }

  private createHost(): SessionHost {
    // The getter below must read the proxy's current TLS context (set in start()), not a copy.
    const proxy = this;
    return {
      profile: this.profile,
      logger: this.deps.logger,
      get tlsContext() {
        return proxy.tlsContext;
      },
      authenticate: (login, password, info) => this.authenticator.authenticate(login, password, info),
      forgetLogin: (login) => this.forgetLogin(login),
      connectUpstream: (login: UpstreamLogin, signal: AbortSignal): Promise<UpstreamConnection> => this.pool.acquire(login, signal),
      ...(this.pool.enabled ? { releaseUpstream: (upstream: UpstreamConnection) => this.pool.release(upstream) } : {}),
      cancel: (packet) => {
        const target = this.cancels.find(packet);
        if (target) void forwardCancel(target, packet, { logger: this.deps.logger });
      },
      registerBackend: (pid, key) => this.cancels.add(pid, key, this.target),
      // Only clients past their startup packet count: idle sockets are capped apart (evictIdleIfCrowded).
      isFull: () => {
        let clients = 0;
        for (const s of this.sessions) if (!s.awaitingStartup) clients++;
        return clients > this.profile.listen.maxClients;
      },
      recorded: (info, outcome, error) => this.recorder.recorded(info, outcome, error),
      closed: (info) => {
        for (const s of this.sessions) if (s.info === info) this.sessions.delete(s);
        this.recorder.closed(info);
        this.revalidator.sessionsChanged();
      },
    };
  }
}
