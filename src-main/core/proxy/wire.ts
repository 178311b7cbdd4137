/**
 * The PostgreSQL wire protocol as Rolecall writes it, on both sides: the
 * startup-phase codes, how a message is framed, and every message built in
 * more than one place. The proxy and the tests build packets with these (as
 * pg-protocol's serializer and its test buffers are one); reading stays with
 * the side that reads (frontend-codec.ts for clients, upstream/frame-reader.ts
 * for servers).
 */

const EMPTY = Buffer.alloc(0);

/** The version field of a StartupMessage for protocol 3.0 (major 3, minor 0). */
export const PROTOCOL_3_0 = (3 << 16) | 0;
/** Startup-phase request codes, sent where a StartupMessage has its version: 1234.5679 and so on. */
export const SSL_REQUEST_CODE = (1234 << 16) | 5679;
export const GSSENC_REQUEST_CODE = (1234 << 16) | 5680;
export const CANCEL_REQUEST_CODE = (1234 << 16) | 5678;

/** A startup-phase packet: int32 length (counting itself), int32 code or version, body. */
export function startupPacket(code: number, body: Buffer = EMPTY): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.writeUInt32BE(code >>> 0, 4);
  return Buffer.concat([head, body]);
}

export const SSL_REQUEST = startupPacket(SSL_REQUEST_CODE);
export const GSSENC_REQUEST = startupPacket(GSSENC_REQUEST_CODE);

/** A NUL-terminated string. */
export function cstring(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/** name\0value\0 pairs, then the NUL that ends the list (a StartupMessage's body). */
export function parameterList(pairs: Iterable<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of pairs) parts.push(Buffer.from(`${name}\0${value}\0`, 'utf8'));
  parts.push(Buffer.alloc(1));
  return Buffer.concat(parts);
}

/** A StartupMessage: the version (3.0 unless told) and its parameters. */
export function startupMessage(pairs: Iterable<readonly [string, string]>, version: number = PROTOCOL_3_0): Buffer {
  return startupPacket(version, parameterList(pairs));
}

/** A typed message, either direction: type byte, int32 length (counting itself), body. */
export function message(type: string, body: Buffer = EMPTY): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** PasswordMessage ('p') carrying a string: a cleartext password or an md5 response. */
export function passwordMessage(text: string): Buffer {
  return message('p', cstring(text));
}

/** A simple Query ('Q'). */
export function queryMessage(sql: string): Buffer {
  return message('Q', cstring(sql));
}

/** The frontend's Terminate ('X', no body): five fixed bytes. */
export const TERMINATE = message('X');

/**
 * CancelRequest: length, code, the backend's process id, then its secret key:
 * 4 bytes in protocol 3.0, 4 to 256 in 3.2. The key is the server's own
 * BackendKeyData, passed to the client unchanged, so a cancel is forwarded as it came.
 */
const CANCEL_KEY_OFFSET = 12;
export const MIN_CANCEL_LENGTH = CANCEL_KEY_OFFSET + 4;
export const MAX_CANCEL_LENGTH = CANCEL_KEY_OFFSET + 256;

export function cancelRequest(pid: number, key: Buffer): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(pid >>> 0, 0);
  return startupPacket(CANCEL_REQUEST_CODE, Buffer.concat([body, key]));
}

/** A whole, well-formed CancelRequest: its declared length is its size, within the key's bounds. */
export function isCancelRequest(packet: Buffer): boolean {
  return (
    packet.length >= MIN_CANCEL_LENGTH &&
    packet.length <= MAX_CANCEL_LENGTH &&
    packet.readUInt32BE(0) === packet.length &&
    packet.readUInt32BE(4) === CANCEL_REQUEST_CODE
  );
}

/** The backend a CancelRequest names; undefined when the packet is too short to name one. */
export function cancelTarget(packet: Buffer): { pid: number; key: Buffer } | undefined {
  if (packet.length < MIN_CANCEL_LENGTH) return undefined;
  return { pid: packet.readUInt32BE(8), key: packet.subarray(CANCEL_KEY_OFFSET) };
}

/** Backend message type bytes the proxy reads during the startup phase and a reset. */
export const BackendCode = {
  authentication: 0x52, // R
  errorResponse: 0x45, // E
  noticeResponse: 0x4e, // N
  parameterStatus: 0x53, // S
  backendKeyData: 0x4b, // K
  readyForQuery: 0x5a, // Z
  negotiateProtocolVersion: 0x76, // v
} as const;

/** ReadyForQuery's transaction status byte. */
export const TransactionStatus = {
  idle: 0x49, // I
  inTransaction: 0x54, // T
  failed: 0x45, // E
} as const;
