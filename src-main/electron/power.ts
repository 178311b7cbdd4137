import type { PowerMonitor } from 'electron';
import { watchNetwork, type InterfaceTable, type NetworkSnapshot } from './network-watch.js';

/**
 * Runs `recheck` after the machine wakes up or the network changes. Triggers
 * that arrive together (resume usually brings a network change a few seconds
 * later) are coalesced: one recheck after things settle, never two at once.
 */
export interface PowerWatchOptions {
  powerMonitor: Pick<PowerMonitor, 'on' | 'off'>;
  recheck(reason: string): Promise<void>;
  /** Wait this long after the last trigger (the network needs a moment after resume). */
  settleMs?: number;
  networkPollMs?: number;
  readInterfaces?: () => InterfaceTable;
}

export function watchPowerAndNetwork(options: PowerWatchOptions): () => void {
  const settleMs = options.settleMs ?? 3000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  const reasons = new Set<string>();

  const run = () => {
    timer = null;
    if (running) {
      // One at a time: try again once the current pass is over.
      void running.then(() => schedule());
      return;
    }
    const why = [...reasons].join(', ');
    reasons.clear();
    running = options
      .recheck(why)
      .catch(() => undefined)
      .finally(() => {
        running = null;
      });
  };
  const schedule = () => {
    if (reasons.size === 0) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, settleMs);
    timer.unref();
  };
  const trigger = (reason: string) => {
    reasons.add(reason);
    schedule();
  };

  const onResume = () => trigger('resume from sleep');
  options.powerMonitor.on('resume', onResume);
  const stopNetwork = watchNetwork({
    intervalMs: options.networkPollMs ?? 10_000,
    ...(options.readInterfaces ? { read: options.readInterfaces } : {}),
    onChange: (before: NetworkSnapshot, after: NetworkSnapshot) => {
      trigger(before.online && !after.online ? 'network offline' : !before.online && after.online ? 'network online' : 'network change');
    },
  });
  return () => {
    options.powerMonitor.off('resume', onResume);
    stopNetwork();
    if (timer) clearTimeout(timer);
  };
}
