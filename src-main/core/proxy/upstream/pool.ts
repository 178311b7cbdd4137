import { createHmac, randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../../log.js';
import type { UpstreamConnection, UpstreamLogin } from './connection.js';
import { resetUpstream } from './reset.js';
import { TERMINATE } from '../wire.js';

export interface UpstreamPoolSettings {
  /** How long a reset connection waits for the next client of the same key; 0 turns reuse off. */
  idleSeconds: number;
  maxIdlePerKey: number;
  /** Sent before reuse, like PgBouncer's server_reset_query. */
  resetQuery: string;
  /** A reset that takes longer (e.g. the old client left a long query running) closes the connection. */
  resetTimeoutMs?: number;
  /** Idle connections over all keys. */
  maxIdleTotal?: number;
  /**
   * A connection is not reused once this old (PgBouncer's server_lifetime): a
   * password changed or expired on the server then takes effect. 0 = no limit.
   */
  maxLifetimeSeconds?: number;
}

/** Counts work, not time: the perf guard and the bench read these. */
export interface UpstreamPoolCounters {
  /** Upstream connections opened (TCP + TLS + authentication + backend start). */
  opened: number;
  /** Clients served by a pooled connection instead. */
  reused: number;
  /** Connections given back after a clean Terminate. */
  released: number;
  /** Resets that failed (open transaction, error, timeout): those connections were closed. */
  resetFailed: number;
  /** Idle connections closed: idle timeout, over the limit, drained, or the server went away. */
  closed: number;
}

type Open = (login: UpstreamLogin, signal: AbortSignal) => Promise<UpstreamConnection>;

interface Pooled {
  conn: UpstreamConnection;
  openedAt: number;
}

interface Idle extends Pooled {
  key: string;
  login: string;
  timer: NodeJS.Timeout;
  onEvent: () => void;
}

interface Waiter {
  resolve: (pooled: Pooled | null) => void;
}

const noop = () => undefined;
const guarded = new WeakSet<object>();

/** One no-op error listener for the socket's whole life: a late error must never go unhandled. */
function guard(socket: UpstreamConnection['socket']): void {
  if (guarded.has(socket)) return;
  guarded.add(socket);
  socket.on('error', noop);
}

/**
 * Authenticated upstream connections kept for a short while after their client
 * left cleanly, and handed to the next client with exactly the same key:
 * login, password (as an HMAC), database and every startup parameter. A
 * connection is never shared between logins, and it is only reused after the
 * reset query ran and the server said it is idle (see upstream-reset.ts). The
 * caller authenticates every client first: reuse never skips the password check.
 */
export class UpstreamPool {
  readonly counters: UpstreamPoolCounters = { opened: 0, reused: 0, released: 0, resetFailed: 0, closed: 0 };
  private readonly idle = new Map<string, Idle[]>();
  private readonly keys = new WeakMap<UpstreamConnection, { key: string; login: string; openedAt: number }>();
  private readonly resetting = new Map<string, number>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Logins drained while some of their connections were being reset: those are closed, not pooled. */
  private readonly drained = new Map<string, number>();
  private readonly hmacKey = randomBytes(32);
  private generation = 0;
  private idleTotal = 0;
  private stopped = false;

  constructor(
    private readonly settings: UpstreamPoolSettings,
    private readonly open: Open,
    private readonly logger: Logger = silentLogger,
  ) {}

  get enabled(): boolean {
    return this.settings.idleSeconds > 0 && this.settings.maxIdlePerKey > 0;
  }

  /** Idle connections, of one login or all. */
  idleCount(login?: string): number {
    if (login === undefined) return this.idleTotal;
    let n = 0;
    for (const list of this.idle.values()) for (const e of list) if (e.login === login) n++;
    return n;
  }

  /** A pooled connection for this exact key, else a new one. Call only after the client authenticated. */
  async acquire(login: UpstreamLogin, signal: AbortSignal): Promise<UpstreamConnection> {
    const key = this.keyOf(login);
    if (this.enabled) {
      const pooled = this.takeIdle(key) ?? (await this.waitForReset(key, signal));
      if (pooled) {
        this.counters.reused++;
        this.keys.set(pooled.conn, { key, login: login.user, openedAt: pooled.openedAt });
        return pooled.conn;
      }
    }
    const conn = await this.open(login, signal);
    this.counters.opened++;
    this.keys.set(conn, { key, login: login.user, openedAt: Date.now() });
    return conn;
  }

  /**
   * The client left with a Terminate: reset the connection and keep it, or
   * close it. The connection must come from acquire() and be detached from the relay.
   */
  release(conn: UpstreamConnection): void {
    const owner = this.keys.get(conn);
    const { socket } = conn;
    const lifetime = (this.settings.maxLifetimeSeconds ?? 0) * 1000;
    const tooOld = owner !== undefined && lifetime > 0 && Date.now() - owner.openedAt >= lifetime;
    if (!owner || !this.enabled || this.stopped || tooOld || socket.destroyed) {
      this.closeConnection(conn);
      return;
    }
    this.keys.delete(conn);
    this.counters.released++;
    guard(socket);
    const { key, login, openedAt } = owner;
    const generation = this.generation;
    const drainedBefore = this.drained.get(login) ?? 0;
    this.resetting.set(key, (this.resetting.get(key) ?? 0) + 1);
    void resetUpstream(socket, this.settings.resetQuery, this.settings.resetTimeoutMs ?? 2000).then((ok) => {
      this.resetting.set(key, (this.resetting.get(key) ?? 1) - 1);
      if (this.resetting.get(key) === 0) this.resetting.delete(key);
      const stale = this.stopped || generation !== this.generation || (this.drained.get(login) ?? 0) !== drainedBefore;
      if (!ok || stale) {
        if (!ok) this.counters.resetFailed++;
        this.logger.debug({ login, pid: conn.backendKey?.pid, stale }, 'upstream not reused');
        this.closeConnection(conn);
        this.wakeWaiter(key, null);
        return;
      }
      if (this.wakeWaiter(key, { conn, openedAt })) return;
      this.keepIdle(key, login, conn, openedAt);
    });
  }

  /** Closes every idle connection of a login (revocation, forgotten login). */
  drainLogin(login: string): void {
    this.drained.set(login, (this.drained.get(login) ?? 0) + 1);
    for (const [key, list] of this.idle) {
      for (const e of [...list]) if (e.login === login) this.drop(key, e);
    }
  }

  /** Profile stopping: closes everything idle and keeps nothing from now on, until reopen(). */
  close(): void {
    this.stopped = true;
    this.drainAll();
  }

  reopen(): void {
    this.stopped = false;
  }

  /** Closes everything idle; connections being reset are closed when their reset ends. */
  drainAll(): void {
    this.generation++;
    for (const [key, list] of this.idle) for (const e of [...list]) this.drop(key, e);
    for (const list of this.waiters.values()) for (const w of list) w.resolve(null);
    this.waiters.clear();
  }

  private keyOf(login: UpstreamLogin): string {
    const mac = createHmac('sha256', this.hmacKey).update(login.password, 'utf8').digest('base64');
    const params = Object.entries(login.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify([login.user, mac, params]);
  }

  private takeIdle(key: string): Pooled | null {
    const list = this.idle.get(key);
    // Most recently used first: its backend's caches are warm.
    const e = list?.pop();
    if (!e || !list) return null;
    if (list.length === 0) this.idle.delete(key);
    this.idleTotal--;
    this.unwatch(e);
    return { conn: e.conn, openedAt: e.openedAt };
  }

  /** No idle connection, but one of this key is being reset (a client that just left): it is ~1 round trip away. */
  private waitForReset(key: string, signal: AbortSignal): Promise<Pooled | null> {
    const pending = this.resetting.get(key) ?? 0;
    const queue = this.waiters.get(key) ?? [];
    if (pending <= queue.length) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve: (pooled) => {
          signal.removeEventListener('abort', onAbort);
          resolve(pooled);
        },
      };
      const onAbort = () => {
        const q = this.waiters.get(key);
        const i = q?.indexOf(waiter) ?? -1;
        if (q && i >= 0) q.splice(i, 1);
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
      this.waiters.set(key, queue);
    });
  }

  private wakeWaiter(key: string, pooled: Pooled | null): boolean {
    const q = this.waiters.get(key);
    const w = q?.shift();
    if (q && q.length === 0) this.waiters.delete(key);
    if (!w) return false;
    w.resolve(pooled);
    return true;
  }

  private keepIdle(key: string, login: string, conn: UpstreamConnection, openedAt: number): void {
    const list = this.idle.get(key) ?? [];
    while (list.length >= this.settings.maxIdlePerKey) {
      const oldest = list[0];
      if (!oldest) break;
      this.drop(key, oldest);
    }
    if (this.idleTotal >= (this.settings.maxIdleTotal ?? 100)) {
      const first = this.idle.entries().next();
      if (!first.done && first.value[1][0]) this.drop(first.value[0], first.value[1][0]);
    }
    const entry: Idle = {
      key,
      login,
      conn,
      openedAt,
      timer: setTimeout(() => this.drop(key, entry), this.settings.idleSeconds * 1000),
      // An idle server says something only when it is going away (shutdown, terminated): drop it.
      onEvent: () => this.drop(key, entry),
    };
    entry.timer.unref();
    conn.socket.on('data', entry.onEvent);
    conn.socket.on('close', entry.onEvent);
    conn.socket.on('end', entry.onEvent);
    conn.socket.resume();
    list.push(entry);
    this.idle.set(key, list);
    this.idleTotal++;
  }

  private unwatch(e: Idle): void {
    clearTimeout(e.timer);
    e.conn.socket.off('data', e.onEvent);
    e.conn.socket.off('close', e.onEvent);
    e.conn.socket.off('end', e.onEvent);
    e.conn.socket.pause();
  }

  private drop(key: string, e: Idle): void {
    const list = this.idle.get(key);
    const i = list?.indexOf(e) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.idle.delete(key);
    this.idleTotal--;
    this.unwatch(e);
    this.counters.closed++;
    this.closeConnection(e.conn);
  }

  private closeConnection(conn: UpstreamConnection): void {
    const { socket } = conn;
    guard(socket);
    if (socket.destroyed) return;
    socket.end(TERMINATE);
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
