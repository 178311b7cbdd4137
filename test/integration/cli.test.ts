import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { freePort, tempDir } from '../harness/ports.js';
import { run, type RunResult } from '../harness/run.js';

// The headless host as a user runs it: bin/rolecall.mjs in a child process.
let env: RolecallEnv;
let dir: string;
let configFile: string;
let port: number;

function cli(args: string[], extraEnv: Record<string, string> = {}, stdin?: string): Promise<RunResult> {
  return run(process.execPath, ['bin/rolecall.mjs', ...args], { env: { ...process.env, ...extraEnv }, ...(stdin === undefined ? {} : { stdin }) });
}

beforeAll(async () => {
  env = await startRolecallEnv({ pgVersion: 18 });
  dir = tempDir('cli');
  mkdirSync(path.join(dir, 'cfg'));
  configFile = path.join(dir, 'cfg', 'config.json');
  port = await freePort();
  const profile = { ...env.profile, id: 'cli', listen: { ...env.profile.listen, port } };
  writeFileSync(configFile, JSON.stringify({ version: 1, profiles: [profile] }, null, 2));
}, 120_000);

/** Children a failed assertion could leave running. */
const children = new Set<ChildProcessWithoutNullStreams>();

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('rolecall CLI', () => {
  it('validates a profile file and names the fields that are wrong', async () => {
    expect(await cli(['profiles', 'validate', configFile])).toMatchObject({ code: 0, stdout: expect.stringMatching(/OK, 1 profile/) });
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, profiles: [{ id: 'Bad Id', name: 'x', listen: { port: 'five' } }] }));
    const r = await cli(['profiles', 'validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/profiles\.0\.id/);
    expect(r.stderr).toMatch(/profiles\.0\.listen\.port/);
  });

  it('refuses a secret written into a profile file and points to the keychain', async () => {
    const withSecret = path.join(dir, 'secret.json');
    const profile = { ...env.profile, directory: { ...env.profile.directory, bindPassword: 'oops' } };
    writeFileSync(withSecret, JSON.stringify({ version: 1, profiles: [profile] }));
    const r = await cli(['profiles', 'validate', withSecret]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/keychain/);
    expect(r.stderr).not.toContain('oops');
  });

  it('lists profiles with their directory servers, a domain found in DNS included', async () => {
    const listed = path.join(dir, 'listed.json');
    const dns = { ...env.profile, id: 'dns', listen: { ...env.profile.listen, port: env.profile.listen.port + 1 }, directory: { ...env.profile.directory, kind: 'active-directory', url: '', domain: 'corp.example.com', urls: ['ldaps://dc9.corp.example.com:636'] } };
    writeFileSync(listed, JSON.stringify({ version: 1, profiles: [env.profile, dns] }));
    const r = await cli(['profiles', 'list', '--config', listed]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.split('\t').at(-1))).toEqual([env.profile.directory.url, 'corp.example.com (DNS), ldaps://dc9.corp.example.com:636']);
  });

  it('prints the install script', async () => {
    const r = await cli(['sql', 'install']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CREATE OR REPLACE FUNCTION rolecall\.sync_login/);
  });

  it('explains a usage error with exit code 2', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('says which secret is missing when starting without it', async () => {
    const r = await cli(['start', '--config', configFile], { ROLECALL_LDAP_BIND_PASSWORD: '', ROLECALL_SYNC_PASSWORD: '', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' });
    expect(r.stderr).toMatch(/directory service-account password of profile "cli"/);
    expect(r.stderr).toMatch(/ROLECALL_LDAP_BIND_PASSWORD/);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cli: /);
  });

  it('starts, reports status, serves psql, keeps history, and drains on SIGTERM', async () => {
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['bin/rolecall.mjs', 'start', '--config', configFile, '--json'], {
      env: { ...process.env, ROLECALL_LDAP_BIND_PASSWORD: env.ldap.servicePassword, ROLECALL_SYNC_PASSWORD: env.syncPassword, ROLECALL_LOG_LEVEL: 'warn' },
    });
    children.add(child);
    const lines = createInterface({ input: child.stdout });
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      lines.on('line', (l) => {
        const e = JSON.parse(l) as Record<string, unknown>;
        if (e.event === 'listening') resolve(e);
      });
    });
    expect(listening).toMatchObject({ profile: 'cli', port });

    const status = await cli(['status', '--config', configFile]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`cli\\s+running\\s+127\\.0\\.0\\.1:${port}`));

    // A second instance on the same port: an error that names the port, never another port.
    const clash = await cli(['start', '--config', configFile], { ROLECALL_LDAP_BIND_PASSWORD: 'x', ROLECALL_SYNC_PASSWORD: 'x' });
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));

    const psql = await run('psql', ['-X', '-At', '-c', 'select current_user', `host=127.0.0.1 port=${port} dbname=app user=alice application_name=cli-test`], {
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: USERS.alice },
    });
    const c = { code: psql.code, out: psql.stdout + psql.stderr };
    expect(c).toEqual({ code: 0, out: 'alice\n' });

    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const history = await cli(['history', '--config', configFile, '--json', '--login', 'alice']);
    expect(history.code).toBe(0);
    const rows = history.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows[0]).toMatchObject({ outcome: 'success', canonicalLogin: 'alice', applicationName: 'cli-test' });
    const csv = await cli(['history', '--config', configFile, '--csv']);
    expect(csv.stdout.split('\n')[0]).toMatch(/login/);
    expect((await cli(['status', '--config', configFile])).code).toBe(3);
  });

  it('stores a secret in the OS keychain from stdin', async () => {
    if (process.env.ROLECALL_TEST_KEYRING !== '1') throw new Error('run under test/keyring-session.sh (npm test does)');
    expect((await cli(['secrets', 'set', 'cli', 'sync'], {}, 'from-stdin\n')).code).toBe(0);
    expect(await cli(['secrets', 'has', 'cli', 'sync'])).toMatchObject({ code: 0, stdout: 'yes\n' });
    expect((await cli(['secrets', 'delete', 'cli', 'sync'])).code).toBe(0);
    expect((await cli(['secrets', 'has', 'cli', 'sync'])).code).toBe(1);
  });
});

