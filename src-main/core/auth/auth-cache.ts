import { createHmac, randomBytes } from 'node:crypto';

interface Entry<V> {
  value: V;
  expiresAt: number;
  canonicalLogin: string;
}

/**
 * Remembers the outcome of a (login, password) check for a while. The password
 * itself is never stored: entries are keyed on an HMAC of it with a key that
 * lives only in this process, so a memory dump of the cache does not give a
 * password or anything to brute-force offline without that key.
 */
export class AuthCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly hmacKey: Buffer;

  constructor(
    private readonly now: () => number = Date.now,
    hmacKey: Buffer = randomBytes(32),
  ) {
    this.hmacKey = hmacKey;
  }

  /** The entry key for a pair: the lowercased login and an HMAC of the password. */
  identify(login: string, password: string): string {
    return this.key(login, password);
  }

  private key(login: string, password: string): string {
    const mac = createHmac('sha256', this.hmacKey).update(password, 'utf8').digest('base64');
    return `${login.toLowerCase()}\u0000${mac}`;
  }

  get(login: string, password: string): V | undefined {
    const k = this.key(login, password);
    const e = this.entries.get(k);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(k);
      return undefined;
    }
    return e.value;
  }

  set(login: string, password: string, value: V, ttlMs: number, canonicalLogin = login): void {
    if (ttlMs <= 0) return;
    this.prune();
    this.entries.set(this.key(login, password), { value, expiresAt: this.now() + ttlMs, canonicalLogin });
  }

  /** Drops every entry of a login, however it was typed. */
  forgetLogin(canonicalLogin: string): number {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.canonicalLogin === canonicalLogin) {
        this.entries.delete(k);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    if (this.entries.size < 1024) return;
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}
