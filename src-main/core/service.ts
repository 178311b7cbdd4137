import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from './log.js';
import { silentLogger } from './log.js';
import { isBrokerProfile, type BrokerProfile, type DirectProfile, type Profile } from './profiles/schema.js';
import type { SecretName, SecretStore } from './secrets/secret-store.js';
import { missingSecretMessage, unreadableSecretMessage } from './secrets/secret-text.js';
import { createDirectory } from './directory/index.js';
import { SyncClient } from './sync/sync-client.js';
import { syncTarget } from './sync/sync-target.js';
import type { Authenticator } from './auth/authenticator.js';
import { BrokerAuthenticator, brokerSettingsFor, type BrokerCredential, type BrokerTrouble } from './auth/broker-authenticator.js';
import { DirectoryAuthenticator, authSettingsFor, type DirectoryPort, type SyncPort } from './auth/directory-authenticator.js';
import { BrokerClient } from './broker-client/broker-client.js';
import { BrokerFailure } from './broker-client/broker-failure.js';
import { ListenError, ProfileProxy, type ConnectionEvent, type HistorySink, type ProxyStatus } from './proxy/profile-proxy.js';

export interface ServiceOptions {
  secrets: SecretStore;
  logger?: Logger;
  history?: HistorySink;
  /** Folder for the generated local TLS certificate. */
  tlsDir: string;
  /** Test seams: build the directory and sync clients differently (the demo and unit tests). */
  directoryFor?: (profile: DirectProfile, bindPassword: string) => DirectoryPort;
  syncFor?: (profile: DirectProfile, syncPassword: string) => SyncPort;
}

/** What a broker profile's proxy started with instead of a secrets digest: it reads none. */
const NO_SECRETS = 'none';

/**
 * Why a profile could not start, for hosts to act on without reading the
 * message: the port is taken, listening failed otherwise, a secret is not set
 * or cannot be read (then `secret` names it), the settings are unknown, or
 * anything else.
 */
export type StartFailure = 'port-in-use' | 'cannot-listen' | 'secret-missing' | 'secret-unreadable' | 'unknown-settings' | 'failed';

/** A profile could not start; the message says what to fix. */
export class StartError extends Error {
  readonly reason: StartFailure;
  /** The secret that is missing or unreadable. */
  readonly secret: SecretName | undefined;

  constructor(
    message: string,
    readonly profileId: string,
    options: { reason?: StartFailure; secret?: SecretName; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StartError';
    this.reason = options.reason ?? 'failed';
    this.secret = options.secret;
  }
}

/** Any failure to start a profile's proxy as a StartError (kept as it is when it already is one). */
export function asStartError(e: unknown, profileId: string): StartError {
  if (e instanceof StartError) return e;
  const reason: StartFailure = e instanceof ListenError ? (e.code === 'EADDRINUSE' ? 'port-in-use' : 'cannot-listen') : 'failed';
  return new StartError(e instanceof Error ? e.message : String(e), profileId, { reason, cause: e });
}

/**
 * A proxy's status as the service reports it: the proxy's own, plus whether
 * saved settings (or secrets) are waiting for a restart because clients were
 * connected when they were saved.
 */
export interface ServiceStatus extends ProxyStatus {
  pendingRestart: boolean;
  /** A broker profile's signed-in logins and when each one's database password expires (absent for direct profiles). */
  brokerCredentials?: BrokerCredential[];
}

/** A broker profile's sign-in failed in a way the user should be told about (unreachable, certificate, throttled). */
export interface BrokerTroubleEvent extends BrokerTrouble {
  profileId: string;
  profileName: string;
}

/** What saving a profile did to its running proxy. */
export type ApplyResult =
  | { outcome: 'not-running' }
  | { outcome: 'unchanged' }
  | { outcome: 'restarted'; status: ServiceStatus; previousPort: number }
  | { outcome: 'restart-pending'; status: ServiceStatus; activeConnections: number }
  /** The old proxy was stopped and the new settings could not start: the proxy is down, in state 'error'. */
  | { outcome: 'restart-failed'; error: StartError };

export interface ServiceEvents {
  status: [ServiceStatus];
  connection: [ConnectionEvent];
  broker: [BrokerTroubleEvent];
}

/** The settings a running proxy was started with, to tell whether a save changes anything. */
interface StartedWith {
  profile: Profile;
  /** Keyed hash of the secrets read at start: lets a changed password count as a change without keeping it. */
  secrets: string;
}

/**
 * Starts and stops one proxy per profile and fans their status and connection
 * events out to whoever hosts the engine (the CLI, the Electron main process).
 */
export class ProxyService extends EventEmitter<ServiceEvents> {
  private readonly proxies = new Map<string, ProfileProxy>();
  private readonly startedWith = new Map<string, StartedWith>();
  /** Saved settings that wait for a restart, and the settings running when they were saved. */
  private readonly pending = new Map<string, { to: Profile; from: StartedWith }>();
  /** One start/stop/restart per profile at a time, so a save cannot race a toggle. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Each running broker profile's authenticator, for the credentials its status shows. */
  private readonly brokerAuth = new Map<string, BrokerAuthenticator>();
  private readonly digestKey = randomBytes(32);
  private readonly logger: Logger;

  constructor(private readonly options: ServiceOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
  }

  start(profile: Profile): Promise<ServiceStatus> {
    return this.exclusive(profile.id, () => this.startNow(profile));
  }

  /** Stops accepting, lets sessions finish for graceMs (default 5 s), then closes what is left. */
  stop(profileId: string, graceMs?: number): Promise<void> {
    return this.exclusive(profileId, () => this.stopNow(profileId, graceMs));
  }

  async stopAll(graceMs?: number): Promise<void> {
    await Promise.all([...this.proxies.keys()].map((id) => this.stop(id, graceMs)));
  }

  /**
   * After a profile was saved: make its running proxy use the saved settings.
   * Not running, or nothing changed (profile and secrets): nothing happens.
   * Changed with no client connected: restarted at once (on the new port, if
   * it changed). Changed while clients are connected: they are not cut; the
   * status says `pendingRestart` until restart() (or a stop and start).
   */
  apply(profile: Profile, options: { graceMs?: number } = {}): Promise<ApplyResult> {
    return this.exclusive(profile.id, async (): Promise<ApplyResult> => {
      const proxy = this.proxies.get(profile.id);
      const started = this.startedWith.get(profile.id);
      if (!proxy || !started || proxy.status().state !== 'running') return { outcome: 'not-running' };
      const secrets = isBrokerProfile(profile) ? NO_SECRETS : await this.secretsDigest(profile.id);
      // Secrets that cannot be read now (locked keychain) are not taken as a change: the proxy keeps its own.
      const secretsChanged = secrets !== null && secrets !== started.secrets;
      if (isDeepStrictEqual(started.profile, profile) && !secretsChanged) {
        if (secrets !== null && this.pending.delete(profile.id)) this.emitStatus(proxy);
        return { outcome: 'unchanged' };
      }
      const active = proxy.status().activeConnections;
      if (active > 0) {
        this.pending.set(profile.id, { to: profile, from: started });
        this.logger.info({ profile: profile.id, activeConnections: active }, 'profile changed while clients are connected: restart pending');
        const status = this.decorate(proxy.status());
        this.emit('status', status);
        return { outcome: 'restart-pending', status, activeConnections: active };
      }
      return this.restartNow(proxy, profile, options.graceMs);
    });
  }

  /**
   * Stops the profile's proxy (sessions get the usual grace) and starts it
   * again with `profile`, else with the settings waiting for a restart, else
   * with the ones it runs with. A failed start throws StartError and leaves
   * the proxy stopped in state 'error'.
   */
  restart(profileId: string, profile?: Profile, graceMs?: number): Promise<ServiceStatus> {
    return this.exclusive(profileId, async () => {
      const proxy = this.proxies.get(profileId);
      const next = profile ?? this.pending.get(profileId)?.to ?? this.startedWith.get(profileId)?.profile ?? proxy?.profile;
      if (!next) throw new StartError(`profile "${profileId}" is not running and its settings are unknown`, profileId, { reason: 'unknown-settings' });
      if (!proxy) return this.startNow(next);
      const r = await this.restartNow(proxy, next, graceMs);
      if (r.outcome === 'restart-failed') throw r.error;
      return r.status;
    });
  }

  get(profileId: string): ProfileProxy | undefined {
    return this.proxies.get(profileId);
  }

  /** One proxy's status (with pendingRestart), or undefined when the service has none for it. */
  statusOf(profileId: string): ServiceStatus | undefined {
    const proxy = this.proxies.get(profileId);
    return proxy ? this.decorate(proxy.status()) : undefined;
  }

  status(): ServiceStatus[] {
    return [...this.proxies.values()].map((p) => this.decorate(p.status()));
  }

  private async startNow(profile: Profile): Promise<ServiceStatus> {
    const existing = this.proxies.get(profile.id);
    if (existing) {
      if (existing.status().state === 'running') return this.decorate(existing.status());
      this.proxies.delete(profile.id);
    }
    const { authenticator, secrets } = isBrokerProfile(profile) ? this.brokerAuthenticator(profile) : await this.directAuthenticator(profile);
    const proxy = new ProfileProxy(profile, {
      authenticator,
      logger: this.logger,
      tlsDir: this.options.tlsDir,
      ...(this.options.history ? { history: this.options.history } : {}),
    });
    proxy.on('status', (s: ProxyStatus) => this.emit('status', this.decorate(s)));
    proxy.on('connection', (e: ConnectionEvent) => this.emit('connection', e));
    this.proxies.set(profile.id, proxy);
    const started: StartedWith = { profile, secrets };
    this.startedWith.set(profile.id, started);
    // A restart with the very settings a pending change was measured against (after sleep, say) keeps it pending.
    const waiting = this.pending.get(profile.id);
    if (waiting && !(isDeepStrictEqual(waiting.from.profile, profile) && waiting.from.secrets === started.secrets)) {
      this.pending.delete(profile.id);
    }
    try {
      await proxy.start();
    } catch (e) {
      await authenticator.close();
      throw asStartError(e, profile.id);
    }
    return this.decorate(proxy.status());
  }

  /** Direct mode: the directory and the sync pool, with the profile's two secrets (a missing one stops the start). */
  private async directAuthenticator(profile: DirectProfile): Promise<{ authenticator: Authenticator; secrets: string }> {
    const bindPassword = await this.secret(profile, 'ldap-bind');
    const syncPassword = await this.secret(profile, 'sync');
    const directory = this.options.directoryFor?.(profile, bindPassword) ?? createDirectory(profile.directory, bindPassword, this.logger);
    const sync = this.options.syncFor?.(profile, syncPassword) ?? new SyncClient(syncTarget(profile.database, syncPassword), this.logger);
    const authenticator = new DirectoryAuthenticator(authSettingsFor(profile), directory, sync, this.logger);
    return { authenticator, secrets: this.digest(bindPassword, syncPassword) };
  }

  /** Team mode: the broker's client; no secret is read (there is none). */
  private brokerAuthenticator(profile: BrokerProfile): { authenticator: Authenticator; secrets: string } {
    let client: BrokerClient;
    try {
      client = new BrokerClient(profile.broker, this.logger.child({ profile: profile.id }));
    } catch (e) {
      if (e instanceof BrokerFailure) throw new StartError(e.message, profile.id, { cause: e });
      throw e;
    }
    const authenticator = new BrokerAuthenticator(brokerSettingsFor(profile), client, this.logger);
    authenticator.on('trouble', (t) => this.emit('broker', { ...t, profileId: profile.id, profileName: profile.name }));
    this.brokerAuth.set(profile.id, authenticator);
    return { authenticator, secrets: NO_SECRETS };
  }

  private async stopNow(profileId: string, graceMs?: number): Promise<void> {
    const proxy = this.proxies.get(profileId);
    if (!proxy) return;
    await proxy.stop(graceMs);
    this.proxies.delete(profileId);
    this.startedWith.delete(profileId);
    this.brokerAuth.delete(profileId);
    this.emitStatus(proxy);
  }

  private async restartNow(
    proxy: ProfileProxy,
    profile: Profile,
    graceMs?: number,
  ): Promise<Extract<ApplyResult, { outcome: 'restarted' | 'restart-failed' }>> {
    const previousPort = proxy.profile.listen.port;
    this.pending.delete(profile.id);
    await this.stopNow(profile.id, graceMs);
    try {
      const status = await this.startNow(profile);
      this.logger.info({ profile: profile.id, port: status.port, previousPort }, 'proxy restarted with the saved settings');
      return { outcome: 'restarted', status, previousPort };
    } catch (e) {
      const error = asStartError(e, profile.id);
      this.logger.warn({ profile: profile.id, error: error.message }, 'proxy could not restart with the saved settings');
      return { outcome: 'restart-failed', error };
    }
  }

  private exclusive<T>(profileId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(profileId) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.catch(() => undefined);
    this.queues.set(profileId, settled);
    void settled.then(() => {
      if (this.queues.get(profileId) === settled) this.queues.delete(profileId);
    });
    return run;
  }

  private decorate(s: ProxyStatus): ServiceStatus {
    // Pending is cleared before a restart stops the old proxy, so only the running, current one can carry it.
    const broker = this.brokerAuth.get(s.profileId);
    return {
      ...s,
      pendingRestart: s.state === 'running' && this.pending.has(s.profileId),
      ...(broker && s.state === 'running' ? { brokerCredentials: broker.credentials() } : {}),
    };
  }

  private emitStatus(proxy: ProfileProxy): void {
    this.emit('status', this.decorate(proxy.status()));
  }

  private digest(bindPassword: string, syncPassword: string): string {
    return createHmac('sha256', this.digestKey).update(bindPassword).update('\0').update(syncPassword).digest('hex');
  }

  /** The current secrets' digest, or null when they cannot be read or are missing (not a reason to restart). */
  private async secretsDigest(profileId: string): Promise<string | null> {
    try {
      const [bind, sync] = await Promise.all([this.options.secrets.get(profileId, 'ldap-bind'), this.options.secrets.get(profileId, 'sync')]);
      return bind && sync ? this.digest(bind, sync) : null;
    } catch {
      return null;
    }
  }

  private async secret(profile: DirectProfile, name: SecretName): Promise<string> {
    let value: string | null;
    try {
      value = await this.options.secrets.get(profile.id, name);
    } catch (e) {
      throw new StartError(unreadableSecretMessage(profile.id, name, e), profile.id, { reason: 'secret-unreadable', secret: name, cause: e });
    }
    if (value) return value;
    throw new StartError(missingSecretMessage(profile.id, name), profile.id, { reason: 'secret-missing', secret: name });
  }
}
