import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { waitFor } from '../harness/ports.js';
import { PROTOCOL_3_0 } from '../../src-main/core/proxy/wire.js';
import {
  CANCEL_CODE,
  GSSENC_REQUEST,
  SSL_REQUEST,
  WireClient,
  cancelRequest,
  cstrings,
  message,
  packet,
  passwordMessage,
  startupMessage,
  wireLogin,
  wireQuery,
} from '../harness/pg-wire.js';

/**
 * Hostile and unusual clients against the real proxy, PostgreSQL 18 and slapd.
 * Each case asserts the exact reply (an ErrorResponse's SQLSTATE, or a close
 * with nothing sent), and after each one the proxy still logs alice in and the
 * database has no new role.
 */

let env: RolecallEnv;
/** Port of a profile with a 2 s authentication deadline. */
let shortPort: number;
let baseline: string;

const counters = () => env.service.get('app')!.status().counters;
const connect = () => WireClient.connect(env.port);

/** Roles and managed logins: nothing a hostile client does may change them. */
async function databaseState(): Promise<string> {
  const roles = await env.pg.query<{ rolname: string }>(`SELECT rolname FROM pg_roles ORDER BY 1`);
  const app = await env.pg.connect({ database: 'app' });
  try {
    const managed = await app.query<{ login: string }>(`SELECT login FROM rolecall.managed_login ORDER BY 1`);
    return JSON.stringify({ roles: roles.rows.map((r) => r.rolname), managed: managed.rows.map((r) => r.login) });
  } finally {
    await app.end();
  }
}

async function aliceStillWorks(): Promise<void> {
  const c = await env.connect('alice', USERS.alice);
  expect((await c.query('select current_user as u')).rows[0].u).toBe('alice');
  await c.end();
}

/** Sends bytes on a fresh connection and returns what came back before the proxy closed it. */
async function sendAndCollect(bytes: Buffer, port = env.port): Promise<Buffer> {
  const c = await WireClient.connect(port);
  c.write(bytes);
  return c.closed();
}

/** Sends bytes and expects exactly one ErrorResponse followed by a close; returns its fields. */
async function expectFatal(bytes: Buffer, port = env.port): Promise<Record<string, string>> {
  const c = await WireClient.connect(port);
  c.write(bytes);
  const fields = await c.readError();
  expect(await c.closed()).toHaveLength(0);
  expect(fields.S).toBe('FATAL');
  return fields;
}

beforeAll(async () => {
  env = await startRolecallEnv({ pgVersion: 18 });
  const short = await env.addProfile((b) => ({ ...b, id: 'short', listen: { ...b.listen, authTimeoutMs: 2000 } }));
  shortPort = short.listen.port;
  await aliceStillWorks(); // alice's role exists from here on
  baseline = await databaseState();
});

afterAll(async () => {
  await env?.stop();
});

afterEach(async () => {
  await aliceStillWorks();
  expect(await databaseState()).toBe(baseline);
});

describe('startup packet limits', () => {
  it.each([0, 3, 7, 10_001, 0x7fffffff, 0xffffffff])('closes without a word on declared length %i', async (length) => {
    const reply = await sendAndCollect(packet(length, PROTOCOL_3_0, Buffer.from('user\0alice\0\0')));
    expect(reply).toHaveLength(0);
  });

  it('closes at the authentication deadline when the declared length never arrives', async () => {
    const c = await WireClient.connect(shortPort);
    c.write(packet(200, PROTOCOL_3_0, Buffer.from('user\0alice\0')));
    expect(await c.closed(6000)).toHaveLength(0);
    expect(c.closedAfterMs).toBeGreaterThanOrEqual(1800);
    expect(c.closedAfterMs).toBeLessThan(4000);
  });

  it('closes quietly when the client hangs up in the middle of a startup packet', async () => {
    const c = await connect();
    const full = startupMessage([['user', 'alice']]);
    c.end(full.subarray(0, full.length - 4));
    expect(await c.closed()).toHaveLength(0);
  });

  it('answers 08P01 to a parameter list without its terminator', async () => {
    const noFinalNul = await expectFatal(startupMessage([['user', 'alice']], 3, 0, false));
    expect(noFinalNul.C).toBe('08P01');
    expect(noFinalNul.M).toMatch(/expected terminator as last byte/);
    // A value that runs to the end of the packet without any NUL.
    const body = Buffer.from('user\0alice');
    const noNulAtAll = await expectFatal(packet(8 + body.length, PROTOCOL_3_0, body));
    expect(noNulAtAll.C).toBe('08P01');
  });

  it('answers 08P01 to a duplicate user parameter', async () => {
    const f = await expectFatal(startupMessage([['user', 'alice'], ['user', 'postgres']]));
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('duplicate startup parameter "user"');
  });

  it('answers 08P01 to more than 64 parameters', async () => {
    const many = Array.from({ length: 65 }, (_, i): [string, string] => [`p${i}`, 'x']);
    const f = await expectFatal(startupMessage([['user', 'alice'], ...many]));
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('too many startup parameters (more than 64)');
  });

  it('logs in when the startup and the password arrive one byte per TCP segment', async () => {
    const c = await connect();
    const send = async (bytes: Buffer) => {
      for (let i = 0; i < bytes.length; i++) {
        c.write(bytes.subarray(i, i + 1));
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    await send(startupMessage([['user', 'alice'], ['database', 'app']]));
    expect((await c.readMessage()).type).toBe('R');
    await send(passwordMessage(USERS.alice));
    await c.readUntil('Z');
    expect(await wireQuery(c, 'select current_user')).toEqual(['alice']);
    c.destroy();
  });

  it('answers 28000 when no user is given', async () => {
    const f = await expectFatal(startupMessage([['database', 'app']]));
    expect(f.C).toBe('28000');
    expect(f.M).toBe('no PostgreSQL user name specified in startup packet');
  });
});

describe('protocol versions', () => {
  it.each([
    [2, 0],
    [4, 0],
  ])('refuses protocol %i.%i with 0A000', async (major, minor) => {
    const f = await expectFatal(startupMessage([['user', 'alice'], ['database', 'app']], major, minor));
    expect(f.C).toBe('0A000');
    expect(f.M).toMatch(new RegExp(`unsupported frontend protocol ${major}\\.${minor}`));
  });

  it.each([
    [2, []],
    [9999, ['_pq_.x']],
  ] as Array<[number, string[]]>)('negotiates 3.%i down to 3.0 and then logs in', async (minor, options) => {
    const c = await connect();
    c.write(startupMessage([['user', 'alice'], ['database', 'app'], ...options.map((o): [string, string] => [o, 'on'])], 3, minor));
    const v = await c.readMessage();
    expect(v.type).toBe('v');
    expect(v.body.readUInt32BE(0)).toBe(0); // newest minor version we speak
    expect(v.body.readUInt32BE(4)).toBe(options.length);
    expect(cstrings(v.body, 8)).toEqual(options);
    const auth = await c.readMessage();
    expect(auth.type).toBe('R');
    expect(auth.body.readUInt32BE(0)).toBe(3); // cleartext password
    c.write(passwordMessage(USERS.alice));
    const greeting = await c.readUntil('Z');
    expect(greeting.map((m) => m.type)).not.toContain('E');
    // 3.0 keys: BackendKeyData carries a 4-byte secret.
    expect(greeting.find((m) => m.type === 'K')?.body).toHaveLength(8);
    expect(await wireQuery(c, 'select current_user')).toEqual(['alice']);
    c.end(message('X', Buffer.alloc(0)));
    await c.closed();
  });

  it('refuses replication connections with 0A000', async () => {
    const f = await expectFatal(startupMessage([['user', 'alice'], ['database', 'app'], ['replication', 'database']]));
    expect(f.C).toBe('0A000');
    expect(f.M).toBe('replication connections are not supported through Rolecall');
  });
});

describe('encryption requests (local TLS off)', () => {
  it('answers N to an SSLRequest, then serves a plaintext login', async () => {
    const c = await connect();
    c.write(SSL_REQUEST);
    expect(await c.readByte()).toBe('N');
    const greeting = await wireLogin(c, 'alice', USERS.alice);
    expect(greeting.at(-1)?.type).toBe('Z');
    c.destroy();
  });

  it('closes on a second SSLRequest', async () => {
    const c = await connect();
    c.write(SSL_REQUEST);
    expect(await c.readByte()).toBe('N');
    c.write(SSL_REQUEST);
    expect(await c.closed()).toHaveLength(0);
  });

  it('refuses plaintext sent together with the SSLRequest (CVE-2021-23214)', async () => {
    const f = await expectFatal(Buffer.concat([SSL_REQUEST, startupMessage([['user', 'alice']])]));
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('received unencrypted data after SSL request');
  });

  it('answers N to GSSENCRequest then N to SSLRequest, then logs in on the same socket', async () => {
    const c = await connect();
    c.write(GSSENC_REQUEST);
    expect(await c.readByte()).toBe('N');
    c.write(SSL_REQUEST);
    expect(await c.readByte()).toBe('N');
    await wireLogin(c, 'alice', USERS.alice);
    expect(await wireQuery(c, 'select 40 + 2')).toEqual(['42']);
    c.destroy();
  });
});

describe('CancelRequest', () => {
  it.each([12, 15, 300])('closes without a word on a CancelRequest of length %i', async (length) => {
    const body = Buffer.alloc(Math.max(0, length - 8));
    const reply = await sendAndCollect(packet(length, CANCEL_CODE, body));
    expect(reply).toHaveLength(0);
  });

  it('survives 500 CancelRequests with random keys, forwards none of them, and still cancels a real query', async () => {
    // The server logs a cancel request it cannot match: prove it with one guess sent to it directly.
    const direct = new WireClient(net.connect(env.pg.port, '127.0.0.1'));
    direct.end(cancelRequest(1, randomBytes(4)));
    await direct.closed();
    await waitFor('the server to log the unmatched cancel', async () =>
      /cancel request/i.test(readFileSync(env.pg.logFile, 'utf8')) ? true : undefined,
    );
    const logBefore = readFileSync(env.pg.logFile, 'utf8').length;
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const c = await connect();
          c.write(cancelRequest(randomBytes(4).readUInt32BE(0), randomBytes(4)));
          expect(await c.closed()).toHaveLength(0);
        }),
      );
    }
    // A real cancel still goes through.
    const client = await env.connect('alice', USERS.alice);
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    const running = client.query('select pg_sleep(30)').then(
      () => 'finished',
      (e: Error & { code?: string }) => e.code,
    );
    await new Promise((r) => setTimeout(r, 300));
    const key = Buffer.alloc(4);
    key.writeInt32BE(secretKey, 0);
    const c = await connect();
    c.end(cancelRequest(processID, key));
    expect(await running).toBe('57014');
    await client.end();
    // None of the guesses reached the server.
    await new Promise((r) => setTimeout(r, 300));
    const newLog = readFileSync(env.pg.logFile, 'utf8').slice(logBefore);
    expect(newLog).not.toMatch(/cancel request/i);
  });
});

describe('password message', () => {
  /** Startup for alice, wait for the password request, then send `bytes`. */
  async function afterPasswordRequest(bytes: Buffer, user = 'alice'): Promise<WireClient> {
    const c = await connect();
    c.write(startupMessage([['user', user], ['database', 'app']]));
    expect((await c.readMessage()).type).toBe('R');
    c.write(bytes);
    return c;
  }

  it('refuses an empty password with 28P01 and no directory call', async () => {
    const before = counters().directoryCalls;
    const c = await afterPasswordRequest(passwordMessage(''));
    expect((await c.readError()).C).toBe('28P01');
    await c.closed();
    expect(counters().directoryCalls).toBe(before);
  });

  it('answers 08P01 to an oversized password message without waiting for its body', async () => {
    const head = Buffer.alloc(5);
    head.write('p');
    head.writeUInt32BE(70_000, 1);
    const before = counters().directoryCalls;
    const c = await afterPasswordRequest(head);
    const f = await c.readError();
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('invalid password message length 70000');
    await c.closed();
    expect(counters().directoryCalls).toBe(before);
  });

  it('answers 08P01 to a password without its terminating NUL', async () => {
    const c = await afterPasswordRequest(message('p', Buffer.from(USERS.alice)));
    expect((await c.readError()).C).toBe('08P01');
    await c.closed();
  });

  it('answers 08P01 to a password with a NUL inside it', async () => {
    const c = await afterPasswordRequest(message('p', Buffer.from(`${USERS.alice}\0x\0`)));
    expect((await c.readError()).C).toBe('08P01');
    await c.closed();
  });

  it('answers 08P01 to another message type where the password belongs', async () => {
    const c = await afterPasswordRequest(message('Q', Buffer.from('select 1\0')));
    const f = await c.readError();
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('expected password response, got message type "Q"');
    await c.closed();
  });

  it('uses the first of two password messages; the second reaches the server as a protocol violation', async () => {
    const c = await afterPasswordRequest(Buffer.concat([passwordMessage(USERS.alice), passwordMessage('second')]));
    const greeting = await c.readUntil('Z');
    expect(greeting.map((m) => m.type)).toContain('K');
    // As with a direct connection: the server reads the extra 'p' as a message and ends the session.
    const f = await c.readError();
    expect(f.C).toBe('08P01');
    expect(f.M).toMatch(/invalid frontend message type 112/);
    await c.closed();
  });

  it('makes no directory call and writes no history row for a client that hangs up before the password', async () => {
    const since = Date.now();
    const before = counters().directoryCalls;
    const c = await connect();
    c.write(startupMessage([['user', 'alice'], ['database', 'app'], ['application_name', 'hangs-up']]));
    expect((await c.readMessage()).type).toBe('R');
    c.end();
    await c.closed();
    await new Promise((r) => setTimeout(r, 200));
    expect(counters().directoryCalls).toBe(before);
    expect(env.history.query({ since }).rows.filter((r) => r.applicationName === 'hangs-up')).toEqual([]);
  });

  it('leaves no server connection behind when the client hangs up while being authenticated', async () => {
    // A fresh password (cache miss): the hang-up lands while the directory and sync run.
    await env.pg.query(`ALTER ROLE alice PASSWORD 'forces-a-fresh-check'`);
    env.service.get('app')!.authenticator.forgetAll();
    const c = await connect();
    c.write(startupMessage([['user', 'alice'], ['database', 'app'], ['application_name', 'gone-early']]));
    expect((await c.readMessage()).type).toBe('R');
    c.write(passwordMessage(USERS.alice));
    c.destroy();
    await new Promise((r) => setTimeout(r, 1500));
    const r = await env.pg.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'gone-early'`);
    expect(r.rowCount).toBe(0);
  });
});

describe('bytes after authentication', () => {
  it('relays the server\'s error for 4 KB of garbage and closes', async () => {
    const c = await connect();
    await wireLogin(c, 'alice', USERS.alice);
    const garbage = randomBytes(4096);
    garbage[0] = 0x01; // not a message type: the server must answer at once rather than wait for a huge "message"
    c.write(garbage);
    const f = await c.readError();
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('invalid frontend message type 1');
    await c.closed();
  });
});

describe('slow and idle clients', () => {
  it('closes a client sending its startup one byte at a time at the overall deadline', async () => {
    const c = await WireClient.connect(shortPort);
    const bytes = startupMessage([['user', 'alice'], ['database', 'app']]);
    let i = 0;
    const drip = setInterval(() => {
      if (i < bytes.length && !c.isClosed) c.write(bytes.subarray(i, ++i));
    }, 500);
    try {
      expect(await c.closed(8000)).toHaveLength(0);
    } finally {
      clearInterval(drip);
    }
    expect(i).toBeLessThan(bytes.length);
    expect(c.closedAfterMs).toBeGreaterThanOrEqual(1800);
    expect(c.closedAfterMs).toBeLessThan(3500);
  });

  it('tells a client that never sends its password that the password is missing, at the deadline', async () => {
    const c = await WireClient.connect(shortPort);
    c.write(startupMessage([['user', 'alice'], ['database', 'app']]));
    expect((await c.readMessage()).type).toBe('R');
    const f = await c.readError(5000);
    expect(f.C).toBe('08006');
    expect(f.M).toBe('authentication did not complete within 2 s');
    expect(f.H).toMatch(/No password arrived in time/);
    await c.closed();
    expect(c.closedAfterMs).toBeGreaterThanOrEqual(1800);
  });

  it('keeps memory bounded under 1,000 idle sockets, evicting the oldest, and still serves a login meanwhile', async () => {
    const rssBefore = process.memoryUsage().rss;
    const idle: WireClient[] = [];
    try {
      for (let batch = 0; batch < 10; batch++) {
        idle.push(...(await Promise.all(Array.from({ length: 100 }, () => connect()))));
      }
      // Idle sockets are capped (max(maxClients, 100) = 100 here): the oldest were closed, the newest kept.
      // Waits for the evictions' FINs to arrive rather than a fixed time (a loaded machine delivers them late).
      await Promise.all(idle.slice(0, 800).map((s) => s.closed(30_000)));
      const open = await waitFor('the idle sockets beyond the cap to be closed', async () => {
        const n = idle.filter((s) => !s.isClosed).length;
        return n <= 100 ? n : undefined;
      });
      expect(open).toBeLessThanOrEqual(100);
      expect(open).toBeGreaterThanOrEqual(90);
      expect(idle.slice(-50).every((s) => !s.isClosed)).toBe(true);
      expect(idle.slice(0, 800).every((s) => s.isClosed)).toBe(true);
      // A real client gets in while they are still open: they do not count against maxClients.
      const c = await env.connect('alice', USERS.alice);
      expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
      await c.end();
      const growthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
      expect(growthMb).toBeLessThan(100);
    } finally {
      for (const s of idle) s.destroy();
    }
  });
});

describe('hostile login names', () => {
  it.each(['*', 'alice)(uid=*', 'alice*', 'alice\\00', '*)(|(objectClass=*', 'x"; DROP ROLE alice; --'])(
    'answers 28P01 to %j and changes nothing',
    async (user) => {
      const c = await connect();
      c.write(startupMessage([['user', user], ['database', 'app']]));
      expect((await c.readMessage()).type).toBe('R');
      c.write(passwordMessage(USERS.alice));
      const f = await c.readError(10_000);
      expect(f.C).toBe('28P01');
      expect(f.M).toBe(`password authentication failed for user "${user}"`);
      await c.closed();
    },
  );

  it('answers 28P01 to a user name that is not valid UTF-8', async () => {
    const body = Buffer.concat([Buffer.from('user\0'), Buffer.from([0x61, 0xff, 0xfe, 0xc3]), Buffer.from('\0database\0app\0\0')]);
    const c = await connect();
    c.write(packet(8 + body.length, PROTOCOL_3_0, body));
    expect((await c.readMessage()).type).toBe('R');
    c.write(passwordMessage(USERS.alice));
    expect((await c.readError(10_000)).C).toBe('28P01');
    await c.closed();
  });

  it('treats a NUL inside the user name as the end of the value (the next bytes are a malformed parameter)', async () => {
    const body = Buffer.concat([Buffer.from('user\0ali'), Buffer.from([0]), Buffer.from('ce\0database\0app\0\0')]);
    const f = await expectFatal(packet(8 + body.length, PROTOCOL_3_0, body));
    expect(f.C).toBe('08P01');
  });
});

describe('client limit', () => {
  it('refuses the third concurrent client of a profile with maxClients 2 with 53300', async () => {
    const limited = await env.addProfile((b) => ({ ...b, id: 'two', listen: { ...b.listen, maxClients: 2 } }));
    const via = () => new pg.Client({ host: '127.0.0.1', port: limited.listen.port, user: 'alice', password: USERS.alice, database: 'app' });
    const first = via();
    const second = via();
    await first.connect();
    await second.connect();
    const third = via();
    third.on('error', () => undefined);
    const e = (await third.connect().then(
      () => new Error('third client was let in'),
      (err: unknown) => err,
    )) as Error & { code?: string };
    expect(e.code, e.message).toBe('53300');
    await first.end();
    // A slot freed: the next client gets in.
    const fourth = via();
    await fourth.connect();
    await Promise.all([second.end(), fourth.end()]);
    await env.service.stop('two');
  });
});
