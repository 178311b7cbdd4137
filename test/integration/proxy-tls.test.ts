import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { SSL_REQUEST, WireClient, startupMessage, tlsAfterSslRequest, wireLogin, wireQuery } from '../harness/pg-wire.js';
import { waitFor } from '../harness/ports.js';

/**
 * Local TLS between the client and the proxy: SSLRequest with the certificate
 * generated on first use, PostgreSQL 17's direct TLS (ALPN "postgresql"), and
 * what a client sees when it asks for TLS from a profile that has it off.
 */

let env: RolecallEnv;
/** A second profile on the same servers, local TLS off. */
let plainPort: number;

const counters = () => env.service.get('app')!.status().counters;
const certFile = () => path.join(path.dirname(env.historyFile), 'tls', 'local-proxy.crt');

function directTls(port: number, alpn: string[] | null): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      rejectUnauthorized: false,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    s.once('secureConnect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The bytes of a real TLS ClientHello (node's, with ALPN "postgresql"), caught by a throwaway listener. */
async function captureClientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const hello = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy()))));
  const client = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['postgresql'], rejectUnauthorized: false });
  client.on('error', () => undefined);
  const bytes = await hello;
  client.destroy();
  server.close();
  return bytes;
}

beforeAll(async () => {
  env = await startRolecallEnv({ pgVersion: 18, profile: (b) => ({ ...b, listen: { ...b.listen, tls: { enabled: true } } }) });
  plainPort = (await env.addProfile((b) => ({ ...b, id: 'plain' }))).listen.port;
});

afterAll(async () => {
  await env?.stop();
});

describe('local TLS on', () => {
  it('serves psql with sslmode=require over a certificate generated on first use', async () => {
    const r = await env.psql('alice', USERS.alice, ['-At', '-c', 'select current_user', '-c', '\\conninfo'], { PGSSLMODE: 'require' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^alice$/m);
    expect(r.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
    const cert = new X509Certificate(readFileSync(certFile()));
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(statSync(certFile().replace(/\.crt$/, '.key')).mode & 0o777).toBe(0o600);
  });

  it('asks the directory once for a wrong password although libpq retries without TLS (sslmode=prefer)', async () => {
    const before = counters();
    const r = await env.psql('alice', 'not-her-password', ['-c', 'select 1'], { PGSSLMODE: 'prefer' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/password authentication failed for user "alice"/);
    const after = counters();
    expect(after.directoryCalls).toBe(before.directoryCalls + 1);
    // libpq's plaintext retry was answered from the negative cache.
    expect(after.negativeHits).toBe(before.negativeHits + 1);
  });

  it('refuses plaintext sent together with the SSLRequest before answering S (CVE-2021-23214)', async () => {
    const c = await WireClient.connect(env.port);
    c.write(Buffer.concat([SSL_REQUEST, startupMessage([['user', 'alice']])]));
    const f = await c.readError();
    expect(f.C).toBe('08P01');
    expect(f.M).toBe('received unencrypted data after SSL request');
    expect(await c.closed()).toHaveLength(0);
  });

  it('closes a client that answers S with plaintext instead of a TLS handshake, and keeps serving', async () => {
    const c = await WireClient.connect(env.port);
    c.write(SSL_REQUEST);
    expect(await c.readByte()).toBe('S');
    c.write(startupMessage([['user', 'alice'], ['database', 'app']]));
    // Whatever TLS says about it (an alert at most), no PostgreSQL message comes back.
    const reply = await c.closed();
    expect(reply.length === 0 || reply[0] === 0x15).toBe(true);
    const r = await env.psql('alice', USERS.alice, ['-At', '-c', 'select 1'], { PGSSLMODE: 'require' });
    expect(r.stdout.trim()).toBe('1');
  });

  it('logs in over PostgreSQL 17 direct TLS (ALPN "postgresql") with the generated certificate', async () => {
    const s = await directTls(env.port, ['postgresql']);
    expect(s.alpnProtocol).toBe('postgresql');
    const presented = s.getPeerX509Certificate();
    expect(presented?.fingerprint256).toBe(new X509Certificate(readFileSync(certFile())).fingerprint256);
    const c = new WireClient(s);
    await wireLogin(c, 'alice', USERS.alice);
    expect(await wireQuery(c, 'select current_user')).toEqual(['alice']);
    c.destroy();
  });

  it('closes a direct TLS connection without ALPN "postgresql" before reading anything', async () => {
    // No ALPN at all: the handshake completes, then the proxy hangs up without reading the startup.
    const s = await directTls(env.port, null);
    expect(s.alpnProtocol).toBe(false);
    const c = new WireClient(s);
    c.write(startupMessage([['user', 'alice'], ['database', 'app']]));
    expect(await c.closed()).toHaveLength(0);
    // Another protocol offered: refused in the handshake itself (no_application_protocol alert).
    await expect(directTls(env.port, ['http/1.1'])).rejects.toThrow(/no.application.protocol|ALPN/i);
  });
});

/** The history row of the plain profile's latest attempt with this message, once written. */
function plainAttempt(message: RegExp) {
  return waitFor('the history row', async () => env.history.query({ profileId: 'plain', limit: 20 }).rows.find((r) => message.test(r.message ?? '')), 5000, 10);
}

describe('local TLS off', () => {
  it('closes a direct TLS ClientHello with nothing sent, and says why in the log and history', async () => {
    const c = await WireClient.connect(plainPort);
    c.write(await captureClientHello());
    expect(await c.closed()).toHaveLength(0);
    const row = await plainAttempt(/sslnegotiation=direct/);
    expect(row).toMatchObject({ outcome: 'error', sqlstate: '08P01', login: '', canonicalLogin: null });
    expect(row.message).toBe(
      "the client started TLS although this profile has no local TLS: turn on local TLS for this profile, or drop the client's sslnegotiation=direct and set its sslmode to prefer/disable",
    );
  });

  it('explains a client that starts TLS after being told N (postgres.js with ssl: require) in the log and history, 08P01', async () => {
    const failed = env.service.get('plain')!.status().counters.failed;
    const { answer, error } = await tlsAfterSslRequest(plainPort);
    expect(answer).toBe('N');
    // What the postgres.js user sees; nothing on the wire can say more to a client speaking TLS.
    expect(error.message).toMatch(/socket disconnected before secure TLS connection was established/);
    const said = "the client started TLS although this profile has no local TLS: turn on local TLS for this profile, or set the client's sslmode to prefer/disable";
    const row = await plainAttempt(/set the client's sslmode/);
    expect(row).toMatchObject({ outcome: 'error', sqlstate: '08P01', message: said, clientAddress: '127.0.0.1' });
    expect(row.endedAt).not.toBeNull();
    expect(env.service.get('plain')!.status().counters.failed).toBe(failed + 1);
    const logged = env
      .logText()
      .split('\n')
      .filter((l) => l.includes(said))
      .map((l) => JSON.parse(l) as { level: number; sqlstate: string });
    expect(logged).toEqual([expect.objectContaining({ level: 40, sqlstate: '08P01' })]); // one warning
  });

  it('tells psql with sslmode=require that TLS is not offered', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('psql', ['-h', '127.0.0.1', '-p', String(plainPort), '-U', 'alice', '-d', 'app', '-X', '-c', 'select 1'], {
        env: { PATH: process.env.PATH ?? '', PGPASSWORD: USERS.alice, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/server does not support SSL, but SSL was required/);
  });

  it('still serves a plaintext login after all that', async () => {
    const c = await WireClient.connect(plainPort);
    await wireLogin(c, 'alice', USERS.alice);
    expect(await wireQuery(c, 'select 1')).toEqual(['1']);
    c.destroy();
  });
});
