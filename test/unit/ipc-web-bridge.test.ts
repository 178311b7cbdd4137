import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RENDERER_CSP_HEADER } from '../../src-main/ipc/renderer-csp.js';
import { startWebBridge, tokenCookieName, type WebBridge } from '../../src-main/ipc/web-bridge.js';
import { ipcFixture, sampleProfile, type IpcFixture } from './ipc-fixture.js';

let f: IpcFixture;
let bridge: WebBridge;

beforeAll(async () => {
  f = await ipcFixture();
  const staticDir = path.join(f.dir, 'renderer');
  await fs.mkdir(path.join(staticDir, 'assets'), { recursive: true });
  await fs.writeFile(path.join(staticDir, 'index.html'), '<!doctype html><html><head><title>Rolecall</title></head><body></body></html>');
  await fs.writeFile(path.join(staticDir, 'assets', 'app.js'), 'console.log(1)');
  await fs.writeFile(path.join(f.dir, 'outside.txt'), 'outside');
  bridge = await startWebBridge({ handlers: f.handlers, events: f.ctx.service, staticDir });
});

afterAll(async () => {
  await bridge.close();
  await f.close();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raw HTTP, so tests can send the Host and Origin a hostile page would. */
function request(pathname: string, options: { method?: string; headers?: Record<string, string>; body?: string; host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: options.host ?? '127.0.0.1', port: bridge.port, path: pathname, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function invoke(channel: string, req: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return request('/api/invoke', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-rolecall-token': bridge.token, ...headers },
    body: JSON.stringify({ channel, request: req }),
  });
}

/** The cookie the printed address's token turns into. */
const withCookie = () => ({ cookie: `${tokenCookieName(bridge.port)}=${bridge.token}` });

describe('web bridge', () => {
  it('listens on 127.0.0.1 only', async () => {
    expect(bridge.url).toBe(`http://127.0.0.1:${bridge.port}/`);
    expect(bridge.openUrl).toBe(`http://127.0.0.1:${bridge.port}/?token=${bridge.token}`);
    // Another loopback address of this machine is another address: nothing listens there.
    await expect(request('/', { host: '127.0.0.2', headers: withCookie() })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('serves nothing without the token: not the page, not its files', async () => {
    for (const pathname of ['/', '/index.html', '/assets/app.js', '/favicon.svg', '/?token=wrong']) {
      const r = await request(pathname);
      expect(r.status, pathname).toBe(401);
      expect(r.body).not.toContain(bridge.token);
      expect(r.body).toContain('open the address Rolecall printed');
    }
    expect((await request('/', { method: 'HEAD' })).status).toBe(401);
    expect((await request('/assets/app.js', { headers: { cookie: `${tokenCookieName(bridge.port)}=wrong` } })).status).toBe(401);
    // A cookie for another bridge's port does not open this one.
    expect((await request('/', { headers: { cookie: `${tokenCookieName(bridge.port + 1)}=${bridge.token}` } })).status).toBe(401);
  });

  it('trades the printed token for an HttpOnly, SameSite=Strict cookie and drops it from the address', async () => {
    const r = await request(`/?token=${bridge.token}&x=1`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/?x=1');
    expect(r.headers['set-cookie']).toEqual([`${tokenCookieName(bridge.port)}=${bridge.token}; HttpOnly; SameSite=Strict; Path=/`]);
    // Never a redirect to another site.
    expect((await request(`//evil.example/?token=${bridge.token}`)).headers.location).toBe('/');
  });

  it('serves the renderer with the app CSP and the token in a meta tag', async () => {
    const page = await request('/', { headers: withCookie() });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(RENDERER_CSP_HEADER);
    expect(page.body).toContain(`<meta name="rolecall-bridge-token" content="${bridge.token}">`);
    const js = await request('/assets/app.js', { headers: withCookie() });
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.headers['content-security-policy']).toBe(RENDERER_CSP_HEADER);
  });

  it('does not serve files outside the renderer folder', async () => {
    expect((await request('/%2e%2e/outside.txt', { headers: withCookie() })).status).toBe(404);
    expect((await request('/..%2foutside.txt', { headers: withCookie() })).status).toBe(404);
  });

  it('refuses another Host (DNS rebinding) and another Origin', async () => {
    expect((await request('/', { headers: { host: `evil.example:${bridge.port}`, ...withCookie() } })).status).toBe(403);
    expect((await invoke('app.info', {}, { host: `attacker.test:${bridge.port}` })).status).toBe(403);
    expect((await invoke('app.info', {}, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await invoke('app.info', {}, { origin: `http://localhost:${bridge.port}`, host: `localhost:${bridge.port}` })).status).toBe(200);
  });

  it('requires the token and a JSON body on /api', async () => {
    expect((await invoke('app.info', {}, { 'x-rolecall-token': 'wrong' })).status).toBe(401);
    const noToken = await request('/api/invoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"channel":"app.info","request":{}}' });
    expect(noToken.status).toBe(401);
    const form = await request('/api/invoke', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-rolecall-token': bridge.token },
      body: '{"channel":"app.info","request":{}}',
    });
    expect(form.status).toBe(415);
    // The page's cookie is not enough for /api/invoke: a form posted from elsewhere would carry it.
    const cookieOnly = await request('/api/invoke', { method: 'POST', headers: { 'content-type': 'application/json', ...withCookie() }, body: '{"channel":"app.info","request":{}}' });
    expect(cookieOnly.status).toBe(401);
    expect((await request(`/api/events?token=wrong`)).status).toBe(401);
    expect((await request(`/api/events`)).status).toBe(401);
  });

  it('invokes handlers and answers their IpcResult', async () => {
    const info = await invoke('app.info', {});
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body)).toMatchObject({ ok: true, value: { configPath: f.ctx.configPath } });
    const bad = JSON.parse((await invoke('profiles.get', { id: 'NOT VALID' })).body);
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid' } });
    expect((await invoke('shell.exec', {})).status).toBe(404);
  });

  it('streams proxy events as Server-Sent Events', async () => {
    const profile = await sampleProfile();
    expect(JSON.parse((await invoke('profiles.save', { profile })).body).ok).toBe(true);
    await f.secrets.set('app', 'ldap-bind', 'x');
    await f.secrets.set('app', 'sync', 'y');

    const events: { event: string; data: { profileId: string; state: string } }[] = [];
    const stream = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: bridge.port, path: `/api/events?token=${encodeURIComponent(bridge.token)}` }, resolve).on('error', reject);
    });
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    let buffer = '';
    const running = new Promise<void>((resolve) => {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          if (event && data) {
            events.push({ event, data: JSON.parse(data) });
            if (event === 'proxies.status' && JSON.parse(data).state === 'running') resolve();
          }
        }
      });
    });
    const started = JSON.parse((await invoke('proxies.start', { id: 'app' })).body);
    expect(started).toMatchObject({ ok: true, value: { state: 'running' } });
    await running;
    expect(events.map((e) => `${e.event}:${e.data.state}`)).toEqual(['proxies.status:starting', 'proxies.status:running']);
    stream.destroy();
    await invoke('proxies.stop', { id: 'app' });
  });
});

describe('packaging boundary', () => {
  it('nothing under src-main/electron imports the web bridge', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    let hits = '';
    try {
      hits = execFileSync('grep', ['-rln', 'web-bridge', path.join(root, 'src-main', 'electron')], { encoding: 'utf8' });
    } catch (e) {
      // grep exits 1 when nothing matches: that is the pass.
      if ((e as { status?: number }).status !== 1) throw e;
    }
    expect(hits).toBe('');
  });
});
