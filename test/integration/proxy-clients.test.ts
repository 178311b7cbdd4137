import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { tempDir } from '../harness/ports.js';
import { run } from '../harness/run.js';

// Real client libraries through the proxy: each must log in (cleartext password
// request, SSLRequest answered N) and see the directory login as current_user.
let env: RolecallEnv;
let dir: string;

beforeAll(async () => {
  env = await startRolecallEnv({ pgVersion: 18 });
  dir = tempDir('clients');
});
afterAll(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A client program with a private HOME; stdout and stderr together, as a user would read them. */
async function client(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await run(cmd, args, { env: { PATH: process.env.PATH ?? '', HOME: dir } });
  return { code: r.code, out: r.stdout + r.stderr };
}

const PY = `
import sys, psycopg2
try:
    c = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user=sys.argv[2], password=sys.argv[3], dbname="app", application_name="psycopg-test")
except psycopg2.OperationalError as e:
    print("ERROR", e.pgcode if hasattr(e, "pgcode") else "", str(e).strip().splitlines()[0])
    sys.exit(1)
cur = c.cursor()
cur.execute("select current_user, count(*) from hr.employees")
print("OK", *cur.fetchone())
`;

const JAVA = `
import java.sql.*;
public class Probe {
  public static void main(String[] a) throws Exception {
    try (Connection c = DriverManager.getConnection(a[0], a[1], a[2]);
         ResultSet r = c.createStatement().executeQuery("select current_user, count(*) from hr.employees")) {
      r.next();
      System.out.println("OK " + r.getString(1) + " " + r.getInt(2));
    } catch (SQLException e) {
      System.out.println("ERROR " + e.getSQLState() + " " + e.getMessage());
      System.exit(1);
    }
  }
}
`;

describe('client compatibility through the proxy', () => {
  it('psycopg2 (libpq) logs in and is refused with the right message', async () => {
    writeFileSync(path.join(dir, 'probe.py'), PY);
    const ok = await client('/usr/bin/python3', [path.join(dir, 'probe.py'), String(env.port), 'alice', USERS.alice]);
    expect(ok.out.trim()).toBe('OK alice 2');
    const denied = await client('/usr/bin/python3', [path.join(dir, 'probe.py'), String(env.port), 'bob', USERS.bob]);
    expect(denied.code).toBe(1);
    expect(denied.out).toMatch(/not in any directory group/);
  });

  it('JDBC (pgjdbc, sslmode=prefer) logs in and reports SQLSTATE 28P01 for a wrong password', async () => {
    writeFileSync(path.join(dir, 'Probe.java'), JAVA);
    const url = `jdbc:postgresql://127.0.0.1:${env.port}/app?sslmode=prefer&ApplicationName=jdbc-test&assumeMinServerVersion=12`;
    const cp = '/usr/share/java/postgresql.jar';
    const ok = await client('java', ['-cp', cp, path.join(dir, 'Probe.java'), url, 'alice', USERS.alice]);
    expect(ok.out.trim()).toBe('OK alice 2');
    const wrong = await client('java', ['-cp', cp, path.join(dir, 'Probe.java'), url, 'alice', 'wrong-password']);
    expect(wrong.out).toMatch(/^ERROR 28P01 /m);
  }, 60_000);

  // pgjdbc sends ApplicationName at startup only with assumeMinServerVersion >= 9.0 (else it SETs it later).
  it('records each client by its application_name', async () => {
    const apps = env.history.query({ login: 'alice', limit: 100 }).rows.map((r) => r.applicationName);
    expect(apps).toEqual(expect.arrayContaining(['psycopg-test', 'jdbc-test']));
  });
});
