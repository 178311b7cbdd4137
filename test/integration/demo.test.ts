import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';
import { run } from '../harness/run.js';

// `npm run demo` as a user runs it: the real CLI, embedded PostgreSQL 18, the
// built-in demo directory, and psql against the printed port; in the team
// shape (the default) with the broker between them, and with --direct without.
describe.each([
  ['team', []],
  ['direct', ['--direct']],
] as const)('npm run demo (%s shape)', (shape, flags) => {
  let demo: ChildProcessWithoutNullStreams;
  let port: number;
  const events: Record<string, unknown>[] = [];

  beforeAll(async () => {
    port = await freePort();
    demo = spawn(process.execPath, ['bin/rolecall.mjs', 'demo', '--json', '--port', String(port), ...flags], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    demo.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: demo.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo not ready in 90 s: ${stderr}`)), 90_000);
      demo.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${stderr}`)));
      lines.on('line', (line) => {
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        if (e.event === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }, 120_000);

  afterAll(async () => {
    if (demo && demo.exitCode === null) {
      const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
      demo.kill('SIGINT');
      await exited;
    }
  });

  async function psql(user: string, password: string, sql: string): Promise<{ code: number; out: string }> {
    const r = await run('psql', ['-X', '-At', '-c', sql, `host=127.0.0.1 port=${port} dbname=hr user=${user}`], {
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' },
    });
    return { code: r.code, out: r.stdout + r.stderr };
  }

  it('prints one ready line with host, port, its shape and the address of the app\'s pages', () => {
    expect(events[0]).toMatchObject({ event: 'ready', host: '127.0.0.1', port, shape, ui: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/) });
    if (shape === 'team') expect(events[0]?.broker).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    else expect(events[0]).not.toHaveProperty('broker');
  });

  it('serves the app\'s pages from the same handlers, with this run\'s token only, on 127.0.0.1 only', async () => {
    const ui = new URL(String(events[0]?.ui));
    const token = ui.searchParams.get('token')!;
    for (const p of ['/', '/index.html', '/favicon.svg']) expect((await fetch(`${ui.origin}${p}`)).status, p).toBe(401);
    expect((await fetch(`${ui.origin}/?token=not-this-run`, { redirect: 'manual' })).status).toBe(401);
    const first = await fetch(ui, { redirect: 'manual' });
    expect(first.status).toBe(303);
    const cookie = first.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/; HttpOnly; SameSite=Strict; Path=\/$/);
    const page = await fetch(`${ui.origin}/`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain(`<meta name="rolecall-bridge-token" content="${token}">`);
    // The handlers behind it run the demo's proxy.
    const invoke = (headers: Record<string, string>) =>
      fetch(`${ui.origin}/api/invoke`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ channel: 'proxies.status', request: {} }) });
    expect((await invoke({})).status).toBe(401);
    const status = (await (await invoke({ 'x-rolecall-token': token })).json()) as { ok: boolean; value: { profileId: string; state: string; port: number; mode: string }[] };
    expect(status).toMatchObject({ ok: true, value: [{ profileId: 'demo', state: 'running', port, mode: shape === 'team' ? 'broker' : 'direct' }] });
    await expect(fetch(`http://127.0.0.2:${ui.port}/`)).rejects.toThrow();
  });

  it('lets alice in with both demo roles, the nested one included', async () => {
    const r = await psql('alice', 'alice-pass', "select current_user, pg_has_role('heimdall-hr-data','member'), pg_has_role('heimdall-readonly','member'), count(*) from hr.employees");
    expect(r).toEqual({ code: 0, out: 'alice|t|t|4\n' });
  });

  it.each([
    ['bob', 'bob-pass', /FATAL: {2}"bob" is not in any directory group this database accepts/],
    ['carol', 'carol-pass', /FATAL: {2}your directory account is locked/],
    ['postgres', 'postgres-pass', /FATAL: {2}Rolecall refuses to log in as "postgres"/],
    ['alice', 'wrong-pass', /FATAL: {2}password authentication failed for user "alice"/],
  ])('denies %s with a message that says why', async (user, password, why) => {
    const r = await psql(user, password, 'select 1');
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(why);
  });

  it('reports each outcome with its SQLSTATE', () => {
    const outcomes = events.filter((e) => e.event === 'connection').map((e) => [e.login, e.outcome, e.sqlstate ?? null]);
    expect(outcomes).toEqual([
      ['alice', 'success', null],
      ['bob', 'denied', '28000'],
      ['carol', 'denied', '28000'],
      ['postgres', 'denied', '28000'],
      ['alice', 'denied', '28P01'],
    ]);
  });

  it('stops cleanly on Ctrl-C', async () => {
    const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
