import { ClientError, SqlState } from '../client-errors.js';
import {
  BackendCode,
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  MAX_CANCEL_LENGTH,
  MIN_CANCEL_LENGTH,
  SSL_REQUEST_CODE,
  cstring,
  message,
} from './wire.js';

/**
 * Client → proxy messages before authentication, framed by hand: pg-protocol's
 * Parser only reads server messages. Every reader is a pure function of bytes.
 */

export const MIN_STARTUP_LENGTH = 8;
export const MAX_STARTUP_LENGTH = 10_000;
/** PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH. */
export const MAX_PASSWORD_MESSAGE_LENGTH = 65_535;
const MAX_PARAMETERS = 64;

export type StartupPacket =
  | { type: 'ssl' }
  | { type: 'gssenc' }
  | { type: 'cancel'; pid: number; raw: Buffer }
  | { type: 'startup'; major: number; minor: number; params: Record<string, string>; protocolOptions: string[] };

/** A StartupMessage: the version the client asked for, its parameters, and the _pq_. options we do not speak. */
export type ClientStartup = Extract<StartupPacket, { type: 'startup' }>;

export type ReadResult<T> =
  | { status: 'incomplete' }
  | { status: 'ok'; value: T; consumed: number }
  /** error null: close without a word, as PostgreSQL does for garbage before a valid startup packet. */
  | { status: 'invalid'; error: ClientError | null };

const violation = (message: string): ClientError => new ClientError({ sqlstate: SqlState.protocolViolation, message });

export function readStartupPacket(buf: Buffer): ReadResult<StartupPacket> {
  if (buf.length < 4) return { status: 'incomplete' };
  const length = buf.readUInt32BE(0);
  if (length < MIN_STARTUP_LENGTH || length > MAX_STARTUP_LENGTH) return { status: 'invalid', error: null };
  if (buf.length < length) return { status: 'incomplete' };
  const code = buf.readUInt32BE(4);
  const packet = buf.subarray(0, length);

  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
    if (length !== 8) return { status: 'invalid', error: null };
    return { status: 'ok', value: { type: code === SSL_REQUEST_CODE ? 'ssl' : 'gssenc' }, consumed: length };
  }
  if (code === CANCEL_REQUEST_CODE) {
    if (length < MIN_CANCEL_LENGTH || length > MAX_CANCEL_LENGTH) return { status: 'invalid', error: null };
    return { status: 'ok', value: { type: 'cancel', pid: packet.readUInt32BE(8), raw: Buffer.from(packet) }, consumed: length };
  }

  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    return {
      status: 'invalid',
      error: new ClientError({
        sqlstate: SqlState.featureNotSupported,
        message: `unsupported frontend protocol ${major}.${minor}: Rolecall supports 3.0 to 3.2`,
        hint: 'Use a PostgreSQL client library from the last 20 years (libpq, pgjdbc, psycopg, node-postgres).',
      }),
    };
  }
  const parsed = parseParameters(packet.subarray(8));
  if (parsed instanceof ClientError) return { status: 'invalid', error: parsed };
  return { status: 'ok', value: { type: 'startup', major, minor, ...parsed }, consumed: length };
}

function parseParameters(body: Buffer): { params: Record<string, string>; protocolOptions: string[] } | ClientError {
  if (body.length === 0 || body[body.length - 1] !== 0) {
    return violation('invalid startup packet layout: expected terminator as last byte');
  }
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const protocolOptions: string[] = [];
  let offset = 0;
  let count = 0;
  // The final byte is the list terminator; every pair before it is name\0value\0.
  while (offset < body.length - 1) {
    const nameEnd = body.indexOf(0, offset);
    const name = body.toString('utf8', offset, nameEnd);
    if (name.length === 0) return violation('invalid startup packet layout: empty parameter name');
    // A value must end before the final byte, which is the list terminator.
    const valueEnd = nameEnd === body.length - 1 ? -1 : body.indexOf(0, nameEnd + 1);
    if (valueEnd === -1 || valueEnd === body.length - 1) {
      return violation('invalid startup packet layout: expected terminator as last byte');
    }
    const value = body.toString('utf8', nameEnd + 1, valueEnd);
    offset = valueEnd + 1;
    if (++count > MAX_PARAMETERS) return violation(`too many startup parameters (more than ${MAX_PARAMETERS})`);
    if (name.startsWith('_pq_.')) {
      protocolOptions.push(name);
      continue;
    }
    if (name in params) return violation(`duplicate startup parameter "${name}"`);
    params[name] = value;
  }
  return { params, protocolOptions };
}

/** PasswordMessage ('p'): the client's answer to AuthenticationCleartextPassword. */
export function readPasswordMessage(buf: Buffer): ReadResult<string> {
  if (buf.length < 1) return { status: 'incomplete' };
  if (buf[0] !== 0x70) {
    const shown = buf[0]! >= 0x20 && buf[0]! < 0x7f ? `"${String.fromCharCode(buf[0]!)}"` : `0x${buf[0]!.toString(16)}`;
    return { status: 'invalid', error: violation(`expected password response, got message type ${shown}`) };
  }
  if (buf.length < 5) return { status: 'incomplete' };
  const length = buf.readUInt32BE(1);
  if (length < 5 || length > MAX_PASSWORD_MESSAGE_LENGTH) {
    return { status: 'invalid', error: violation(`invalid password message length ${length}`) };
  }
  if (buf.length < length + 1) return { status: 'incomplete' };
  const body = buf.subarray(5, length + 1);
  if (body.indexOf(0) !== body.length - 1) {
    return { status: 'invalid', error: violation('invalid password packet: expected one terminator as last byte') };
  }
  return { status: 'ok', value: body.toString('utf8', 0, body.length - 1), consumed: length + 1 };
}

// ---- proxy → client messages ----

const AUTH_CLEARTEXT_PASSWORD = 3;

export function authenticationCleartextPassword(): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(AUTH_CLEARTEXT_PASSWORD, 0);
  return message('R', body);
}

/** The fields of an ErrorResponse or NoticeResponse body (S, V, C, M, D, H), NULs dropped, then the terminator. */
function responseFields(fields: { severity: string; sqlstate: string; message: string; detail?: string | undefined; hint?: string | undefined }): Buffer {
  const parts: Buffer[] = [];
  const field = (code: string, value: string | undefined) => {
    if (value === undefined) return;
    parts.push(Buffer.from(code, 'latin1'), Buffer.from(value.replace(/\0/g, ''), 'utf8'), Buffer.alloc(1));
  };
  field('S', fields.severity);
  field('V', fields.severity);
  field('C', fields.sqlstate);
  field('M', fields.message);
  field('D', fields.detail);
  field('H', fields.hint);
  parts.push(Buffer.alloc(1));
  return Buffer.concat(parts);
}

export function errorResponse(error: ClientError): Buffer {
  if (error.raw) return error.raw;
  return message('E', responseFields(error));
}

/** A NoticeResponse ('N'): what psql prints as "WARNING:  …" and "HINT:  …" and drivers hand to their notice handlers. */
export function noticeResponse(notice: { severity: 'WARNING' | 'NOTICE'; sqlstate: string; message: string; detail?: string; hint?: string }): Buffer {
  return message('N', responseFields(notice));
}

const AUTHENTICATION_OK_LENGTH = 1 + 4 + 4;

/**
 * The server's greeting with `extra` messages placed right after its
 * AuthenticationOk, where PostgreSQL puts its own startup warnings: libpq
 * refuses anything but an authentication request before it, and prints
 * notices that come after it. The greeting itself is not changed (a kept
 * server connection replays it to the next client). Without an
 * AuthenticationOk (never seen from a server) the greeting is returned as is.
 */
export function greetingWith(greeting: Buffer, extra: Buffer): Buffer {
  let at = 0;
  while (at + 5 <= greeting.length) {
    const type = greeting[at];
    const length = greeting.readUInt32BE(at + 1);
    const end = at + 1 + length;
    if (length < 4 || end > greeting.length) break;
    if (type === BackendCode.authentication && length + 1 === AUTHENTICATION_OK_LENGTH && greeting.readUInt32BE(at + 5) === 0) {
      return Buffer.concat([greeting.subarray(0, end), extra, greeting.subarray(end)]);
    }
    at = end;
  }
  return greeting;
}

/** NegotiateProtocolVersion ('v'): we speak 3.0 and list the options we did not recognise. */
export function negotiateProtocolVersion(newestMinor: number, unrecognised: string[]): Buffer {
  const body = Buffer.concat([Buffer.alloc(8), ...unrecognised.map(cstring)]);
  body.writeUInt32BE(newestMinor, 0);
  body.writeUInt32BE(unrecognised.length, 4);
  return message('v', body);
}
