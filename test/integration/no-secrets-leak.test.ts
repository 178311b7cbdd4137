import { readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { tempDir } from '../harness/ports.js';
import { ProfileStore } from '../../src-main/core/profiles/store.js';

// Drives logins of every kind with logging at debug level and the database
// logging every statement, then scans every place Rolecall or the database
// writes for passwords and SCRAM verifiers.
let env: RolecallEnv;
let configFile: string;
let leakDir: string;

beforeAll(async () => {
  env = await startRolecallEnv({
    pgVersion: 18,
    pgSettings: { log_statement: 'all', log_connections: 'on', log_min_error_statement: 'info', log_min_messages: 'info' },
  });
  leakDir = tempDir('leak');
  configFile = path.join(leakDir, 'config.json');
  await new ProfileStore(configFile).save({ version: 1, profiles: [env.profile] });

  for (const [user, password] of Object.entries(USERS)) {
    await env.connect(user, password).then((c) => c.end(), () => undefined);
    await env.connect(user, `${password}-wrong`).then((c) => c.end(), () => undefined);
  }
  await env.psql('alice', USERS.alice, ['-c', 'select 1']);
  await env.ldap.removeMembers('heimdall-hr-data', [env.ldap.userDn('dave')]);
  const c = await env.connect('alice', USERS.alice);
  await env.service.get('app')!.revalidateNow();
  await c.end();
  await new Promise((r) => setTimeout(r, 300));
}, 180_000);

afterAll(async () => {
  await env?.stop();
  rmSync(leakDir, { recursive: true, force: true });
});

/** An actual verifier (iterations, salt, keys), not the word in install.sql's error text. */
const VERIFIER = /SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$/;

/** Every secret that must stay where it belongs. */
function secrets(): string[] {
  return [...Object.values(USERS), ...Object.values(USERS).map((p) => `${p}-wrong`), env.syncPassword, env.ldap.servicePassword];
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('no password or verifier where it does not belong', () => {
  it('keeps passwords and verifiers out of the proxy log', () => {
    const log = env.logText();
    expect(log.length).toBeGreaterThan(1000); // the scan must have read something
    for (const s of secrets()) expect(log).not.toContain(s);
    expect(log).not.toMatch(VERIFIER);
  });

  it('keeps them out of the history database (file, WAL and shared memory)', () => {
    const dir = path.dirname(env.historyFile);
    const files = filesUnder(dir).filter((f) => path.basename(f).startsWith('history.sqlite3'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f).toString('latin1');
      for (const s of secrets()) expect(bytes, f).not.toContain(s);
      expect(bytes, f).not.toMatch(VERIFIER);
    }
  });

  it('keeps them out of the profile file', () => {
    const text = readFileSync(configFile, 'utf8');
    for (const s of secrets()) expect(text).not.toContain(s);
  });

  it('keeps passwords and verifiers out of the database log, even with log_statement=all', () => {
    const log = readFileSync(env.pg.logFile, 'utf8');
    expect(log).toMatch(/statement: /); // statements were being logged
    for (const s of Object.values(USERS)) expect(log).not.toContain(s);
    // install.sql turns statement logging off for rolecall_sync, whose calls carry the verifier.
    expect(log).not.toMatch(VERIFIER);
  });
});
