import type { Channel, EventName, Events, IpcResult, Request, Responses, RolecallBridge } from '../../src-main/ipc/contract.js';

/*
 * How the renderer reaches the main process. In Electron the preload exposes
 * `window.rolecall`; in a plain browser (dev and browser tests only) the same
 * contract is spoken over HTTP to the web bridge that served this page, with
 * the token it wrote into index.html.
 */

/** Must match src-main/ipc/web-bridge.ts. */
const TOKEN_META = 'rolecall-bridge-token';
const TOKEN_HEADER = 'X-Rolecall-Token';

let bridge: RolecallBridge | undefined;

export function getBridge(): RolecallBridge {
  if (bridge) return bridge;
  const exposed = (window as Window & { rolecall?: RolecallBridge }).rolecall;
  bridge = exposed ?? createHttpBridge(readToken());
  return bridge;
}

function readToken(): string {
  const token = document.querySelector<HTMLMetaElement>(`meta[name="${TOKEN_META}"]`)?.content;
  if (!token) throw new Error('Rolecall is not reachable: this page was opened neither in the app nor from its web bridge');
  return token;
}

/** The contract over HTTP: POST /api/invoke for calls, one shared EventSource for events. */
export function createHttpBridge(token: string, base: string = location.origin): RolecallBridge {
  let source: EventSource | null = null;

  function ensureSource(): EventSource {
    if (source) return source;
    source = new EventSource(`${base}/api/events?token=${encodeURIComponent(token)}`);
    return source;
  }

  return {
    async invoke<C extends Channel>(channel: C, request: Request<C>): Promise<IpcResult<Responses[C]>> {
      const res = await fetch(`${base}/api/invoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', [TOKEN_HEADER]: token },
        body: JSON.stringify({ channel, request }),
        credentials: 'omit',
        cache: 'no-store',
      });
      if (!res.headers.get('content-type')?.includes('application/json')) {
        throw new Error(`the web bridge answered HTTP ${res.status}`);
      }
      return (await res.json()) as IpcResult<Responses[C]>;
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      const es = ensureSource();
      const forward = (e: MessageEvent<string>) => listener(JSON.parse(e.data) as Events[E]);
      es.addEventListener(event, forward as EventListener);
      return () => {
        es.removeEventListener(event, forward as EventListener);
      };
    },
  };
}
