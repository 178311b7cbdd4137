import type { DirectoryCounters } from './connection.js';
import type { DiscoveryReport } from './discovery.js';
import type { DirectoryServerStatus } from './server-health.js';

/**
 * What a directory client found and how its servers answered, for the
 * profile editor, `rolecall doctor` and the Status page to display as is.
 */
export interface DirectoryReport {
  /** DNS discovery, when the profile names a domain. */
  discovery?: DiscoveryReport;
  /** Every known server, in the order the next sign-in tries them. */
  servers: DirectoryServerStatus[];
  /** Bound service-account connections open now, and the most there will be. */
  serviceConnections: { open: number; size: number };
  counters: DirectoryCounters;
}

export type { DirectoryCounters, DiscoveryReport, DirectoryServerStatus };
