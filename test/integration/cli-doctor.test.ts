import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { freePort, tempDir } from '../harness/ports.js';
import { run, type RunResult } from '../harness/run.js';

// `rolecall doctor` as a user runs it (bin/rolecall.mjs in a child process) against real PostgreSQL 18 and slapd.
let env: RolecallEnv;
let dir: string;
let configFile: string;
let deadUrl: string;

function doctor(args: string[], secrets: Record<string, string>): Promise<RunResult> {
  return run(process.execPath, ['bin/rolecall.mjs', 'doctor', '--config', configFile, ...args], { env: { ...process.env, ...secrets } });
}

beforeAll(async () => {
  env = await startRolecallEnv({ pgVersion: 18 });
  dir = tempDir('doctor');
  mkdirSync(path.join(dir, 'cfg'));
  configFile = path.join(dir, 'cfg', 'config.json');
  const good = { ...env.profile, id: 'good', listen: { ...env.profile.listen, port: await freePort() } };
  // A base DN that does not exist, and a database without Rolecall's SQL (the server's own "postgres").
  const broken = {
    ...good,
    id: 'broken',
    listen: { ...good.listen, port: await freePort() },
    directory: { ...good.directory, baseDn: 'dc=missing,dc=test' },
    database: { ...good.database, database: 'postgres' },
  };
  // Two directory servers, the first of which nothing listens on.
  deadUrl = `ldap://127.0.0.1:${await freePort()}`;
  const twoServers = { ...good, id: 'two-servers', listen: { ...good.listen, port: await freePort() }, directory: { ...good.directory, url: deadUrl, urls: [deadUrl, env.ldap.url] } };
  writeFileSync(configFile, JSON.stringify({ version: 1, profiles: [good, broken, twoServers] }, null, 2));
}, 120_000);

afterAll(async () => {
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('rolecall doctor', () => {
  it('passes a working profile with every step named, exit 0', async () => {
    const r = await doctor(['--profile', 'good'], { ROLECALL_LDAP_BIND_PASSWORD: env.ldap.servicePassword, ROLECALL_SYNC_PASSWORD: env.syncPassword });
    expect(r.code).toBe(0);
    const steps = [...r.stdout.matchAll(/^ {4}([✓✗]) ([^:]+):/gm)].map((m) => [m[2], m[1] === '✓']);
    expect(steps).toEqual([
      ['connect', true],
      ['service bind', true],
      ['base DN', true],
      ['connect', true],
      ['tls', true],
      ['sync login', true],
      ['rolecall schema', true],
    ]);
    expect(r.stdout).toMatch(/✓ tls: encrypted .*certificate and host name verified/);
    expect(r.stdout).toMatch(/✓ rolecall schema: version 2 installed/);
    expect(r.stdout).toMatch(/All checks passed \(1 profile\(s\)\)\./);
  });

  it('exits 1 for a broken profile, naming the failed steps and what to do', async () => {
    const r = await doctor([], { ROLECALL_LDAP_BIND_PASSWORD: env.ldap.servicePassword, ROLECALL_SYNC_PASSWORD: env.syncPassword });
    expect(r.code).toBe(1);
    console.log(r.stdout);
    expect(r.stdout).toMatch(/^broken \(/m);
    expect(r.stdout).toMatch(/✓ service bind: .*\n {4}✗ base DN: base DN dc=missing,dc=test is not readable.*: check directory\.baseDn/);
    expect(r.stdout).toMatch(/✗ rolecall schema: Rolecall's SQL is not installed in postgres: print it with `rolecall sql install`/);
    expect(r.stdout).toMatch(/2 check\(s\) failed: broken: directory base DN; broken: database rolecall schema\./);
  });

  it('says which secret is missing and how to set it', async () => {
    const r = await doctor(['--profile', 'good'], { ROLECALL_GOOD_LDAP_BIND_PASSWORD: env.ldap.servicePassword, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' });
    expect(r.code).toBe(1);
    console.log(r.stdout);
    expect(r.stdout).toMatch(/✓ base DN: /);
    expect(r.stdout).toMatch(/✗ sync login: .*sync-account password of profile "good".*ROLECALL_SYNC_PASSWORD|✗ sync login: profile "good" has no sync-account password: run `rolecall secrets set good sync`/);
  });

  it('with --login also signs the user in to the directory and shows which groups count', async () => {
    const secrets = { ROLECALL_LDAP_BIND_PASSWORD: env.ldap.servicePassword, ROLECALL_SYNC_PASSWORD: env.syncPassword };
    const r = await doctor(['--profile', 'good', '--login', 'alice'], { ...secrets, ROLECALL_PASSWORD: USERS.alice });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ user bind: alice signed in as uid=alice,/);
    expect(r.stdout).toMatch(/✓ groups: \d+ group\(s\), 2 pass the group filter: heimdall-hr-data, heimdall-readonly/);
    const wrong = await doctor(['--profile', 'good', '--login', 'alice'], { ...secrets, ROLECALL_PASSWORD: 'not-it' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/✗ user bind: /);
  });

  it('shows which directory servers answered, in the order a sign-in tries them; a dead one fails no step while another answers', async () => {
    const r = await doctor(['--profile', 'two-servers'], { ROLECALL_LDAP_BIND_PASSWORD: env.ldap.servicePassword, ROLECALL_SYNC_PASSWORD: env.syncPassword });
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf(`  directory ${deadUrl}, ${env.ldap.url}`);
    expect(at, r.stdout).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 5)).toEqual([
      '    servers, in the order a sign-in tries them:',
      `      1. ${env.ldap.url} (configured) ✓ answered`,
      expect.stringMatching(new RegExp(`^ {6}2\\. ${deadUrl.replace(/[.]/g, '\\.')} \\(configured\\) ✗ failed: .*(refused|ECONNREFUSED)`)),
      `    ✓ connect: connected to ${env.ldap.url} (no encryption)`,
    ]);
  });

  it('names an unknown profile with exit code 2', async () => {
    const r = await doctor(['--profile', 'nope'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no profile "nope" .*it has: good, broken, two-servers/);
  });
});
