import type { ApplyOutcome } from '../../src-main/ipc/contract.js';

/**
 * What saving did to a running proxy, in words for the save message. Saving a
 * profile and then its typed passwords can each restart the proxy; the user
 * hears about both as one outcome (see mergeOutcomes).
 */
export interface ApplyMessage {
  kind: 'ok' | 'warn' | 'bad';
  /** Follows "Saved …"; empty when there is nothing to add (the proxy is not running). */
  text: string;
  /** Clients are connected: offer "Restart now". */
  offerRestart: boolean;
}

export function applyMessage(applied: ApplyOutcome): ApplyMessage {
  switch (applied.outcome) {
    case 'not-running':
      return { kind: 'ok', text: '', offerRestart: false };
    case 'unchanged':
      return { kind: 'ok', text: 'The running proxy already uses these settings.', offerRestart: false };
    case 'restarted':
      return {
        kind: 'ok',
        text:
          applied.port === applied.previousPort
            ? `The proxy on port ${applied.port} restarted with the new settings.`
            : `The proxy restarted on port ${applied.port} (was ${applied.previousPort}) with the new settings.`,
        offerRestart: false,
      };
    case 'restart-pending': {
      const n = applied.activeConnections;
      const open = n === 1 ? '1 connection is open' : `${n} connections are open`;
      return { kind: 'warn', text: `${open} on the running proxy: it keeps the old settings until you restart it.`, offerRestart: true };
    }
    case 'restart-failed':
      return { kind: 'bad', text: `The proxy could not restart with the new settings and is stopped: ${applied.error.message}`, offerRestart: false };
  }
}

const weight: Record<ApplyOutcome['outcome'], number> = { 'not-running': 0, unchanged: 1, restarted: 2, 'restart-pending': 3, 'restart-failed': 4 };

/** Two outcomes of one save (profile, then passwords) as one: the one that matters most, with the port it started from. */
export function mergeOutcomes(first: ApplyOutcome, then: ApplyOutcome | null): ApplyOutcome {
  if (!then || weight[then.outcome] < weight[first.outcome]) return first;
  if (then.outcome === 'restarted' && first.outcome === 'restarted') return { ...then, previousPort: first.previousPort };
  return then;
}
