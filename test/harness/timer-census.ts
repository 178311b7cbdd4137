import { createHook } from 'node:async_hooks';

/** One pending timer created by code under a watched path. */
export interface PendingTimer {
  /** How long until it fires (one-shot) or how often it fires (repeating), in ms. */
  periodMs: number;
  repeating: boolean;
  /** Where it was created, for the failure message. */
  createdAt: string;
}

interface TimeoutLike {
  _idleTimeout?: number;
  _repeat?: number | null;
  _destroyed?: boolean;
}

/**
 * Counts timers instead of timing anything: every Timeout created by code whose
 * stack passes through `watch` (e.g. "/src-main/") is tracked from creation to
 * the end of its life (async_hooks), and each run of its callback is a wake-up.
 * pending() says which are armed right now and how often they would fire.
 */
export class TimerCensus {
  private readonly live = new Map<number, { timer: TimeoutLike; createdAt: string }>();
  private readonly hook;
  wakeups = 0;

  constructor(watch: string) {
    this.hook = createHook({
      init: (id, type, _trigger, resource) => {
        if (type !== 'Timeout') return;
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 40;
        const stack = new Error().stack ?? '';
        Error.stackTraceLimit = limit;
        const frames = stack.split('\n').filter((l) => l.includes(watch));
        if (frames.length > 0) this.live.set(id, { timer: resource as TimeoutLike, createdAt: frames.slice(0, 3).join(' <- ').trim() });
      },
      before: (id) => {
        if (this.live.has(id)) this.wakeups++;
      },
      destroy: (id) => {
        this.live.delete(id);
      },
    });
  }

  start(): this {
    this.hook.enable();
    return this;
  }

  stop(): void {
    this.hook.disable();
  }

  pending(): PendingTimer[] {
    const out: PendingTimer[] = [];
    for (const { timer, createdAt } of this.live.values()) {
      if (timer._destroyed || (timer._idleTimeout ?? -1) < 0) continue;
      const repeating = typeof timer._repeat === 'number';
      out.push({ periodMs: repeating ? (timer._repeat as number) : (timer._idleTimeout as number), repeating, createdAt });
    }
    return out;
  }
}
