import type net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { ClientError, SqlState } from '../client-errors.js';
import { readStartupPacket, type ClientStartup } from './frontend-codec.js';
import { ProtocolClose, type PacketReader } from './packet-reader.js';

/** TLS ClientHello's first byte (a handshake record): PostgreSQL 17's direct TLS sends it instead of an SSLRequest. */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * The client began a TLS handshake although this profile has no local TLS:
 * after our 'N' to its SSLRequest (postgres.js with ssl: 'require' does this),
 * or directly (sslnegotiation=direct). It cannot read a plaintext
 * ErrorResponse, so the connection just closes; the log and history say why.
 */
export class TlsNotOffered extends ProtocolClose {
  readonly diagnosis: ClientError;

  constructor(direct: boolean) {
    super(null);
    const remedy = direct
      ? "turn on local TLS for this profile, or drop the client's sslnegotiation=direct and set its sslmode to prefer/disable"
      : "turn on local TLS for this profile, or set the client's sslmode to prefer/disable";
    this.diagnosis = new ClientError({
      sqlstate: SqlState.protocolViolation,
      message: `the client started TLS although this profile has no local TLS: ${remedy}`,
    });
  }
}

/** The client connection as negotiation sees it. */
export interface NegotiatingClient {
  readonly socket: net.Socket;
  readonly reader: PacketReader;
  /** Local TLS context when the profile enables it. */
  readonly tlsContext: tls.SecureContext | null;
  /** The client switched to TLS: from now on everything goes over `secure`. */
  secured(secure: tls.TLSSocket): void;
  /** A CancelRequest arrived (forward it; the connection then ends). */
  cancel(packet: Buffer): void;
}

/**
 * The startup phase, from the client's first byte to its StartupMessage:
 * SSLRequest is answered 'S' (then TLS) or 'N', GSSENCRequest 'N', direct TLS
 * is accepted with ALPN "postgresql" when local TLS is on, and a CancelRequest
 * is handed on. Returns the StartupMessage, or null when the client left or
 * only cancelled. A violation throws ProtocolClose; TLS from a client this
 * profile offers none throws TlsNotOffered.
 */
export async function negotiateStartup(client: NegotiatingClient): Promise<ClientStartup | null> {
  const { reader } = client;
  let tlsDone = false;
  let gssDone = false;
  for (;;) {
    if (!(await reader.waitForData())) return null;
    // No startup packet begins with this byte (its length would be over 300 MB): the client speaks TLS.
    if (reader.firstByte === TLS_HANDSHAKE_RECORD) {
      if (!client.tlsContext) throw new TlsNotOffered(!tlsDone);
      if (!tlsDone) {
        await startTls(client, true);
        tlsDone = true;
        continue;
      }
    }
    const packet = await reader.read(readStartupPacket);
    if (!packet) return null;
    switch (packet.type) {
      case 'ssl':
        refuseBufferedPlaintext(reader, 'SSL');
        if (tlsDone) throw new ProtocolClose(null);
        if (client.tlsContext) await startTls(client, false);
        else client.socket.write('N');
        // Answered either way: a second SSLRequest is a violation.
        tlsDone = true;
        break;
      case 'gssenc':
        refuseBufferedPlaintext(reader, 'GSSAPI encryption');
        if (gssDone || tlsDone) throw new ProtocolClose(null);
        gssDone = true;
        client.socket.write('N');
        break;
      case 'cancel':
        client.cancel(packet.raw);
        return null;
      case 'startup':
        return packet;
    }
  }
}

/** CVE-2021-23214: bytes that arrived with the request would be unencrypted. */
function refuseBufferedPlaintext(reader: PacketReader, what: string): void {
  if (reader.buffered > 0) {
    throw new ProtocolClose(new ClientError({ sqlstate: SqlState.protocolViolation, message: `received unencrypted data after ${what} request` }));
  }
}

async function startTls(client: NegotiatingClient, direct: boolean): Promise<void> {
  const context = client.tlsContext;
  if (!context) throw new ProtocolClose(null);
  const { socket, reader } = client;
  const pending = reader.detach();
  if (!direct) socket.write('S');
  // Direct TLS: the ClientHello was already read, so TLS must read it back through a stream wrapper.
  const transport = direct ? withPrefix(socket, pending) : socket;
  const secure = new tls.TLSSocket(transport, {
    isServer: true,
    secureContext: context,
    // Direct TLS must say it speaks PostgreSQL (ALPN), as the server requires.
    ALPNProtocols: ['postgresql'],
  });
  secure.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    secure.once('secure', () => resolve());
    secure.once('close', () => reject(new ProtocolClose(null)));
  });
  if (direct && secure.alpnProtocol !== 'postgresql') throw new ProtocolClose(null);
  client.secured(secure);
  reader.attach(secure);
}

/** A Duplex over the socket that first yields bytes already read from it. */
function withPrefix(socket: net.Socket, prefix: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  if (prefix.length > 0) stream.push(prefix);
  socket.on('data', (c: Buffer) => {
    if (!stream.push(c)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  socket.resume();
  return stream;
}
