import type { DirectoryServer } from './servers.js';

/** What Rolecall knows about one server: for the editor, `rolecall doctor` and the logs. */
export interface DirectoryServerStatus {
  url: string;
  source: DirectoryServer['source'];
  /** untried: not contacted yet; up: last contact worked; down: last contact failed (tried after the others until `downUntil`). */
  state: 'untried' | 'up' | 'down';
  lastOkAt?: Date;
  lastFailureAt?: Date;
  lastError?: string;
  downUntil?: Date;
}

interface Health {
  lastOkAt?: number;
  lastFailureAt?: number;
  lastError?: string;
  downUntil?: number;
}

/** What the health memory needs of a server: its URL (directory servers, broker URLs). */
interface Addressed {
  url: string;
}

/**
 * Remembers which servers failed to connect or answer, so the next sign-in
 * goes to one that works instead of waiting on a dead one again. A dead
 * server is demoted, never dropped: when every server is dead they are all
 * still tried (the one that failed first, first), so recovery needs no restart.
 * Used for directory servers and for the team broker's URLs.
 */
export class ServerHealth {
  private readonly byUrl = new Map<string, Health>();

  constructor(
    private readonly deadForMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Servers that are not known dead keep their order and come first; dead ones follow, longest dead first. */
  order<S extends Addressed>(servers: S[]): S[] {
    const t = this.now();
    const dead = (s: S): number | undefined => {
      const until = this.byUrl.get(s.url)?.downUntil;
      return until !== undefined && until > t ? until : undefined;
    };
    const alive = servers.filter((s) => dead(s) === undefined);
    const down = servers.filter((s) => dead(s) !== undefined).sort((a, b) => (dead(a) ?? 0) - (dead(b) ?? 0));
    return [...alive, ...down];
  }

  up(server: Addressed): void {
    const h = this.entry(server);
    h.lastOkAt = this.now();
    delete h.downUntil;
  }

  down(server: Addressed, error: string): void {
    const h = this.entry(server);
    h.lastFailureAt = this.now();
    h.lastError = error;
    h.downUntil = this.now() + this.deadForMs;
  }

  status(servers: DirectoryServer[]): DirectoryServerStatus[] {
    return servers.map((s) => {
      const h = this.byUrl.get(s.url);
      const date = (ms: number | undefined): Date | undefined => (ms === undefined ? undefined : new Date(ms));
      const state: DirectoryServerStatus['state'] =
        h === undefined ? 'untried' : (h.lastFailureAt ?? -1) > (h.lastOkAt ?? -1) ? 'down' : 'up';
      const out: DirectoryServerStatus = { url: s.url, source: s.source, state };
      const fields = { lastOkAt: date(h?.lastOkAt), lastFailureAt: date(h?.lastFailureAt), downUntil: date(h?.downUntil) };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) Object.assign(out, { [k]: v });
      if (state === 'down' && h?.lastError !== undefined) out.lastError = h.lastError;
      return out;
    });
  }

  private entry(server: Addressed): Health {
    let h = this.byUrl.get(server.url);
    if (h === undefined) {
      h = {};
      this.byUrl.set(server.url, h);
    }
    return h;
  }
}
