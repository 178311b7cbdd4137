/**
 * Lets at most one message per key through per interval, and at most
 * `maxPerWindow` in total per window, so an IDE retrying a denied login
 * twenty times a minute produces one notification, not twenty. What was held
 * back is counted and reported with the next one that passes.
 */
export interface RateLimitOptions {
  perKeyIntervalMs: number;
  maxPerWindow: number;
  windowMs: number;
  now?: () => number;
}

export class RateLimiter {
  private readonly lastShown = new Map<string, number>();
  private readonly held = new Map<string, number>();
  private recent: number[] = [];
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? Date.now;
  }

  /** null when held back; otherwise how many of this key were held back since the last one shown. */
  take(key: string): { heldBack: number } | null {
    const t = this.now();
    this.recent = this.recent.filter((at) => t - at < this.options.windowMs);
    const last = this.lastShown.get(key);
    const tooSoon = last !== undefined && t - last < this.options.perKeyIntervalMs;
    if (tooSoon || this.recent.length >= this.options.maxPerWindow) {
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
      return null;
    }
    this.lastShown.set(key, t);
    this.recent.push(t);
    const heldBack = this.held.get(key) ?? 0;
    this.held.delete(key);
    // Forget keys idle for a long time so a long-running app does not grow without bound.
    if (this.lastShown.size > 1000) {
      for (const [k, at] of this.lastShown) if (t - at >= this.options.perKeyIntervalMs) this.lastShown.delete(k);
    }
    return { heldBack };
  }
}
