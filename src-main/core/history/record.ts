/** One client connection as the history keeps it. There is deliberately no field for a password. */
export const outcomes = ['success', 'denied', 'error', 'aborted'] as const;
export type Outcome = (typeof outcomes)[number];

export interface ConnectionRecord {
  id?: number;
  /** ms since the epoch */
  startedAt: number;
  endedAt: number | null;
  profileId: string;
  /** The login as the client typed it, even when it matched no account. */
  login: string;
  /** The directory's name for the account, once known. */
  canonicalLogin: string | null;
  database: string | null;
  applicationName: string | null;
  clientAddress: string | null;
  outcome: Outcome;
  sqlstate: string | null;
  message: string | null;
  groups: string[];
  cacheHit: boolean;
  authLatencyMs: number | null;
  bytesFromClient: number;
  bytesToClient: number;
}

export interface HistoryQuery {
  profileId?: string;
  /** Matches the typed or the canonical login, ignoring case. */
  login?: string;
  outcome?: Outcome;
  /** Inclusive, ms since the epoch. */
  since?: number;
  /** Exclusive, ms since the epoch. */
  until?: number;
  /** 1..10000, default 100. */
  limit?: number;
  offset?: number;
  order?: 'newest' | 'oldest';
}

export interface SummaryBucket {
  bucketStart: number;
  success: number;
  denied: number;
  error: number;
  aborted: number;
}

export function isOutcome(s: string): s is Outcome {
  return (outcomes as readonly string[]).includes(s);
}
