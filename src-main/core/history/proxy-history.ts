import type { ConnectionEvent, HistorySink } from '../proxy/profile-proxy.js';
import type { SessionInfo } from '../proxy/session-recorder.js';
import type { HistoryStore } from './history-store.js';

/**
 * Connects a proxy to the history: one row when authentication finishes,
 * completed with bytes and end time when the connection closes. A history
 * failure (disk full, file locked) is reported but never breaks a connection.
 */
export function historySink(store: HistoryStore, onError: (error: unknown) => void = () => undefined): HistorySink {
  return {
    recordAttempt(event: ConnectionEvent): number | null {
      const s = event.session;
      try {
        return store.insert({
          startedAt: s.startedAt,
          endedAt: null,
          profileId: event.profileId,
          login: s.typedLogin ?? s.login ?? '',
          canonicalLogin: s.login,
          database: s.database,
          applicationName: s.applicationName,
          clientAddress: s.clientAddress,
          outcome: event.outcome,
          sqlstate: event.sqlstate,
          message: event.message,
          groups: [...s.groups],
          cacheHit: s.cacheHit,
          authLatencyMs: s.authLatencyMs,
          bytesFromClient: s.bytesFromClient,
          bytesToClient: s.bytesToClient,
        });
      } catch (e) {
        onError(e);
        return null;
      }
    },
    recordClose(rowId: number, session: SessionInfo, endedAt: number): void {
      try {
        store.update(rowId, { endedAt, bytesFromClient: session.bytesFromClient, bytesToClient: session.bytesToClient });
      } catch (e) {
        onError(e);
      }
    },
  };
}
