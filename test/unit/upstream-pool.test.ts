import net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { planReset, ResetReader } from '../../src-main/core/proxy/upstream/reset.js';
import { UpstreamPool } from '../../src-main/core/proxy/upstream/pool.js';
import { relay } from '../../src-main/core/proxy/relay.js';
import type { UpstreamConnection, UpstreamLogin } from '../../src-main/core/proxy/upstream/connection.js';
import { ScramKeyStore } from '../../src-main/core/proxy/upstream/scram-key-cache.js';
import { TERMINATE, message } from '../../src-main/core/proxy/wire.js';

/** A backend message: type, int32 length, body. */
const msg = (type: string, body: string | Buffer = ''): Buffer => message(type, typeof body === 'string' ? Buffer.from(body, 'latin1') : body);

const ready = (status: string) => msg('Z', status);

describe('reset of a kept server connection (upstream-reset)', () => {
  const plan = planReset('DISCARD ALL', 'a1b2c3');
  const discardOk = Buffer.concat([msg('C', 'DISCARD ALL\0'), msg('S', 'application_name\0psql\0'), ready('I')]);

  it('sends the sentinel query first, then the reset query', () => {
    const text = plan.request.toString('latin1');
    expect(text.indexOf("SELECT 'a1b2c3'::text AS rolecall_reset")).toBeGreaterThan(0);
    expect(text.indexOf('DISCARD ALL')).toBeGreaterThan(text.indexOf('a1b2c3'));
    expect(plan.request.filter((b) => b === 0x51).length).toBe(2); // two Query messages
  });

  it('accepts sentinel + successful reset ending idle, after leftovers of the old client, in any chunking', () => {
    const leftovers = Buffer.concat([msg('D', 'old row'), msg('C', 'SELECT 1\0'), ready('I')]);
    const all = Buffer.concat([leftovers, plan.sentinelReply, discardOk]);
    for (const size of [1, 3, 7, all.length]) {
      const reader = new ResetReader(plan);
      const verdicts: string[] = [];
      for (let i = 0; i < all.length; i += size) verdicts.push(reader.push(all.subarray(i, i + size)));
      expect(verdicts.at(-1), `chunks of ${size}`).toBe('ok');
      expect(verdicts.slice(0, -1).every((v) => v === 'incomplete')).toBe(true);
    }
  });

  it('refuses a reset that failed, a transaction left open, or bytes after the last ReadyForQuery', () => {
    const failed = Buffer.concat([plan.sentinelReply, msg('E', 'SERROR\0C25001\0Mcannot run inside a transaction block\0\0'), ready('I')]);
    expect(new ResetReader(plan).push(failed)).toBe('bad');
    // BEGIN; then quit: the sentinel runs inside the transaction, so ReadyForQuery says 'T', never 'I'.
    const inTransaction = Buffer.concat([msg('T', 'x'), msg('C', 'SELECT 1\0'), ready('T')]);
    expect(new ResetReader(plan).push(inTransaction)).toBe('bad');
    expect(new ResetReader(plan).push(Buffer.concat([plan.sentinelReply, discardOk, msg('N', 'late')]))).toBe('bad');
    expect(new ResetReader(plan).push(Buffer.concat([plan.sentinelReply, msg('C', 'DISCARD ALL\0'), ready('E')]))).toBe('bad');
  });

  it('waits while the sentinel has not come back (another token is not the sentinel)', () => {
    const other = planReset('DISCARD ALL', 'ffffff');
    expect(new ResetReader(plan).push(Buffer.concat([other.sentinelReply, discardOk]))).toBe('incomplete');
  });
});

describe('SCRAM key store', () => {
  it('gives one key cache per login and password, forgets logins, expires and stays bounded', () => {
    let now = 0;
    const store = new ScramKeyStore(1000, 2, () => now);
    const a = store.forLogin('alice', 'pw1');
    expect(store.forLogin('alice', 'pw1')).toBe(a);
    expect(store.forLogin('alice', 'pw2')).not.toBe(a);
    expect(store.forLogin('bob', 'pw1')).not.toBe(a);
    expect(store.size).toBe(2); // bounded: the oldest went
    store.forgetLogin('bob');
    expect(store.size).toBe(1);
    const c = store.forLogin('carol', 'pw');
    now = 1000;
    expect(store.forLogin('carol', 'pw')).not.toBe(c);
    expect(new ScramKeyStore(0).forLogin('alice', 'pw1')).toBeUndefined();
  });
});

describe('upstream pool keys', () => {
  it('never hands a connection to another login, password, database or parameter set', async () => {
    const opened: UpstreamLogin[] = [];
    const pool = new UpstreamPool({ idleSeconds: 30, maxIdlePerKey: 4, resetQuery: 'DISCARD ALL' }, async (login) => {
      opened.push(login);
      return { socket: new PassThrough() as unknown as net.Socket, greeting: Buffer.alloc(0), backendKey: null, parameters: {}, tls: false, authMethod: 'trust' } as UpstreamConnection;
    });
    const signal = new AbortController().signal;
    const base: UpstreamLogin = { user: 'alice', password: 'pw', params: { database: 'app', application_name: 'a' } };
    await pool.acquire(base, signal);
    await pool.acquire({ ...base, user: 'bob' }, signal);
    await pool.acquire({ ...base, password: 'other' }, signal);
    await pool.acquire({ ...base, params: { ...base.params, database: 'other' } }, signal);
    expect(pool.counters.opened).toBe(4);
    expect(pool.counters.reused).toBe(0);
    expect(pool.idleCount()).toBe(0);
  });
});

/** Two connected TCP socket pairs: what the relay sits between. */
async function socketPair(): Promise<{ near: net.Socket; far: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const far = net.connect(port, '127.0.0.1');
  const near = await accepted;
  await new Promise((r) => far.once('connect', r));
  return { near, far, close: () => server.close() };
}

function collect(socket: net.Socket): { bytes: () => Buffer; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return { bytes: () => Buffer.concat(chunks), ended: new Promise((r) => socket.once('end', () => r())) };
}

describe('relay: a Terminate ends the client at once', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    vi.useRealTimers();
    cleanup.splice(0).forEach((f) => f());
  });

  /** A relay between two real socket pairs; the far ends are the client and the server. */
  async function relayed(options: { keepUpstreamOnTerminate?: boolean; pending?: Buffer } = {}) {
    const c = await socketPair();
    const u = await socketPair();
    cleanup.push(c.close, u.close, () => c.far.destroy(), () => u.far.destroy());
    const server = collect(u.far);
    const client = collect(c.far);
    return { c, u, server, client, handle: relay(c.near, u.near, options) };
  }

  it('keeps the server connection without waiting for the client\'s EOF (asyncpg waits for ours), arming no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const { c, u, server, client, handle } = await relayed({ keepUpstreamOnTerminate: true });
    const query = msg('Q', 'select 1\0');
    c.far.write(Buffer.concat([query, TERMINATE])); // and nothing more: no EOF from this client
    await client.ended; // the proxy closed the client's side by itself
    const result = await handle.done;
    expect(result.upstreamKept).toBe(true);
    expect(result.bytesFromClient).toBe(query.length + 5);
    expect(vi.getTimerCount()).toBe(0); // no hold, no backstop: nothing waits on a timer
    vi.useRealTimers();
    await new Promise((r) => setTimeout(r, 30));
    expect(server.bytes()).toEqual(query); // the server never saw the Terminate
    expect(u.near.destroyed).toBe(false);
    expect(u.near.listenerCount('data')).toBe(0);
    expect(c.near.destroyed).toBe(true);
  });

  it('finds the real Terminate after Terminate-looking bytes inside a CopyData, and frames the bytes that came with the password', async () => {
    const copyData = msg('d', Buffer.concat([Buffer.from('abc'), TERMINATE]));
    const { c, server, client, handle } = await relayed({ keepUpstreamOnTerminate: true, pending: copyData });
    await new Promise((r) => setTimeout(r, 30));
    expect(server.bytes()).toEqual(copyData); // forwarded, not taken for a Terminate
    c.far.write(Buffer.concat([msg('c'), TERMINATE]));
    await client.ended;
    expect((await handle.done).upstreamKept).toBe(true);
    expect(server.bytes()).toEqual(Buffer.concat([copyData, msg('c')]));
  });

  it('sends the Terminate on when an extended-protocol batch still waits for its Sync, and closes both sides', async () => {
    const { c, u, server, client, handle } = await relayed({ keepUpstreamOnTerminate: true });
    const batch = Buffer.concat([msg('P', '\0insert into t values (1)\0\0\0'), msg('B', '\0\0\0\0\0\0\0\0'), msg('E', '\0\0\0\0\0')]);
    c.far.write(Buffer.concat([batch, TERMINATE]));
    await client.ended;
    await server.ended; // the Terminate reached the server, and our end of it
    expect(server.bytes()).toEqual(Buffer.concat([batch, TERMINATE]));
    u.far.end();
    expect((await handle.done).upstreamKept).toBeUndefined();
  });

  it('without reuse, sends the Terminate on and closes the client at once; bytes after it are dropped', async () => {
    const { c, u, server, client, handle } = await relayed();
    c.far.write(Buffer.concat([TERMINATE, msg('Q', 'select 2\0')]));
    await client.ended;
    await server.ended;
    expect(server.bytes()).toEqual(TERMINATE);
    u.far.end();
    expect((await handle.done).upstreamKept).toBeUndefined();
  });
});
