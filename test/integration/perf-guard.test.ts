import net from 'node:net';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type pg from 'pg';
import { Parser } from 'pg-protocol/dist/parser.js';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { waitFor } from '../harness/ports.js';
import { WireClient, pgCancelRequest, wireLogin } from '../harness/pg-wire.js';
import { TERMINATE, cstring, message } from '../../src-main/core/proxy/wire.js';
import { PacketReader } from '../../src-main/core/proxy/packet-reader.js';
import { connectUpstream } from '../../src-main/core/proxy/upstream/connect.js';
import { scramWork } from '../../src-main/core/sync/scram-verifier.js';

/**
 * Performance by design, counted rather than timed: a warm reconnect costs no
 * directory call, no sync, no PBKDF2 and no new server connection; the relay
 * parses nothing after ReadyForQuery. Plus the safety rules of reuse.
 */

let env: RolecallEnv;
const proxy = () => env.service.get('app')!;

interface Work {
  directoryCalls: number;
  syncCalls: number;
  pbkdf2Runs: number;
  opened: number;
  reused: number;
  resetFailed: number;
}

function work(): Work {
  const c = proxy().status().counters;
  const p = proxy().pool.counters;
  return { directoryCalls: c.directoryCalls, syncCalls: c.syncCalls, pbkdf2Runs: scramWork.pbkdf2Runs, opened: p.opened, reused: p.reused, resetFailed: p.resetFailed };
}

function delta(before: Work): Work {
  const now = work();
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - before[k as keyof Work]])) as unknown as Work;
}

async function one<T>(c: pg.Client, sql: string): Promise<T> {
  return (await c.query(sql)).rows[0] as T;
}

/** Ends the client with a Terminate and waits until the proxy has reset and kept its server connection. */
async function quitAndPool(c: pg.Client, login: string): Promise<void> {
  const idle = proxy().pool.idleCount(login);
  await c.end();
  await waitFor(`${login}'s connection pooled`, async () => (proxy().pool.idleCount(login) > idle ? true : undefined), 5000, 10);
}

/** A full garbage collection, so a WeakRef says whether anything still holds its object. */
async function collectGarbage(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // WeakRef targets stay alive until the current job ends.
  await new Promise((r) => setTimeout(r, 0));
  gc();
}

describe('perf guard: reconnects and the relay do no avoidable work', () => {
  beforeAll(async () => {
    env = await startRolecallEnv({ pgVersion: 15, profile: (b) => ({ ...b, pool: { idleSeconds: 30, maxIdlePerKey: 4, resetQuery: 'DISCARD ALL' } }) });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('serves a warm reconnect from the pooled server connection: no directory call, no sync, no PBKDF2, no new backend', async () => {
    const first = await env.connect('alice', USERS.alice);
    const { pid } = await one<{ pid: number }>(first, 'select pg_backend_pid() as pid');
    await quitAndPool(first, 'alice');

    const before = work();
    const again = await env.connect('alice', USERS.alice);
    expect(await one(again, 'select pg_backend_pid() as pid, current_user as who')).toEqual({ pid, who: 'alice' });
    expect(delta(before)).toEqual({ directoryCalls: 0, syncCalls: 0, pbkdf2Runs: 0, opened: 0, reused: 1, resetFailed: 0 });

    // The replayed BackendKeyData is the backend's own: cancel still reaches it.
    const { processID, secretKey } = again as unknown as { processID: number; secretKey: number };
    expect(processID).toBe(pid);
    const running = again.query('select pg_sleep(30)').then(
      () => 'finished',
      (e: Error & { code?: string }) => e.code,
    );
    await new Promise((r) => setTimeout(r, 200));
    const s = net.connect(env.port, '127.0.0.1', () => s.end(pgCancelRequest(processID, secretKey)));
    expect(await running).toBe('57014');
    await again.end();
  });

  it('opens a new server connection for other startup parameters without running PBKDF2 again', async () => {
    const warm = await env.connect('alice', USERS.alice, { application_name: 'warm-1' });
    await warm.end();
    const before = work();
    const other = await env.connect('alice', USERS.alice, { application_name: 'warm-2' });
    expect(await one(other, 'select current_setting($$application_name$$) as app')).toEqual({ app: 'warm-2' });
    await other.end();
    expect(delta(before)).toMatchObject({ directoryCalls: 0, syncCalls: 0, pbkdf2Runs: 0, opened: 1, reused: 0 });
  });

  it('parses nothing after ReadyForQuery: a session of 400 queries costs the proxy as many parser calls as one of 1', async () => {
    const parse = vi.spyOn(Parser.prototype, 'parse');
    const read = vi.spyOn(PacketReader.prototype, 'read');
    try {
      const parserCalls = async (queries: number, app: string): Promise<number> => {
        parse.mockClear();
        read.mockClear();
        const released = proxy().pool.counters.released;
        // psql in its own process: the only pg-protocol parser in this process is the proxy's.
        const r = await env.psql('alice', USERS.alice, ['-At', '-c', Array.from({ length: queries }, (_, i) => `select ${i};`).join(' ')], { PGAPPNAME: app });
        expect(r.code, r.stderr).toBe(0);
        await waitFor('session closed', async () => (proxy().pool.counters.released > released ? true : undefined), 5000, 10);
        return parse.mock.calls.length + read.mock.calls.length;
      };
      // A fresh application_name each time: both sessions open a new server connection (full startup parse).
      const small = await parserCalls(1, 'guard-small');
      const large = await parserCalls(400, 'guard-large');
      expect(small).toBeGreaterThan(0); // the spies do see the startup phase
      expect(large).toBe(small);
    } finally {
      parse.mockRestore();
      read.mockRestore();
    }
  });

  it('never gives one login\'s pooled connection to another login', async () => {
    const a = await env.connect('alice', USERS.alice, { application_name: 'shared-name' });
    const { pid } = await one<{ pid: number }>(a, 'select pg_backend_pid() as pid');
    await quitAndPool(a, 'alice');
    const before = work();
    const d = await env.connect('dave', USERS.dave, { application_name: 'shared-name' });
    const row = await one<{ pid: number; who: string }>(d, 'select pg_backend_pid() as pid, current_user as who');
    expect(row.who).toBe('dave');
    expect(row.pid).not.toBe(pid);
    expect(delta(before).reused).toBe(0);
    await quitAndPool(d, 'dave');
    // Revocation drains the login's kept connections at once.
    await proxy().revokeLogin('dave', 'perf guard');
    expect(proxy().pool.idleCount('dave')).toBe(0);
  });

  it('resets a reused connection: temp tables, settings and prepared statements of the last client are gone', async () => {
    const a = await env.connect('alice', USERS.alice, { application_name: 'reset-check' });
    const { pid } = await one<{ pid: number }>(a, 'select pg_backend_pid() as pid');
    await a.query(`create temp table leftover(x int); set work_mem = '7MB'; prepare leftover_stmt as select 1`);
    await quitAndPool(a, 'alice');
    const b = await env.connect('alice', USERS.alice, { application_name: 'reset-check' });
    const row = await one(
      b,
      `select pg_backend_pid() as pid, to_regclass('pg_temp.leftover') as temp, current_setting('work_mem') as work_mem,
              (select count(*)::int from pg_prepared_statements) as prepared, txid_current_if_assigned() as txid`,
    );
    expect(row).toEqual({ pid, temp: null, work_mem: '4MB', prepared: 0, txid: null });
    await b.end();
  });

  it('never pools a connection left inside a transaction', async () => {
    const a = await env.connect('alice', USERS.alice, { application_name: 'in-transaction' });
    const { pid } = await one<{ pid: number }>(a, 'select pg_backend_pid() as pid');
    await a.query(`begin; create temp table mid_tx(x int); insert into mid_tx values (1); select txid_current()`);
    const before = work();
    await a.end(); // Terminate while the transaction is open
    await waitFor('reset refused', async () => (delta(before).resetFailed === 1 ? true : undefined), 5000, 10);
    const b = await env.connect('alice', USERS.alice, { application_name: 'in-transaction' });
    const row = await one<{ pid: number; txid: string | null; temp: string | null }>(
      b,
      `select pg_backend_pid() as pid, txid_current_if_assigned() as txid, to_regclass('pg_temp.mid_tx') as temp`,
    );
    expect(row.pid).not.toBe(pid);
    expect(row).toMatchObject({ txid: null, temp: null });
    expect(delta(before).reused).toBe(0);
    await b.end();
  });

  it('never keeps a connection whose client left an extended-protocol batch without its Sync: its INSERT is rolled back, as PostgreSQL does', async () => {
    const c = await WireClient.connect(env.port);
    await wireLogin(c, 'alice', USERS.alice, [['database', 'app'], ['application_name', 'unsynced']]);
    const before = work();
    const released = proxy().pool.counters.released;
    const batch = Buffer.concat([
      message('P', Buffer.concat([cstring(''), cstring("insert into hr.employees values (99, 'Unsynced')"), Buffer.alloc(2)])),
      message('B', Buffer.concat([cstring(''), cstring(''), Buffer.alloc(6)])),
      message('E', Buffer.concat([cstring(''), Buffer.alloc(4)])),
    ]);
    // Terminate and EOF together, as libpq's PQfinish sends them.
    c.end(Buffer.concat([batch, TERMINATE]));
    expect(await c.closed()).toHaveLength(0);
    await waitFor('the backend gone', async () => {
      const { rows } = await env.pg.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where application_name = 'unsynced'`);
      return rows[0]!.n === 0 ? true : undefined;
    }, 5000, 20);
    const admin = await env.pg.connect({ database: 'app' });
    try {
      expect((await admin.query<{ n: number }>('select count(*)::int as n from hr.employees where id = 99')).rows[0]!.n).toBe(0);
    } finally {
      await admin.end();
    }
    // Not kept (so never reset, whose query would have committed the INSERT): the server got the Terminate.
    expect(proxy().pool.counters.released).toBe(released);
    expect(delta(before)).toMatchObject({ reused: 0, resetFailed: 0 });
  });

  it('never pools a connection whose client vanished mid-query (no Terminate)', async () => {
    const a = await env.connect('alice', USERS.alice, { application_name: 'vanished' });
    const before = work();
    const released = proxy().pool.counters.released;
    void a.query('select pg_sleep(0.3)').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    (a as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    await new Promise((r) => setTimeout(r, 600));
    expect(proxy().pool.counters.released).toBe(released);
    const b = await env.connect('alice', USERS.alice, { application_name: 'vanished' });
    expect(delta(before)).toMatchObject({ reused: 0, opened: 1 });
    await b.end();
  });

  it('keeps nothing of the startup phase for an open session: its packet reader (and the password chunk it read) can be collected', async () => {
    const readers: WeakRef<PacketReader>[] = [];
    // The memory behind the bytes the reader still held when the relay started: the chunk the password came in.
    const leftovers: WeakRef<ArrayBufferLike>[] = [];
    const { attach, detach } = PacketReader.prototype;
    PacketReader.prototype.attach = function (this: PacketReader, socket) {
      readers.push(new WeakRef(this));
      attach.call(this, socket);
    };
    PacketReader.prototype.detach = function (this: PacketReader) {
      const rest = detach.call(this);
      leftovers.push(new WeakRef(rest.buffer));
      return rest;
    };
    let c: pg.Client;
    try {
      c = await env.connect('alice', USERS.alice, { application_name: 'startup-state' });
    } finally {
      Object.assign(PacketReader.prototype, { attach, detach });
    }
    expect(await one(c, 'select 1 as one')).toEqual({ one: 1 });
    expect(readers).toHaveLength(1);
    expect(leftovers.length).toBeGreaterThan(0);
    await collectGarbage();
    expect(readers[0]!.deref()).toBeUndefined();
    expect(leftovers.filter((l) => l.deref() !== undefined)).toHaveLength(0);
    // The session itself is alive and relaying.
    expect(await one(c, 'select current_user as who')).toEqual({ who: 'alice' });
    await c.end();
  });

  it('builds no TLS context per server connection when no CA file is given (sslmode=require)', async () => {
    const warm = await env.connect('alice', USERS.alice); // alice's role and password exist in the database
    await warm.end();
    const target = { host: '127.0.0.1', port: env.pg.port, sslmode: 'require' as const, connectTimeoutMs: 5000 };
    const login = { user: 'alice', password: USERS.alice, params: { database: 'app' } };
    const created = vi.spyOn(tls, 'createSecureContext');
    try {
      const conns = [];
      for (let i = 0; i < 3; i++) conns.push(await connectUpstream(target, login));
      expect(conns.every((c) => c.tls)).toBe(true);
      for (const c of conns) c.socket.destroy();
      // One shared context at most (none if an earlier connection already built it), not one per connection.
      expect(created.mock.calls.length).toBeLessThanOrEqual(1);
    } finally {
      created.mockRestore();
    }
  });
});
