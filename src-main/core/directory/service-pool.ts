import type { Logger } from '../log.js';
import { isServerFailure } from './connection.js';
import { DirectoryError } from './errors.js';
import type { Connected } from './server-set.js';

/** The timer functions the pool uses; a test passes its own to count wake-ups. */
export interface PoolTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ServicePoolOptions {
  size: number;
  idleMs: number;
  /** Opens one bound service connection on whichever server answers. */
  open(): Promise<Connected>;
  logger: Logger;
  now?: () => number;
  timers?: PoolTimers;
}

interface Slot {
  ready: Promise<Connected>;
  conn?: Connected;
  inFlight: number;
  idleSince: number;
}

/** The idle sweep never wakes the process more often than this. */
export const MIN_WAKE_MS = 60_000;

/**
 * A few connections bound as the service account, shared by every search
 * (LDAP answers several requests on one connection, so a busy pool shares
 * rather than queues). A connection the server closed is noticed before use
 * and replaced; one that breaks during a request is replaced and the request
 * run once more, so a directory restart costs no sign-in. Connections idle
 * for idleMs are closed by one timer that never fires more than once a
 * minute, and none at all once the pool is empty. The user's own bind never
 * happens here: it gets a connection of its own.
 */
export class ServicePool {
  private slots: Slot[] = [];
  private timer: unknown;
  private closed = false;
  private readonly now: () => number;
  private readonly timers: PoolTimers;

  constructor(private readonly options: ServicePoolOptions) {
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  }

  /** Open connections (or being opened), and the most there will be. */
  get stats(): { open: number; size: number } {
    return { open: this.slots.length, size: this.options.size };
  }

  async use<T>(work: (conn: Connected) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const slot = await this.acquire();
      const conn = slot.conn as Connected;
      try {
        return await work(conn);
      } catch (e) {
        // The connection itself broke (server restarted, request timed out): replace it and try once more.
        const broken = !conn.client.isBound;
        if (broken) this.discard(slot);
        if (broken && attempt === 0 && isServerFailure(e)) {
          this.options.logger.info({ server: conn.server.url, error: (e as Error).message }, 'directory service connection broke; retrying on a new one');
          continue;
        }
        throw e;
      } finally {
        this.release(slot);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const slots = this.slots;
    this.slots = [];
    await Promise.allSettled(slots.map(async (s) => (await s.ready).client.unbind()));
  }

  private async acquire(): Promise<Slot> {
    if (this.closed) throw new DirectoryError('failed', 'the directory client has been closed');
    // Connections the server closed while idle are dropped before anyone uses them.
    for (const s of this.slots) if (s.conn !== undefined && s.inFlight === 0 && !s.conn.client.isBound) this.discard(s);
    const idle = this.slots.find((s) => s.inFlight === 0);
    const slot =
      idle ??
      (this.slots.length < this.options.size ? this.openSlot() : this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a)));
    slot.inFlight++;
    try {
      await slot.ready;
    } catch (e) {
      slot.inFlight--;
      this.discard(slot);
      throw e;
    }
    return slot;
  }

  private openSlot(): Slot {
    const slot: Slot = { ready: this.options.open(), inFlight: 0, idleSince: this.now() };
    slot.ready.then(
      (conn) => {
        slot.conn = conn;
        // Closed while it was opening: nobody will use it.
        if (this.closed || !this.slots.includes(slot)) void conn.client.unbind().catch(() => undefined);
      },
      () => undefined,
    );
    this.slots.push(slot);
    return slot;
  }

  private release(slot: Slot): void {
    slot.inFlight--;
    if (slot.inFlight === 0) {
      slot.idleSince = this.now();
      this.scheduleSweep();
    }
  }

  private discard(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    void slot.ready.then((c) => c.client.unbind()).catch(() => undefined);
  }

  private scheduleSweep(): void {
    if (this.timer !== undefined || this.closed) return;
    const idle = this.slots.filter((s) => s.inFlight === 0);
    if (idle.length === 0) return;
    const due = Math.min(...idle.map((s) => s.idleSince + this.options.idleMs));
    const delay = Math.max(due - this.now(), MIN_WAKE_MS);
    this.timer = this.timers.setTimeout(() => this.sweep(), delay);
    // Never keeps a process alive just to close an idle connection.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private sweep(): void {
    this.timer = undefined;
    const t = this.now();
    for (const s of [...this.slots]) {
      if (s.inFlight === 0 && s.conn !== undefined && t - s.idleSince >= this.options.idleMs) {
        this.options.logger.debug({ server: s.conn.server.url }, 'closing idle directory service connection');
        this.discard(s);
      }
    }
    this.scheduleSweep();
  }
}
