import { describe, expect, it } from 'vitest';
import {
  authenticationCleartextPassword,
  errorResponse,
  greetingWith,
  negotiateProtocolVersion,
  noticeResponse,
  readPasswordMessage,
  readStartupPacket,
} from '../../src-main/core/proxy/frontend-codec.js';
import { ClientError } from '../../src-main/core/client-errors.js';
import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST,
  PROTOCOL_3_0,
  SSL_REQUEST_CODE,
  cancelRequest,
  message,
  passwordMessage,
  startupMessage,
  startupPacket,
} from '../../src-main/core/proxy/wire.js';
import { packet } from '../harness/pg-wire.js';

const startup = (params: [string, string][], code = PROTOCOL_3_0): Buffer => startupMessage(params, code);

/** Eight bytes declaring a length they may not have. */
const lengthOnly = (length: number, code = PROTOCOL_3_0): Buffer => packet(length, code);

describe('readStartupPacket', () => {
  it('reads a protocol 3.0 startup message with its parameters', () => {
    const r = readStartupPacket(startup([['user', 'alice'], ['database', 'hr'], ['application_name', 'psql']]));
    expect(r.status).toBe('ok');
    if (r.status !== 'ok' || r.value.type !== 'startup') throw new Error('unexpected');
    expect(r.value.params).toEqual({ user: 'alice', database: 'hr', application_name: 'psql' });
    expect([r.value.major, r.value.minor]).toEqual([3, 0]);
  });

  it('waits for more bytes while the packet is incomplete', () => {
    const full = startup([['user', 'alice']]);
    expect(readStartupPacket(full.subarray(0, 3)).status).toBe('incomplete');
    expect(readStartupPacket(full.subarray(0, full.length - 1)).status).toBe('incomplete');
  });

  it.each([0, 3, 7, 10_001, 0x7fffffff, 0xffffffff])('closes silently on declared length %d', (len) => {
    expect(readStartupPacket(lengthOnly(len))).toEqual({ status: 'invalid', error: null });
  });

  it('recognises SSLRequest, GSSENCRequest and CancelRequest', () => {
    expect(readStartupPacket(lengthOnly(8, SSL_REQUEST_CODE))).toMatchObject({ status: 'ok', value: { type: 'ssl' } });
    expect(readStartupPacket(GSSENC_REQUEST)).toMatchObject({ status: 'ok', value: { type: 'gssenc' } });
    const cancel = cancelRequest(1234, Buffer.alloc(4));
    expect(readStartupPacket(cancel)).toMatchObject({ status: 'ok', value: { type: 'cancel', pid: 1234 } });
  });

  it('accepts 3.2 cancel keys up to 256 bytes and refuses odd lengths', () => {
    for (const [keyLen, ok] of [[4, true], [32, true], [256, true], [3, false], [257, false]] as const) {
      const b = startupPacket(CANCEL_REQUEST_CODE, Buffer.alloc(4 + keyLen));
      expect(readStartupPacket(b).status).toBe(ok ? 'ok' : 'invalid');
    }
  });

  it('refuses an SSLRequest with a body', () => {
    const b = startupPacket(SSL_REQUEST_CODE, Buffer.alloc(4));
    expect(readStartupPacket(b)).toEqual({ status: 'invalid', error: null });
  });

  it('answers unsupported protocol versions with 0A000', () => {
    for (const code of [2 << 16, 4 << 16]) {
      const r = readStartupPacket(startup([['user', 'alice']], code));
      expect(r.status).toBe('invalid');
      if (r.status === 'invalid') expect(r.error?.sqlstate).toBe('0A000');
    }
  });

  it('collects _pq_ options and minor versions for NegotiateProtocolVersion', () => {
    const r = readStartupPacket(startup([['user', 'alice'], ['_pq_.x', '1']], (3 << 16) | 9999));
    if (r.status !== 'ok' || r.value.type !== 'startup') throw new Error('unexpected');
    expect(r.value.minor).toBe(9999);
    expect(r.value.protocolOptions).toEqual(['_pq_.x']);
    expect(r.value.params).toEqual({ user: 'alice' });
  });

  it('refuses a missing terminator, a parameter without value and duplicates with 08P01', () => {
    const noTerm = Buffer.from(startup([['user', 'alice']]).subarray(0, -1));
    noTerm.writeUInt32BE(noTerm.length, 0);
    const cases = [noTerm, startup([['user', 'alice'], ['user', 'bob']])];
    const lone = Buffer.concat([lengthOnly(8 + 6), Buffer.from('user\0\0')]);
    lone.writeUInt32BE(lone.length, 0);
    // "user\0" then the terminator: the value swallowed the terminator.
    cases.push(lone);
    for (const c of cases) {
      const r = readStartupPacket(c);
      expect(r.status).toBe('invalid');
      if (r.status === 'invalid') expect(r.error?.sqlstate).toBe('08P01');
    }
  });
});

describe('readPasswordMessage', () => {
  const pw = passwordMessage;

  it('reads a password, including an empty one', () => {
    expect(readPasswordMessage(pw('s3cret'))).toEqual({ status: 'ok', value: 's3cret', consumed: 12 });
    expect(readPasswordMessage(pw(''))).toMatchObject({ status: 'ok', value: '' });
  });

  it('refuses oversized, NUL-less and wrong-type messages with 08P01', () => {
    const big = Buffer.alloc(5);
    big.write('p');
    big.writeUInt32BE(70_000, 1);
    const noNul = pw('abc');
    noNul[noNul.length - 1] = 0x41;
    const inner = pw('a\0b');
    for (const b of [big, noNul, inner, message('Q', Buffer.from('x'))]) {
      const r = readPasswordMessage(b);
      expect(r.status).toBe('invalid');
      if (r.status === 'invalid') expect(r.error?.sqlstate).toBe('08P01');
    }
  });
});

describe('server messages', () => {
  it('encodes AuthenticationCleartextPassword', () => {
    expect(authenticationCleartextPassword()).toEqual(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
  });

  it('encodes an ErrorResponse with severity, code, message and hint', () => {
    const b = errorResponse(new ClientError({ sqlstate: '28P01', message: 'nope', hint: 'try again' }));
    expect(b[0]).toBe(0x45);
    expect(b.readUInt32BE(1)).toBe(b.length - 1);
    const text = b.subarray(5).toString();
    expect(text).toContain('SFATAL\0');
    expect(text).toContain('C28P01\0');
    expect(text).toContain('Mnope\0');
    expect(text).toContain('Htry again\0');
  });

  it('encodes a NoticeResponse with severity, SQLSTATE, message and hint', () => {
    const b = noticeResponse({ severity: 'WARNING', sqlstate: '01000', message: 'your directory password expires in 3 days', hint: 'Change it.' });
    expect(b[0]).toBe(0x4e);
    expect(b.readUInt32BE(1)).toBe(b.length - 1);
    expect(b.subarray(5).toString()).toBe('SWARNING\0VWARNING\0C01000\0Myour directory password expires in 3 days\0HChange it.\0\0');
  });

  it('puts extra messages right after the greeting\'s AuthenticationOk, leaving the greeting itself alone', () => {
    const authOk = message('R', Buffer.from([0, 0, 0, 0]));
    const notice = message('N', Buffer.from('SNOTICE\0\0'));
    const rest = Buffer.concat([message('S', Buffer.from('TimeZone\0UTC\0')), message('K', Buffer.alloc(8)), message('Z', Buffer.from('I'))]);
    const greeting = Buffer.concat([notice, authOk, rest]);
    const copy = Buffer.from(greeting);
    const extra = noticeResponse({ severity: 'WARNING', sqlstate: '01000', message: 'x' });
    expect(greetingWith(greeting, extra)).toEqual(Buffer.concat([notice, authOk, extra, rest]));
    expect(greeting).toEqual(copy);
    // No AuthenticationOk (an SASL request is not one): unchanged, never spliced into the middle of a message.
    const sasl = message('R', Buffer.from([0, 0, 0, 10, 0x53, 0]));
    expect(greetingWith(Buffer.concat([sasl, rest]), extra)).toEqual(Buffer.concat([sasl, rest]));
  });

  it('encodes NegotiateProtocolVersion listing unrecognised options', () => {
    const b = negotiateProtocolVersion(0, ['_pq_.x']);
    expect(b[0]).toBe(0x76);
    expect(b.readUInt32BE(5)).toBe(0);
    expect(b.readUInt32BE(9)).toBe(1);
    expect(b.subarray(13).toString()).toBe('_pq_.x\0');
  });
});
