import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BrokerAuthenticator } from '../../src-main/core/auth/broker-authenticator.js';
import { BrokerClient, type BrokerClientConfig } from '../../src-main/core/broker-client/broker-client.js';
import { BrokerFailure } from '../../src-main/core/broker-client/broker-failure.js';
import { ClientError } from '../../src-main/core/client-errors.js';
import { freePort, tempDir, waitFor } from '../harness/ports.js';
import { startSilentServer, type SilentServer } from '../harness/silent-server.js';
import { makeTestPki, type TestPki } from '../harness/tls.js';

// The broker client against tiny hostile HTTPS servers: each answers what the
// test tells it to (broken JSON, wrong shapes, errors, 5xx, nothing at all),
// so every way an answer can be unusable is seen to end in a precise error.
// The real broker is exercised in test/integration/broker-*.test.ts.

/** reset: the connection is dropped after the request was read, with no answer (a replica killed mid-request). */
type Reply = { status: number; body: string | object; delayMs?: number; reset?: boolean };

interface Hostile {
  url: string;
  requests: { path: string; body: unknown }[];
  reply: (path: string) => Reply;
  close(): Promise<void>;
}

let dir: string;
let pki: TestPki;
const servers: Hostile[] = [];

async function hostile(reply: (path: string) => Reply, tlsFiles?: { key: string; cert: string }): Promise<Hostile> {
  const h: Hostile = { url: '', requests: [], reply, close: async () => undefined };
  const sockets = new Set<net.Socket>();
  const files = tlsFiles ?? { key: pki.keyFile, cert: pki.certFile };
  const server = https.createServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      h.requests.push({ path: req.url ?? '', body: text ? (JSON.parse(text) as unknown) : undefined });
      const r = h.reply(req.url ?? '');
      if (r.reset === true) {
        req.socket.destroy();
        return;
      }
      setTimeout(() => {
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
      }, r.delayMs ?? 0);
    });
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  h.url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  h.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  servers.push(h);
  return h;
}

const hour = 3600_000;
const good = () => ({
  login: 'alice',
  password: 'p'.repeat(32),
  validUntil: new Date(Date.now() + 2 * hour).toISOString(),
  renewAfter: new Date(Date.now() + hour).toISOString(),
  groups: ['heimdall-hr-data'],
  roles: ['heimdall-hr-data'],
});
const errorBody = (sqlstate: string, message: string, hint?: string) => ({ error: { sqlstate, message, ...(hint ? { hint } : {}) } });

function client(urls: string[], extra: Partial<BrokerClientConfig> = {}): BrokerClient {
  return new BrokerClient({ urls, caFile: pki.caFile, connectTimeoutMs: 1000, timeoutMs: 1500, deadUrlSeconds: 60, ...extra });
}

async function failure(p: Promise<unknown>): Promise<BrokerFailure> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  if (!(e instanceof BrokerFailure)) throw new Error(`expected a BrokerFailure, got ${String(e)}`);
  return e;
}

const signIn = { login: 'alice', password: 'alice-pass', database: 'hr' };

beforeAll(() => {
  dir = tempDir('broker-client');
  pki = makeTestPki(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('BrokerClient', () => {
  it('posts JSON over verified TLS and returns the validated answer with the broker\'s clock', async () => {
    const s = await hostile(() => ({ status: 200, body: good() }));
    const c = client([s.url]);
    const r = await c.signIn(signIn);
    c.close();
    expect(r.value).toMatchObject({ login: 'alice', roles: ['heimdall-hr-data'] });
    expect(r.url).toBe(s.url);
    expect(Math.abs((r.serverDate ?? 0) - Date.now())).toBeLessThan(5000);
    expect(s.requests).toEqual([{ path: '/v1/sign-in', body: signIn }]);
  });

  it.each([
    ['a missing field', { ...good(), password: undefined }, /password/],
    ['a short database password', { ...good(), password: 'short' }, /password/],
    ['an unknown field', { ...good(), extra: 1 }, /extra/],
    ['not JSON', '<html>welcome</html>', /not JSON \("<html>welcome<\/html>"\)/],
    ['an empty body', '', /not JSON \(an empty body\)/],
  ])('refuses an answer with %s precisely, never crashing', async (_what, body, why) => {
    const s = await hostile(() => ({ status: 200, body }));
    const c = client([s.url]);
    const f = await failure(c.signIn(signIn));
    c.close();
    expect(f.kind).toBe('malformed');
    expect(f.message).toMatch(/^the team broker at https:\/\/127\.0\.0\.1:\d+ sent an answer Rolecall cannot read: /);
    expect(f.message).toMatch(why);
    // Never the values: a malformed answer may still carry a password.
    expect(f.message).not.toContain('p'.repeat(16));
  });

  it('refuses an answer larger than it reads', async () => {
    const s = await hostile(() => ({ status: 200, body: { ...good(), groups: ['x'.repeat(100_000)] } }));
    const c = client([s.url]);
    const f = await failure(c.signIn(signIn));
    c.close();
    expect(f).toMatchObject({ kind: 'malformed', message: expect.stringContaining('larger than 65536 bytes') });
  });

  it('relays the broker\'s error and does not ask another broker after a definite answer', async () => {
    for (const [status, sqlstate] of [[401, '28P01'], [403, '28000'], [429, '53300']] as const) {
      const first = await hostile(() => ({ status, body: errorBody(sqlstate, `said ${sqlstate}`, 'do this') }));
      const second = await hostile(() => ({ status: 200, body: good() }));
      const c = client([first.url, second.url]);
      const f = await failure(c.signIn(signIn));
      c.close();
      expect(f).toMatchObject({ kind: 'answer', message: `said ${sqlstate}`, details: { status, error: { sqlstate, hint: 'do this' } } });
      expect(second.requests).toHaveLength(0);
    }
  });

  it('an error answer without the API\'s body is not the broker\'s: 4xx is malformed, 5xx moves on', async () => {
    const notFound = await hostile(() => ({ status: 404, body: 'Not Found' }));
    const c1 = client([notFound.url]);
    expect(await failure(c1.signIn(signIn))).toMatchObject({ kind: 'malformed', message: expect.stringContaining("HTTP 404 without a Rolecall error (\"Not Found\"); is") });
    c1.close();
    const gateway = await hostile(() => ({ status: 502, body: '<h1>Bad gateway</h1>' }));
    const good1 = await hostile(() => ({ status: 200, body: good() }));
    const c2 = client([gateway.url, good1.url]);
    expect((await c2.signIn(signIn)).url).toBe(good1.url);
    c2.close();
  });

  it('moves on after a refused connection, a hang and a 5xx, and remembers the dead ones', async () => {
    const refused = `https://127.0.0.1:${await freePort()}`;
    const silent: SilentServer = await startSilentServer();
    const busy = await hostile(() => ({ status: 503, body: errorBody('57P03', 'the directory server is not reachable') }));
    const ok = await hostile(() => ({ status: 200, body: good() }));
    const c = client([refused, `https://127.0.0.1:${silent.port}`, busy.url, ok.url]);
    try {
      expect((await c.signIn(signIn)).url).toBe(ok.url);
      // The silent server's accept may run after the client gave up on it (a loaded machine): wait for it, once.
      await waitFor('the silent server to see the connection', async () => (silent.accepted === 1 ? true : undefined), 5000, 20);
      expect(busy.requests).toHaveLength(1);
      // The next sign-in goes to the one that answered first: nobody waits on the dead ones again.
      expect((await c.signIn(signIn)).url).toBe(ok.url);
      expect(silent.accepted).toBe(1);
      expect(busy.requests).toHaveLength(1);
      expect(ok.requests).toHaveLength(2);
    } finally {
      c.close();
      await silent.close();
    }
  });

  it('sends a request again once when its connection broke before the answer (behind a load balancer that reaches another replica)', async () => {
    let n = 0;
    const flaky = await hostile(() => (++n === 1 ? { status: 0, body: '', reset: true } : { status: 200, body: good() }));
    const c = client([flaky.url]);
    try {
      expect((await c.signIn(signIn)).value.login).toBe('alice');
      expect(flaky.requests).toHaveLength(2);
    } finally {
      c.close();
    }
    // Once only: a URL that keeps dropping requests fails after the second, and the next URL is asked.
    const dropping = await hostile(() => ({ status: 0, body: '', reset: true }));
    const ok = await hostile(() => ({ status: 200, body: good() }));
    const c2 = client([dropping.url]);
    const f = await failure(c2.signIn(signIn));
    c2.close();
    expect(f.kind).toBe('unreachable');
    expect(dropping.requests).toHaveLength(2);
    const c3 = client([dropping.url, ok.url]);
    expect((await c3.signIn(signIn)).url).toBe(ok.url);
    c3.close();
    expect(dropping.requests).toHaveLength(4);
    expect(ok.requests).toHaveLength(1);
  });

  it('when every broker fails, says the best it knows: the broker\'s own 5xx answer, else "not reachable"', async () => {
    const refused = `https://127.0.0.1:${await freePort()}`;
    const busy = await hostile(() => ({ status: 503, body: errorBody('08006', 'the database server is not reachable') }));
    const c1 = client([busy.url, refused]);
    expect(await failure(c1.signIn(signIn))).toMatchObject({ kind: 'answer', message: 'the database server is not reachable', details: { tried: [expect.anything(), expect.anything()] } });
    c1.close();
    const c2 = client([refused]);
    const f = await failure(c2.signIn(signIn));
    c2.close();
    expect(f.kind).toBe('unreachable');
    expect(f.message).toBe(`the team broker at ${refused} is not reachable`);
    expect(f.details.tried[0]?.reason).toMatch(/ECONNREFUSED/);
  });

  it('refuses a certificate from another CA before sending anything', async () => {
    const s = await hostile(() => ({ status: 200, body: good() }));
    const c = client([s.url], { caFile: pki.otherCaFile });
    const f = await failure(c.signIn(signIn));
    c.close();
    expect(f.kind).toBe('certificate');
    expect(f.message).toMatch(/^the team broker's certificate at https:\/\/127\.0\.0\.1:\d+ could not be verified: /);
    expect(s.requests).toHaveLength(0);
  });

  it('checks the host name: a trusted certificate for another name is refused', async () => {
    // Self-signed and given as the CA file: the chain verifies, only the name (broker.corp.test, not 127.0.0.1) is wrong.
    const pems = await generate([{ name: 'commonName', value: 'broker.corp.test' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 2, value: 'broker.corp.test' }] }],
    });
    const files = { key: path.join(dir, 'other.key'), cert: path.join(dir, 'other.pem') };
    writeFileSync(files.key, pems.private);
    writeFileSync(files.cert, pems.cert);
    const s = await hostile(() => ({ status: 200, body: good() }), files);
    const c = client([s.url], { caFile: files.cert });
    const f = await failure(c.signIn(signIn));
    c.close();
    expect(f.kind).toBe('certificate');
    expect(f.message).toMatch(/does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(s.requests).toHaveLength(0);
  });

  it('says which CA file it cannot read', () => {
    expect(() => client(['https://127.0.0.1:1'], { caFile: `${dir}/missing.pem` })).toThrow(/cannot read broker\.caFile .*missing\.pem/);
  });
});

describe('BrokerAuthenticator over the client', () => {
  it('gives the client precise SQLSTATEs for every kind of broken broker', async () => {
    const malformed = await hostile(() => ({ status: 200, body: { nope: true } }));
    const refused = `https://127.0.0.1:${await freePort()}`;
    const cases: [string[], string, RegExp][] = [
      [[malformed.url], '08P01', /sent an answer Rolecall cannot read/],
      [[refused], '57P03', /^the team broker at .* is not reachable$/],
    ];
    for (const [urls, sqlstate, message] of cases) {
      const auth = new BrokerAuthenticator({ profileId: 'p', database: 'hr', marginMs: 0, negativeTtlMs: 30_000 }, client(urls));
      const e = await auth.authenticate('alice', 'alice-pass', {}).catch((x: unknown) => x);
      await auth.close();
      expect(e).toBeInstanceOf(ClientError);
      expect(e).toMatchObject({ sqlstate, message: expect.stringMatching(message) });
    }
  });
});
