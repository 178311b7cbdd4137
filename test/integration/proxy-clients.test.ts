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

const CLIENTS = path.join(import.meta.dirname, 'clients');

/** One scenario of a Python client probe (clients/*.py): the JSON line it printed. */
async function probe<T = Record<string, unknown>>(script: 'asyncpg' | 'psycopg', scenario: string, user: string, password: string): Promise<T> {
  const r = await client('/usr/bin/python3', [path.join(CLIENTS, `${script}_probe.py`), scenario, String(env.port), user, password]);
  expect(r.code, r.out).toBe(0);
  return JSON.parse(r.out.trim().split('\n').pop() ?? '') as T;
}

/** What the proxy did with kept server connections during `during`. */
async function poolWork<T>(during: () => Promise<T>): Promise<{ result: T; released: number; reused: number; resetFailed: number }> {
  const counters = () => ({ ...env.service.get('app')!.pool.counters });
  const before = counters();
  const result = await during();
  const after = counters();
  return { result, released: after.released - before.released, reused: after.reused - before.reused, resetFailed: after.resetFailed - before.resetFailed };
}

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

  describe('asyncpg (SQLAlchemy\'s async engine)', () => {
    it('logs in and is refused with the right SQLSTATEs', async () => {
      expect(await probe('asyncpg', 'login', 'alice', USERS.alice)).toEqual({ user: 'alice', employees: 2 });
      const wrong = await probe<{ sqlstate: string; message: string }>('asyncpg', 'denied', 'alice', 'wrong-password');
      expect(wrong.sqlstate).toBe('28P01');
      expect(wrong.message).toMatch(/^password authentication failed for user "alice"/);
      const bob = await probe<{ sqlstate: string; message: string }>('asyncpg', 'denied', 'bob', USERS.bob);
      expect(bob.sqlstate).toBe('28000');
      expect(bob.message).toMatch(/not in any directory group/);
    });

    it('runs prepared statements, COPY both ways and a cancel (its query timeout)', async () => {
      expect(await probe('asyncpg', 'prepared', 'alice', USERS.alice)).toEqual({ doubled: [0, 2, 4], total: 1225, again: 42, who: 'alice' });
      expect(await probe('asyncpg', 'copy', 'alice', USERS.alice)).toEqual({ copy_in: 'COPY 1000', count: 1000, out_lines: 1000, last: '999,n999' });
      expect(await probe('asyncpg', 'cancel', 'alice', USERS.alice)).toEqual({ timed_out: true, after: 1, same_backend: true });
    });

    it('closes at once: close() waits for the proxy to drop it, which it does at the Terminate, keeping the server connection for the next client', async () => {
      // Had the proxy waited for an EOF that asyncpg never sends, the Terminate would have reached the server when the wait ran out: not kept, another backend next time.
      const work = await poolWork(() => probe<{ pid_before: number; pid_after: number; close_ms: number }>('asyncpg', 'close', 'alice', USERS.alice));
      expect(work.result.pid_after).toBe(work.result.pid_before);
      expect(work).toMatchObject({ released: 2, reused: 1, resetFailed: 0 });
      console.info(`asyncpg Connection.close() through the proxy: ${work.result.close_ms} ms`);
    });

    it('closes a whole pool at once, and the next pool gets the same backends', async () => {
      const work = await poolWork(() => probe<{ pids_before: number[]; pids_after: number[]; close_ms: number }>('asyncpg', 'pool', 'alice', USERS.alice));
      expect(work.result.pids_after).toEqual(work.result.pids_before);
      expect(work).toMatchObject({ released: 4, reused: 2, resetFailed: 0 });
      console.info(`asyncpg Pool.close() (2 connections) through the proxy: ${work.result.close_ms} ms`);
    });
  });

  describe('psycopg 3', () => {
    it('logs in and is refused with the right messages', async () => {
      expect(await probe('psycopg', 'login', 'alice', USERS.alice)).toEqual({ user: 'alice', employees: 2 });
      const wrong = await probe<{ message: string }>('psycopg', 'denied', 'alice', 'wrong-password');
      expect(wrong.message).toMatch(/FATAL: {2}password authentication failed for user "alice"/);
      const bob = await probe<{ message: string }>('psycopg', 'denied', 'bob', USERS.bob);
      expect(bob.message).toMatch(/FATAL: {2}"bob" is not in any directory group/);
      // libpq keeps no SQLSTATE for a refused connection; the history does.
      const rows = env.history.query({ limit: 100 }).rows.filter((r) => r.applicationName === 'psycopg3-denied');
      expect(rows.map((r) => [r.login, r.outcome, r.sqlstate])).toEqual(
        expect.arrayContaining([
          ['alice', 'denied', '28P01'],
          ['bob', 'denied', '28000'],
        ]),
      );
    });

    it('runs prepared statements, a pipeline, COPY both ways and a cancel (57014)', async () => {
      const prepared = await probe<{ prepared: number }>('psycopg', 'prepared', 'alice', USERS.alice);
      expect(prepared).toMatchObject({ doubled: [0, 2, 4], total: 1225, pipeline: ['one', 42] });
      expect(prepared.prepared).toBeGreaterThan(0); // server-side statements, named by psycopg
      expect(await probe('psycopg', 'copy', 'alice', USERS.alice)).toEqual({ count: 1000, out_lines: 1000, last: '999,n999' });
      expect(await probe('psycopg', 'cancel', 'alice', USERS.alice)).toEqual({ sqlstate: '57014', after: 1, same_backend: true });
    });

    it('keeps the server connection of a clean close, never one left inside a transaction', async () => {
      const clean = await poolWork(() => probe<{ pid_before: number; pid_after: number }>('psycopg', 'close', 'alice', USERS.alice));
      expect(clean.result.pid_after).toBe(clean.result.pid_before);
      expect(clean).toMatchObject({ reused: 1, resetFailed: 0 });
      // Not autocommit: close() leaves psycopg's transaction open, so the reset refuses that connection.
      const open = await poolWork(() => probe<{ pid_before: number; pid_after: number }>('psycopg', 'close_in_transaction', 'alice', USERS.alice));
      expect(open.result.pid_after).not.toBe(open.result.pid_before);
      expect(open).toMatchObject({ reused: 0, resetFailed: 1 });
    });
  });

  // pgjdbc sends ApplicationName at startup only with assumeMinServerVersion >= 9.0 (else it SETs it later).
  it('records each client by its application_name', async () => {
    const apps = env.history.query({ login: 'alice', limit: 100 }).rows.map((r) => r.applicationName);
    expect(apps).toEqual(expect.arrayContaining(['psycopg-test', 'jdbc-test', 'asyncpg-login', 'psycopg3-login']));
  });
});
