/**
 * Imported first by the proxy child: wraps the global setTimeout and
 * setInterval so every run of a timer callback is counted. The bench reads the
 * count over an idle minute (wake-ups), which says more than its CPU time on a
 * shared machine. Timers keep their Timeout objects (unref, refresh work).
 */
export const timerWakeups = { count: 0 };

type TimerFn = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => unknown;

function counted(original: TimerFn): TimerFn {
  return (callback, ms, ...args) =>
    original(
      (...a: unknown[]) => {
        timerWakeups.count++;
        callback(...a);
      },
      ms,
      ...args,
    );
}

const g = globalThis as unknown as { setTimeout: TimerFn; setInterval: TimerFn };
g.setTimeout = counted(g.setTimeout.bind(globalThis));
g.setInterval = counted(g.setInterval.bind(globalThis));
