import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { silentLogger, type Logger } from '../core/log.js';
import type { ConnectionEvent, ProxyStatus } from '../core/proxy/profile-proxy.js';
import { RENDERER_CSP_HEADER } from './renderer-csp.js';
import { channels, type Channel, type EventName, type IpcResult } from './contract.js';
import type { ProxyEventSource } from './event-source.js';
import type { HandlerMap } from './handlers/types.js';

/*
 * DEV, TEST AND DEMO ONLY. Serves the contract's handlers to the renderer
 * running in a plain browser, so browser tests drive the real engine and
 * `rolecall demo` shows the app's pages. Never imported by src-main/electron
 * (a test checks), never part of the packaged app.
 *
 * Who may use it: only 127.0.0.1 is listened on; requests must name this
 * server in Host (and Origin, when sent), which defeats DNS rebinding; every
 * request needs the per-run random token: the printed address carries it
 * (?token=), the first load trades it for an HttpOnly, SameSite=Strict cookie
 * that the page's files are then served with, and /api needs it as a header
 * (from a meta tag in the served index.html, which a page elsewhere cannot
 * read), so no other page or program on this machine can load or drive it.
 */

export interface WebBridgeOptions {
  handlers: HandlerMap;
  /** Where contract events come from (the ProxyService). */
  events: ProxyEventSource;
  /** The built renderer (dist/renderer); without it only /api is served. */
  staticDir?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default: 32 random bytes. */
  token?: string;
  logger?: Logger;
}

export interface WebBridge {
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** The address to open: url with ?token=, which the first load turns into a cookie. */
  openUrl: string;
  port: number;
  /** Required on /api as the X-Rolecall-Token header (or ?token= for the event stream). */
  token: string;
  close(): Promise<void>;
}

export const TOKEN_HEADER = 'x-rolecall-token';
export const TOKEN_META = 'rolecall-bridge-token';
/** The cookie is per port: cookies do not tell ports apart, and two bridges may run side by side. */
export function tokenCookieName(port: number): string {
  return `rolecall_bridge_${port}`;
}
const MAX_BODY = 6 * 1024 * 1024;
const NO_TOKEN = 'This Rolecall page needs its token: open the address Rolecall printed (…/?token=…); it is new at every run.';
const HEARTBEAT_MS = 15_000;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.map': 'application/json; charset=utf-8',
};

const knownChannels: ReadonlySet<string> = new Set(channels);

export async function startWebBridge(options: WebBridgeOptions): Promise<WebBridge> {
  const logger = options.logger ?? silentLogger;
  const token = options.token ?? randomBytes(32).toString('base64url');
  const tokenBytes = Buffer.from(token);
  const streams = new Set<http.ServerResponse>();
  let port = 0;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      logger.error({ error: e instanceof Error ? e.message : String(e) }, 'web bridge request failed');
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: { code: 'failed', message: 'the web bridge failed; see its log' } });
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!sameOrigin(req, port)) return sendText(res, 403, 'forbidden: this server only answers http://127.0.0.1 and http://localhost on its own port');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const cookie = cookieValue(req, tokenCookieName(port));
    if (url.pathname.startsWith('/api/')) {
      // /api/invoke needs the header: a cookie alone would let a form post ride on it.
      const given = url.pathname === '/api/events' ? (url.searchParams.get('token') ?? cookie) : headerValue(req, TOKEN_HEADER);
      if (!tokenMatches(given, tokenBytes)) return sendJson(res, 401, refused('missing or wrong bridge token'));
      if (url.pathname === '/api/invoke' && req.method === 'POST') return invoke(req, res);
      if (url.pathname === '/api/events' && req.method === 'GET') return openEventStream(req, res);
      return sendJson(res, 404, { ok: false, error: { code: 'not-found', message: `no such endpoint ${req.method} ${url.pathname}` } });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed');
    const fromUrl = url.searchParams.get('token');
    if (fromUrl !== null) {
      if (!tokenMatches(fromUrl, tokenBytes)) return sendText(res, 401, NO_TOKEN);
      // The printed address's token becomes a cookie, and leaves the address bar (and the history).
      url.searchParams.delete('token');
      res.writeHead(303, {
        ...securityHeaders(),
        'set-cookie': `${tokenCookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        // One leading slash only: "//host" would send the browser elsewhere.
        location: `/${url.pathname.replace(/^\/+/, '')}${url.search}`,
        'cache-control': 'no-store',
      });
      return void res.end();
    }
    if (!tokenMatches(cookie, tokenBytes)) return sendText(res, 401, NO_TOKEN);
    return serveStatic(url.pathname, req, res);
  }

  async function invoke(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // JSON only: a plain HTML form cannot send this content type.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return sendJson(res, 415, refused('send the request as application/json'));
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (e) {
      return sendJson(res, 400, { ok: false, error: { code: 'invalid', message: `bad request body: ${(e as Error).message}` } });
    }
    const { channel, request } = (body ?? {}) as { channel?: unknown; request?: unknown };
    if (typeof channel !== 'string' || !knownChannels.has(channel)) {
      return sendJson(res, 404, { ok: false, error: { code: 'not-found', message: `unknown Rolecall channel "${String(channel)}"` } });
    }
    let result: IpcResult<unknown>;
    try {
      result = await options.handlers[channel as Channel](request);
    } catch (e) {
      // Handlers do not throw; if one does, it is still an answer, not a dropped connection.
      result = { ok: false, error: { code: 'failed', message: e instanceof Error ? e.message : String(e) } };
    }
    sendJson(res, 200, result);
  }

  function openEventStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    res.write(': connected\n\n');
    streams.add(res);
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    req.on('close', () => {
      clearInterval(heartbeat);
      streams.delete(res);
    });
  }

  function broadcast(event: EventName, payload: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
    for (const res of streams) res.write(frame);
  }
  const onStatus = (s: ProxyStatus) => broadcast('proxies.status', s);
  const onConnection = (e: ConnectionEvent) => broadcast('proxies.connection', e);
  options.events.on('status', onStatus);
  options.events.on('connection', onConnection);

  async function serveStatic(pathname: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!options.staticDir) return sendText(res, 404, 'no renderer build is served here');
    const root = path.resolve(options.staticDir);
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return sendText(res, 400, 'bad path');
    }
    if (rel.includes('\0')) return sendText(res, 400, 'bad path');
    const file = path.resolve(root, `.${rel === '/' ? '/index.html' : rel}`);
    if (file !== root && !file.startsWith(`${root}${path.sep}`)) return sendText(res, 404, 'not found');
    let data: Buffer;
    try {
      data = await fs.readFile(file);
    } catch {
      return sendText(res, 404, 'not found');
    }
    const ext = path.extname(file).toLowerCase();
    const isIndex = ext === '.html';
    const body = isIndex ? Buffer.from(withToken(data.toString('utf8'), token)) : data;
    res.writeHead(200, {
      ...securityHeaders(),
      'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': isIndex ? 'no-store' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  logger.info({ url: `http://127.0.0.1:${port}/` }, 'web bridge listening (dev/test only)');

  return {
    url: `http://127.0.0.1:${port}/`,
    openUrl: `http://127.0.0.1:${port}/?token=${encodeURIComponent(token)}`,
    port,
    token,
    async close() {
      options.events.off('status', onStatus);
      options.events.off('connection', onConnection);
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Host must be this server by IP or localhost (DNS rebinding); Origin, when sent, the same. */
function sameOrigin(req: http.IncomingMessage, port: number): boolean {
  const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  const host = (req.headers.host ?? '').toLowerCase();
  if (!allowedHosts.includes(host)) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return allowedHosts.some((h) => origin.toLowerCase() === `http://${h}`);
}

function tokenMatches(given: string | null | undefined, expected: Buffer): boolean {
  if (!given) return false;
  const bytes = Buffer.from(given);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

/** The token goes into the page as a meta tag: no inline script, so the CSP stays strict. */
export function withToken(html: string, token: string): string {
  const meta = `<meta name="${TOKEN_META}" content="${token}">`;
  return html.includes('</head>') ? html.replace('</head>', `  ${meta}\n  </head>`) : `${meta}\n${html}`;
}

function securityHeaders(): Record<string, string> {
  return {
    'content-security-policy': RENDERER_CSP_HEADER,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

function cookieValue(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function refused(message: string): IpcResult<never> {
  return { ok: false, error: { code: 'refused', message } };
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...securityHeaders(), 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...securityHeaders(), 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
