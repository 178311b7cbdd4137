import type { Profile } from '../../core/profiles/schema.js';
import type { ApplyResult } from '../../core/service.js';
import type { AppContext } from '../app-context.js';
import type { ApplyOutcome } from '../contract.js';
import { toIpcError } from './error-mapping.js';

/**
 * After a profile or one of its secrets was saved: let its running proxy pick
 * the change up (ProxyService.apply) and say what happened in contract terms.
 * The save itself already succeeded, so a failed restart is an outcome, not an
 * error of the channel.
 */
export async function applySaved(ctx: AppContext, profile: Profile, channel: string): Promise<ApplyOutcome> {
  return toOutcome(await ctx.service.apply(profile), channel);
}

export function toOutcome(r: ApplyResult, channel: string): ApplyOutcome {
  switch (r.outcome) {
    case 'not-running':
    case 'unchanged':
      return { outcome: r.outcome };
    case 'restarted':
      return { outcome: 'restarted', port: r.status.port, previousPort: r.previousPort };
    case 'restart-pending':
      return { outcome: 'restart-pending', port: r.status.port, activeConnections: r.activeConnections };
    case 'restart-failed':
      return { outcome: 'restart-failed', error: toIpcError(r.error, channel) };
  }
}
