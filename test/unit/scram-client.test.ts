import { describe, expect, it } from 'vitest';
import { ScramClient, ScramError, scramKeyCacheKey, type ScramKeyCache } from '../../src-main/core/proxy/upstream/scram-client.js';
import { md5PasswordResponse } from '../../src-main/core/proxy/upstream/md5-password.js';

// RFC 7677 section 3 example exchange.
const RFC = {
  user: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcClient(keyCache?: ScramKeyCache): ScramClient {
  return new ScramClient({ user: RFC.user, password: RFC.password, nonce: RFC.clientNonce, ...(keyCache ? { keyCache } : {}) });
}

describe('ScramClient (RFC 7677 vectors)', () => {
  it('produces the RFC client-first and client-final messages', () => {
    const c = rfcClient();
    expect(c.clientFirst()).toBe(RFC.clientFirst);
    expect(c.clientFinal(RFC.serverFirst)).toBe(RFC.clientFinal);
  });

  it('accepts the RFC server signature', () => {
    const c = rfcClient();
    c.clientFinal(RFC.serverFirst);
    expect(() => c.verifyServerFinal(RFC.serverFinal)).not.toThrow();
  });

  it('rejects a server signature that does not match (mutual authentication)', () => {
    const c = rfcClient();
    c.clientFinal(RFC.serverFirst);
    const forged = `v=${Buffer.alloc(32, 1).toString('base64')}`;
    expect(() => c.verifyServerFinal(forged)).toThrow(/server signature does not match/);
  });

  it('reports a server-side SCRAM error', () => {
    const c = rfcClient();
    c.clientFinal(RFC.serverFirst);
    expect(() => c.verifyServerFinal('e=invalid-proof')).toThrow(/invalid-proof/);
  });

  it('refuses server-final before client-final', () => {
    expect(() => rfcClient().verifyServerFinal(RFC.serverFinal)).toThrow(ScramError);
  });

  it('uses the PostgreSQL form (empty user) and a fresh random nonce by default', () => {
    const a = new ScramClient({ password: 'x' });
    const b = new ScramClient({ password: 'x' });
    expect(a.clientFirst()).toMatch(/^n,,n=,r=[A-Za-z0-9+/=]{20,}$/);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it.each([
    ['a nonce that does not extend ours', 'r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096', /nonce/],
    ['the exact same nonce', `r=${RFC.clientNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, /nonce/],
    ['a missing salt', `r=${RFC.clientNonce}xyz,i=4096`, /salt/],
    ['a salt that is not base64', `r=${RFC.clientNonce}xyz,s=%%%,i=4096`, /base64/],
    ['zero iterations', `r=${RFC.clientNonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`, /iteration/],
    ['absurd iterations', `r=${RFC.clientNonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000`, /exceeds/],
    ['a mandatory extension', `m=ext,r=${RFC.clientNonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, /extension/],
    ['garbage', 'hello', /malformed/],
  ])('rejects a server-first message with %s', (_what, serverFirst, error) => {
    expect(() => rfcClient().clientFinal(serverFirst)).toThrow(error);
  });

  it('fills and reuses the key cache for the same salt and iterations', () => {
    const cache: ScramKeyCache = new Map();
    rfcClient(cache).clientFinal(RFC.serverFirst);
    const key = scramKeyCacheKey(Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    expect([...cache.keys()]).toEqual([key]);
    // A poisoned entry proves the cache is read: the proof changes.
    const real = cache.get(key)!;
    cache.set(key, { ...real, clientKey: Buffer.alloc(32) });
    expect(rfcClient(cache).clientFinal(RFC.serverFirst)).not.toBe(RFC.clientFinal);
  });
});

describe('md5PasswordResponse', () => {
  it('matches the md5(md5(password + user) + salt) construction', () => {
    // Expected value computed with md5sum in a shell, not with this code.
    expect(md5PasswordResponse('alice', 'secret', Buffer.from([1, 2, 3, 4]))).toBe(EXPECTED_MD5);
  });
});

const EXPECTED_MD5 = 'md598a0412b9c31436fc53776e863350083';
