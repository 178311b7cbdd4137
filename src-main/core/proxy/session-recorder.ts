import type { PasswordWarning } from '../auth/password-warning.js';
import type { ClientError } from '../client-errors.js';
import { SqlState } from '../client-errors.js';

/**
 * What happens when a session has an outcome and when it ends: the proxy's
 * counters, one history row (completed with bytes and end time at close), and
 * the events the hosts show. The last step of every connection, whatever its path.
 */

export type SessionOutcome = 'success' | 'denied' | 'error' | 'aborted';

/** One client connection as history and the status page see it. */
export interface SessionInfo {
  id: number;
  startedAt: number;
  clientAddress: string | null;
  typedLogin: string | null;
  login: string | null;
  database: string | null;
  applicationName: string | null;
  groups: string[];
  cacheHit: boolean;
  authLatencyMs: number | null;
  bytesFromClient: number;
  bytesToClient: number;
  /** Signed in with a directory password that expires soon: the warning the client was sent. */
  passwordWarning?: PasswordWarning;
}

/** One finished authentication, for history and live status. */
export interface ConnectionEvent {
  profileId: string;
  session: SessionInfo;
  outcome: SessionOutcome;
  sqlstate: string | null;
  message: string | null;
}

/** A session is over (its history row is complete). */
export interface SessionClosedEvent {
  profileId: string;
  session: SessionInfo;
}

export interface HistorySink {
  recordAttempt(event: ConnectionEvent): number | null;
  recordClose(rowId: number, session: SessionInfo, endedAt: number): void;
}

export interface SessionTally {
  accepted: number;
  succeeded: number;
  denied: number;
  failed: number;
}

/** A refusal the client earned (wrong password, no group, unknown database, too many clients) is 'denied'; the rest went wrong. */
export function failureOutcome(error: ClientError): 'denied' | 'error' {
  const { sqlstate } = error;
  return sqlstate.startsWith('28') || sqlstate === SqlState.invalidCatalogName || sqlstate === SqlState.tooManyConnections ? 'denied' : 'error';
}

export interface RecorderListeners {
  connection(event: ConnectionEvent): void;
  closed(event: SessionClosedEvent): void;
}

export class SessionRecorder {
  readonly tally: SessionTally = { accepted: 0, succeeded: 0, denied: 0, failed: 0 };
  /** History row of each session that has one, until it closes. */
  private readonly historyRows = new Map<number, number>();

  constructor(
    private readonly profileId: string,
    private readonly history: HistorySink | undefined,
    private readonly listeners: RecorderListeners,
  ) {}

  accepted(): void {
    this.tally.accepted++;
  }

  /** The session authenticated or was refused: count it, write its row, tell the hosts. */
  recorded(info: SessionInfo, outcome: SessionOutcome, error: ClientError | null): void {
    if (outcome === 'success') this.tally.succeeded++;
    else if (outcome === 'denied') this.tally.denied++;
    else this.tally.failed++;
    const event: ConnectionEvent = {
      profileId: this.profileId,
      session: { ...info },
      outcome,
      sqlstate: error?.sqlstate ?? null,
      message: error?.message ?? null,
    };
    const row = this.history?.recordAttempt(event);
    if (row != null) this.historyRows.set(info.id, row);
    this.listeners.connection(event);
  }

  /** The session is gone: complete its row with bytes and end time. */
  closed(info: SessionInfo): void {
    const row = this.historyRows.get(info.id);
    if (row !== undefined) {
      this.historyRows.delete(info.id);
      this.history?.recordClose(row, info, Date.now());
    }
    this.listeners.closed({ profileId: this.profileId, session: { ...info } });
  }
}
