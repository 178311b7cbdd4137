import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { makeTestPki } from '../harness/tls.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DatabaseError } from 'pg-protocol/dist/messages.js';
import { startPostgres, type PgServer, type PgVersion } from '../harness/postgres.js';
import { freePort, tempDir } from '../harness/ports.js';
import {
  connectUpstream,
  UpstreamError,
  type UpstreamConnection,
} from '../../src-main/core/proxy/upstream/connect.js';
import type { DatabaseEndpoint } from '../../src-main/core/database/endpoint.js';
import { forwardCancel } from '../../src-main/core/proxy/cancel-forwarder.js';
import { forgetDirectTlsRefusals } from '../../src-main/core/proxy/upstream/direct-tls.js';
import { createLogger } from '../../src-main/core/log.js';
import { PassThrough } from 'node:stream';
import { SSL_REQUEST, TERMINATE, cancelRequest, message, queryMessage as query } from '../../src-main/core/proxy/wire.js';

const PASSWORDS = { alice: 'alice-Pw-1', md5user: 'md5-Pw-2', pwuser: 'clear-Pw-3', ssl_only: 'ssl-Pw-4' };

/** Splits raw server bytes into messages and parses each with pg-protocol. */
function parseAll(bytes: Buffer): BackendMessage[] {
  const out: BackendMessage[] = [];
  new Parser().parse(bytes, (m) => out.push(m));
  return out;
}

/** Resumes the handed-over socket and collects server messages until one of type `until` arrives. */
function readUntil(socket: net.Socket, until: string, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no '${until}' within ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let off = 0;
      while (off + 5 <= buf.length) {
        const len = buf.readUInt32BE(off + 1);
        if (off + 1 + len > buf.length) break;
        if (String.fromCharCode(buf[off] as number) === until) return done();
        off += 1 + len;
      }
    };
    socket.on('data', onData);
    socket.resume();
  });
}

async function expectUpstreamError(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UpstreamError);
    return e as UpstreamError;
  }
  throw new Error('expected connectUpstream to fail');
}

function close(conn: UpstreamConnection): void {
  conn.socket.end(TERMINATE);
}

describe.each([15, 18] as PgVersion[])('connectUpstream against PostgreSQL %i', (version) => {
  let server: PgServer;
  let noTls: { port: number; close: () => Promise<void> };

  const target = (o: Partial<DatabaseEndpoint> = {}): DatabaseEndpoint => ({
    host: '127.0.0.1',
    port: server.port,
    sslmode: 'verify-full',
    caFile: server.pki.caFile,
    connectTimeoutMs: 10_000,
    ...o,
  });
  const login = (user: keyof typeof PASSWORDS, o: { password?: string; database?: string } = {}) => ({
    user,
    password: o.password ?? PASSWORDS[user],
    params: { database: o.database ?? 'postgres', application_name: 'rolecall-test' },
  });

  beforeAll(async () => {
    server = await startPostgres({
      version,
      extraHba: [
        'hostnossl all ssl_only 127.0.0.1/32 reject',
        'host all md5user 127.0.0.1/32 md5',
        'host all pwuser 127.0.0.1/32 password',
        // A second loopback address the certificate does not name: hostname mismatch cases.
        'host all all 127.0.0.2/32 scram-sha-256',
      ],
      settings: { listen_addresses: '127.0.0.1,127.0.0.2' },
    });
    const admin = await server.connect();
    try {
      await admin.query(`CREATE ROLE alice LOGIN PASSWORD '${PASSWORDS.alice}'`);
      await admin.query(`CREATE ROLE pwuser LOGIN PASSWORD '${PASSWORDS.pwuser}'`);
      await admin.query(`CREATE ROLE ssl_only LOGIN PASSWORD '${PASSWORDS.ssl_only}'`);
      // md5 auth needs the role's password stored as md5.
      await admin.query(`SET password_encryption = 'md5'`);
      await admin.query(`CREATE ROLE md5user LOGIN PASSWORD '${PASSWORDS.md5user}'`);
      const stored = await admin.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'md5user'`);
      expect(stored.rows[0].rolpassword).toMatch(/^md5/);
    } finally {
      await admin.end();
    }

    // The harness starts PostgreSQL with `-c ssl=on`, which neither settings nor ALTER SYSTEM
    // can undo (its readiness check needs TLS): a relay that says 'N' stands in for ssl=off.
    noTls = await refuseTlsRelay(server.port);
  });

  afterAll(async () => {
    await server?.stop();
    await noTls?.close();
  });

  it('logs in with SCRAM over verified TLS and hands over a socket that answers queries', async () => {
    const conn = await connectUpstream(target(), login('alice'));
    try {
      expect(conn.authMethod).toBe('scram-sha-256');
      expect(conn.tls).toBe(true);
      expect(conn.parameters.server_version).toMatch(new RegExp(`^${version}`));
      expect(conn.parameters.application_name).toBe('rolecall-test');
      expect(conn.backendKey?.pid).toBeGreaterThan(0);
      expect(conn.backendKey?.key.length).toBe(4);

      const greeting = parseAll(conn.greeting);
      expect(greeting[0]?.name).toBe('authenticationOk');
      expect(greeting.at(-1)?.name).toBe('readyForQuery');
      expect(greeting.filter((m) => m.name === 'parameterStatus').length).toBeGreaterThan(5);
      // Verbatim: ReadyForQuery(idle) is the last 6 bytes.
      expect([...conn.greeting.subarray(-6)]).toEqual([0x5a, 0, 0, 0, 5, 0x49]);

      expect(conn.socket.listenerCount('data')).toBe(0);
      expect(conn.socket.isPaused()).toBe(true);

      conn.socket.write(query('SELECT current_user, 40 + 2 AS answer'));
      const reply = parseAll(await readUntil(conn.socket, 'Z'));
      const row = reply.find((m) => m.name === 'dataRow') as unknown as { fields: string[] };
      expect(row.fields).toEqual(['alice', '42']);
    } finally {
      close(conn);
    }
  });

  it('reports a wrong password as the server error 28P01, with its raw ErrorResponse', async () => {
    const err = await expectUpstreamError(connectUpstream(target(), login('alice', { password: 'wrong' })));
    expect(err.kind).toBe('server');
    expect(err.sqlstate).toBe('28P01');
    expect(err.fields?.severity).toBe('FATAL');
    const [msg] = parseAll(err.raw!);
    expect(msg?.name).toBe('error');
    expect((msg as DatabaseError).code).toBe('28P01');
    expect((msg as DatabaseError).message).toMatch(/password authentication failed for user "alice"/);
  });

  it('relays an error sent after AuthenticationOk (unknown database)', async () => {
    const err = await expectUpstreamError(connectUpstream(target(), login('alice', { database: 'nope' })));
    expect(err.kind).toBe('server');
    expect(err.sqlstate).toBe('3D000');
  });

  it('logs in with md5 and with a cleartext password when pg_hba asks for them', async () => {
    const md5 = await connectUpstream(target(), login('md5user'));
    expect(md5.authMethod).toBe('md5');
    close(md5);
    const clear = await connectUpstream(target(), login('pwuser'));
    expect(clear.authMethod).toBe('password');
    close(clear);
    const bad = await expectUpstreamError(connectUpstream(target(), login('md5user', { password: 'wrong' })));
    expect(bad.sqlstate).toBe('28P01');
  });

  it('verify-full fails with kind tls when the CA is not the one that signed the server', async () => {
    const err = await expectUpstreamError(connectUpstream(target({ caFile: server.pki.otherCaFile }), login('alice')));
    expect(err.kind).toBe('tls');
    expect(err.sqlstate).toBe('08006');
    expect(err.message).toContain(server.pki.otherCaFile);
    expect(err.message).toContain(`127.0.0.1:${server.port}`);
  });

  it('verify-full with the system roots rejects a private CA', async () => {
    const { caFile: _ignored, ...noCa } = target();
    const err = await expectUpstreamError(connectUpstream(noCa, login('alice')));
    expect(err.kind).toBe('tls');
    expect(err.message).toMatch(/trust store/);
  });

  it('verify-full accepts the host name localhost', async () => {
    const conn = await connectUpstream(target({ host: 'localhost' }), login('alice'));
    expect(conn.tls).toBe(true);
    close(conn);
  });

  it('verify-full refuses an address the certificate does not name; verify-ca accepts it', async () => {
    const err = await expectUpstreamError(connectUpstream(target({ host: '127.0.0.2' }), login('alice')));
    expect(err.kind).toBe('tls');
    expect(err.message).toMatch(/not valid for host "127\.0\.0\.2"/);
    expect(err.message).toMatch(/verify-ca/);

    const conn = await connectUpstream(target({ host: '127.0.0.2', sslmode: 'verify-ca' }), login('alice'));
    expect(conn.tls).toBe(true);
    close(conn);
  });

  it('sslmode=disable speaks plaintext, and a hostssl-only user gets the server error', async () => {
    const conn = await connectUpstream(target({ sslmode: 'disable' }), login('alice'));
    expect(conn.tls).toBe(false);
    close(conn);
    const err = await expectUpstreamError(connectUpstream(target({ sslmode: 'disable' }), login('ssl_only')));
    expect(err.kind).toBe('server');
    expect(err.sqlstate).toBe('28000');
    expect(err.fields?.message).toMatch(/no encryption/);
    // Over TLS the same user gets in.
    const tlsConn = await connectUpstream(target(), login('ssl_only'));
    close(tlsConn);
  });

  it('prefer continues in plaintext against a server that refuses TLS; require refuses', async () => {
    const conn = await connectUpstream(target({ port: noTls.port, sslmode: 'prefer' }), login('alice'));
    expect(conn.tls).toBe(false);
    expect(conn.authMethod).toBe('scram-sha-256');
    close(conn);
    for (const sslmode of ['require', 'verify-full'] as const) {
      const err = await expectUpstreamError(connectUpstream(target({ port: noTls.port, sslmode }), login('alice')));
      expect(err.kind).toBe('tls');
      expect(err.message).toMatch(/does not accept TLS/);
    }
  });

  /** A logger whose lines the test reads back. */
  const recordingLogger = () => {
    const out = new PassThrough();
    const lines: { level: number; msg: string; upstream?: string }[] = [];
    out.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) if (l) lines.push(JSON.parse(l));
    });
    return { logger: createLogger({ level: 'warn', destination: out }), lines };
  };

  it(`sslnegotiation=direct ${version >= 17 ? 'starts TLS at once' : 'falls back to SSLRequest, logged once'} with verify-full`, async () => {
    forgetDirectTlsRefusals();
    const { logger, lines } = recordingLogger();
    for (let i = 0; i < 3; i++) {
      const conn = await connectUpstream(target({ host: 'localhost', sslnegotiation: 'direct' }), login('alice'), { logger });
      expect(conn.tls).toBe(true);
      conn.socket.write(query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'));
      const row = parseAll(await readUntil(conn.socket, 'Z')).find((m) => m.name === 'dataRow') as unknown as { fields: string[] };
      expect(row.fields).toEqual(['t']);
      close(conn);
    }
    await new Promise((r) => setImmediate(r));
    const fallbacks = lines.filter((l) => /does not accept direct TLS/.test(l.msg));
    if (version >= 17) expect(fallbacks).toEqual([]);
    else {
      expect(fallbacks.length).toBe(1);
      expect(fallbacks[0]?.upstream).toBe(`localhost:${server.port}`);
    }
  });

  it('sslnegotiation=direct hands over an ordinary stream: a paused reader stops the server, and resuming loses nothing', async () => {
    const conn = await connectUpstream(target({ sslnegotiation: 'direct' }), login('alice'));
    try {
      const rows = 20_000;
      const line = `${'x'.repeat(1000)}\n`;
      let received = 0;
      let copied = 0;
      let intact = true;
      const parser = new Parser();
      const ready = new Promise<void>((resolve) => {
        conn.socket.on('data', (c: Buffer) => {
          received += c.length;
          parser.parse(c, (m) => {
            if (m.name === 'copyData') {
              copied++;
              // The copies must not share a buffer that a later read overwrote.
              if ((m as unknown as { chunk: Buffer }).chunk.toString() !== line) intact = false;
            } else if (m.name === 'readyForQuery') resolve();
          });
        });
      });
      conn.socket.write(query(`COPY (SELECT repeat('x', 1000) FROM generate_series(1, ${rows})) TO STDOUT`));
      conn.socket.resume();
      await new Promise((r) => conn.socket.once('data', r));
      conn.socket.pause();
      // Long enough for a server to push all 20 MB if nothing held it back.
      await new Promise((r) => setTimeout(r, 500));
      expect(received + conn.socket.readableLength).toBeLessThan(2 * 1024 * 1024);
      conn.socket.resume();
      await ready;
      expect(copied).toBe(rows);
      expect(intact).toBe(true);
    } finally {
      close(conn);
    }
  });

  it('sslnegotiation=direct reports certificate problems as precisely as SSLRequest does', async () => {
    forgetDirectTlsRefusals();
    const direct = { sslnegotiation: 'direct' } as const;
    const wrongCa = await expectUpstreamError(connectUpstream(target({ ...direct, caFile: server.pki.otherCaFile }), login('alice')));
    expect(wrongCa.kind).toBe('tls');
    expect(wrongCa.message).toContain(server.pki.otherCaFile);
    const wrongHost = await expectUpstreamError(connectUpstream(target({ ...direct, host: '127.0.0.2' }), login('alice')));
    expect(wrongHost.kind).toBe('tls');
    expect(wrongHost.message).toMatch(/not valid for host "127\.0\.0\.2"/);
    const closed = await expectUpstreamError(connectUpstream(target({ ...direct, port: await freePort() }), login('alice')));
    expect(closed.kind).toBe('unreachable');
  });

  it('require encrypts without verifying the certificate', async () => {
    const conn = await connectUpstream(target({ sslmode: 'require', caFile: server.pki.otherCaFile }), login('alice'));
    expect(conn.tls).toBe(true);
    close(conn);
  });

  it.each(['verify-full', 'disable'] as const)('forwardCancel (%s) cancels a running query', async (sslmode) => {
    const conn = await connectUpstream(target({ sslmode }), login('alice'));
    try {
      conn.socket.write(query('SELECT pg_sleep(30)'));
      // Let the backend start sleeping before we cancel it.
      await new Promise((r) => setTimeout(r, 300));
      const cancel = cancelRequest(conn.backendKey!.pid, conn.backendKey!.key);
      const started = Date.now();
      await forwardCancel(target({ sslmode }), cancel, { timeoutMs: 5_000 });
      const reply = parseAll(await readUntil(conn.socket, 'Z', 5_000));
      const error = reply.find((m) => m.name === 'error') as DatabaseError | undefined;
      expect(error?.code).toBe('57014');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      close(conn);
    }
  });
});

/** A fake server: runs `onSocket` for each connection. Only for misbehaviour a real PostgreSQL cannot show. */
async function fakeServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/**
 * Answers SSLRequest with 'N' (as a server with ssl=off does), then relays the
 * plaintext conversation to the real server: authentication stays real.
 */
function refuseTlsRelay(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  return fakeServer((client) => {
    client.once('data', (first: Buffer) => {
      const upstream = net.connect({ host: '127.0.0.1', port });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      if (first.equals(SSL_REQUEST)) client.write('N');
      else upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
}

/** Answers the startup packet (plaintext) with one authentication request. */
function authRequest(code: number, extra: Buffer = Buffer.alloc(0)): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeInt32BE(code, 0);
  return message('R', Buffer.concat([payload, extra]));
}

describe('connectUpstream against misbehaving servers', () => {
  const fake = (port: number, o: Partial<DatabaseEndpoint> = {}): DatabaseEndpoint => ({
    host: '127.0.0.1',
    port,
    sslmode: 'require',
    connectTimeoutMs: 3_000,
    ...o,
  });
  const who = { user: 'alice', password: 'pw', params: { database: 'postgres' } };

  it('refuses bytes injected after the server accepts TLS (CVE-2021-23222)', async () => {
    const srv = await fakeServer((s) => s.once('data', () => s.write(Buffer.from('SR\0\0\0\x08\0\0\0\0', 'latin1'))));
    try {
      const err = await expectUpstreamError(connectUpstream(fake(srv.port), who));
      expect(err.kind).toBe('protocol');
      expect(err.sqlstate).toBe('08P01');
      expect(err.message).toMatch(/unexpected data after accepting TLS/);
    } finally {
      await srv.close();
    }
  });

  it('refuses a direct TLS server that does not answer with the ALPN "postgresql"', async () => {
    const pki = makeTestPki(tempDir('alpn'));
    const srv = tls.createServer({ key: readFileSync(pki.keyFile), cert: readFileSync(pki.certFile) }, (s) => s.on('error', () => undefined));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const err = await expectUpstreamError(connectUpstream(fake((srv.address() as net.AddressInfo).port, { sslnegotiation: 'direct' }), who));
      expect(err.kind).toBe('protocol');
      expect(err.message).toMatch(/without the "postgresql" ALPN protocol/);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it('times out within connectTimeoutMs when the server never answers', async () => {
    const srv = await fakeServer(() => undefined);
    try {
      const started = Date.now();
      const err = await expectUpstreamError(connectUpstream(fake(srv.port, { connectTimeoutMs: 500 }), who));
      expect(err.kind).toBe('timeout');
      expect(err.sqlstate).toBe('08006');
      expect(err.message).toContain(`127.0.0.1:${srv.port}`);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      await srv.close();
    }
  });

  it('stops at once when the signal aborts', async () => {
    const srv = await fakeServer(() => undefined);
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = Date.now();
      const err = await expectUpstreamError(connectUpstream(fake(srv.port, { connectTimeoutMs: 10_000 }), who, { signal: controller.signal }));
      expect(err.message).toMatch(/cancelled/);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await srv.close();
    }
  });

  it('reports a closed port as unreachable (08006)', async () => {
    const port = await freePort();
    const err = await expectUpstreamError(connectUpstream(fake(port), who));
    expect(err.kind).toBe('unreachable');
    expect(err.sqlstate).toBe('08006');
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });

  it('treats a non-PostgreSQL answer to SSLRequest as a protocol error', async () => {
    const srv = await fakeServer((s) => s.once('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
    try {
      const err = await expectUpstreamError(connectUpstream(fake(srv.port), who));
      expect(err.kind).toBe('protocol');
    } finally {
      await srv.close();
    }
  });

  it.each([
    ['GSSAPI', authRequest(7), /GSSAPI/, '28000'],
    ['SCRAM-SHA-256-PLUS only', authRequest(10, Buffer.from('SCRAM-SHA-256-PLUS\0\0')), /PLUS only is not supported/, '0A000'],
  ])('refuses %s authentication with a clear message', async (_what, request, message, sqlstate) => {
    const srv = await fakeServer((s) => s.once('data', () => s.write(request)));
    try {
      const err = await expectUpstreamError(connectUpstream(fake(srv.port, { sslmode: 'disable' }), who));
      expect(err.kind).toBe('unsupported-auth');
      expect(err.sqlstate).toBe(sqlstate);
      expect(err.message).toMatch(message);
    } finally {
      await srv.close();
    }
  });

  it('refuses AuthenticationOk before the server proved itself in SCRAM', async () => {
    const srv = await fakeServer((s) => {
      s.once('data', () => {
        s.write(authRequest(10, Buffer.from('SCRAM-SHA-256\0\0')));
        s.once('data', () => s.write(authRequest(0)));
      });
    });
    try {
      const err = await expectUpstreamError(connectUpstream(fake(srv.port, { sslmode: 'disable' }), who));
      expect(err.kind).toBe('protocol');
      expect(err.message).toMatch(/without proving its identity/);
    } finally {
      await srv.close();
    }
  });

  it('rejects startup parameters containing NUL before connecting', async () => {
    const err = await expectUpstreamError(
      connectUpstream(fake(1, { sslmode: 'disable' }), { ...who, params: { application_name: 'a\0b' } }),
    );
    expect(err.kind).toBe('protocol');
  });
});
