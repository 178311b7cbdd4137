import { createHmac, randomBytes } from 'node:crypto';
import type { ScramKeyCache } from './scram-client.js';

interface Entry {
  login: string;
  keys: ScramKeyCache;
  expiresAt: number;
}

/**
 * SCRAM keys derived for upstream logins, per (login, password): PBKDF2 then
 * runs once per password and server salt instead of once per connection.
 * Memory only. Entries are found by an HMAC of the password under a key that
 * lives only in this process; the derived keys themselves are
 * password-equivalent for the database, so entries expire with the auth
 * cache's lifetime and are dropped when a login is forgotten or revoked.
 */
export class ScramKeyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly hmacKey = randomBytes(32);

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 256,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key cache for this login and password (a new, empty one the first time). */
  forLogin(login: string, password: string): ScramKeyCache | undefined {
    if (this.ttlMs <= 0) return undefined;
    const id = `${login}\u0000${createHmac('sha256', this.hmacKey).update(password, 'utf8').digest('base64')}`;
    const now = this.now();
    const found = this.entries.get(id);
    if (found && found.expiresAt > now) {
      // Refresh insertion order: the map doubles as an LRU list.
      this.entries.delete(id);
      this.entries.set(id, found);
      return found.keys;
    }
    if (found) this.entries.delete(id);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    const entry: Entry = { login, keys: new Map(), expiresAt: now + this.ttlMs };
    this.entries.set(id, entry);
    return entry.keys;
  }

  forgetLogin(login: string): void {
    for (const [id, e] of this.entries) if (e.login === login) this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
