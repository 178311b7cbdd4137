import type { Parser } from 'pg-protocol/dist/parser.js';
import type { AuthenticationMD5Password, BackendMessage } from 'pg-protocol/dist/messages.js';
import { addressOf as where, type DatabaseEndpoint } from '../../database/endpoint.js';
import { SqlState } from '../../client-errors.js';
import { BackendCode, cstring, message, passwordMessage } from '../wire.js';
import type { UpstreamAuthMethod, UpstreamLogin } from './connection.js';
import { UpstreamError } from './error.js';
import { parseFrame, serverError, typeName, type FrameReader } from './frame-reader.js';
import { md5PasswordResponse } from './md5-password.js';
import { ScramClient, ScramError, SCRAM_MECHANISM } from './scram-client.js';

/** AuthenticationRequest codes (the int32 after 'R'). */
const AUTH = { ok: 0, kerberos: 2, cleartext: 3, md5: 5, gss: 7, gssContinue: 8, sspi: 9, sasl: 10, saslContinue: 11, saslFinal: 12 } as const;

function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(bytes.length, 0);
  return message('p', Buffer.concat([cstring(mechanism), len, bytes]));
}

/** One server conversation during the startup phase: how to read from it and write to it, and the greeting being kept. */
export interface StartupExchange {
  reader: FrameReader;
  parser: Parser;
  target: DatabaseEndpoint;
  send(b: Buffer): void;
  /** Messages to replay to the client, verbatim (see connection.ts). */
  greeting: Buffer[];
}

/**
 * The authentication exchange after the StartupMessage, as the user: answers
 * the server's requests (SCRAM-SHA-256, md5 or cleartext) until
 * AuthenticationOk, which is kept in the greeting with any notices before it.
 * Returns the method the server chose.
 */
export async function authenticate(server: StartupExchange, login: UpstreamLogin): Promise<UpstreamAuthMethod> {
  try {
    return await answerRequests(server, login);
  } catch (e) {
    if (e instanceof ScramError) {
      throw new UpstreamError('protocol', `SCRAM authentication with ${where(server.target)} failed: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

async function answerRequests({ reader, parser, target, send, greeting }: StartupExchange, login: UpstreamLogin): Promise<UpstreamAuthMethod> {
  let method: UpstreamAuthMethod = 'trust';
  let scram: ScramClient | undefined;
  let scramStep: 'first' | 'final' | 'done' = 'first';
  const protocolError = (what: string) => new UpstreamError('protocol', `server at ${where(target)} ${what}`);
  for (;;) {
    const frame = await reader.next();
    if (frame.code === BackendCode.errorResponse) throw serverError(parser, frame, target);
    if (frame.code === BackendCode.noticeResponse) {
      greeting.push(frame.raw);
      continue;
    }
    if (frame.code !== BackendCode.authentication || frame.raw.length < 9) {
      throw protocolError(`sent ${typeName(frame.code)} where an authentication request was expected`);
    }
    const authCode = frame.raw.readInt32BE(5);
    switch (authCode) {
      case AUTH.ok: {
        // Mutual authentication: a server that skips SASLFinal has not proven anything.
        if (scram && scramStep !== 'done') throw protocolError('ended SCRAM authentication without proving its identity');
        greeting.push(frame.raw);
        return method;
      }
      case AUTH.cleartext:
        method = 'password';
        send(passwordMessage(login.password));
        break;
      case AUTH.md5: {
        const m = parseFrame(parser, frame) as AuthenticationMD5Password;
        method = 'md5';
        send(passwordMessage(md5PasswordResponse(login.user, login.password, m.salt)));
        break;
      }
      case AUTH.sasl: {
        const m = parseFrame(parser, frame) as BackendMessage & { mechanisms: string[] };
        if (!m.mechanisms.includes(SCRAM_MECHANISM)) {
          const offered = m.mechanisms.join(', ') || 'none';
          throw new UpstreamError(
            'unsupported-auth',
            `server at ${where(target)} offers SASL mechanisms ${offered}; Rolecall supports ${SCRAM_MECHANISM} without channel binding` +
              (m.mechanisms.includes(`${SCRAM_MECHANISM}-PLUS`) ? ' (SCRAM-SHA-256-PLUS only is not supported)' : ''),
            { sqlstate: SqlState.featureNotSupported },
          );
        }
        method = 'scram-sha-256';
        scram = new ScramClient({ password: login.password, ...(login.scramKeyCache ? { keyCache: login.scramKeyCache } : {}) });
        send(saslInitialResponse(SCRAM_MECHANISM, scram.clientFirst()));
        break;
      }
      case AUTH.saslContinue: {
        if (!scram || scramStep !== 'first') throw protocolError('sent an unexpected SASL continue message');
        const m = parseFrame(parser, frame) as BackendMessage & { data: string };
        send(message('p', Buffer.from(scram.clientFinal(m.data), 'utf8')));
        scramStep = 'final';
        break;
      }
      case AUTH.saslFinal: {
        if (!scram || scramStep !== 'final') throw protocolError('sent an unexpected SASL final message');
        const m = parseFrame(parser, frame) as BackendMessage & { data: string };
        scram.verifyServerFinal(m.data);
        scramStep = 'done';
        break;
      }
      case AUTH.kerberos:
      case AUTH.gss:
      case AUTH.gssContinue:
      case AUTH.sspi: {
        const name = authCode === AUTH.kerberos ? 'Kerberos V5' : authCode === AUTH.sspi ? 'SSPI' : 'GSSAPI';
        throw new UpstreamError(
          'unsupported-auth',
          `server at ${where(target)} asks for ${name} authentication, which Rolecall does not support: ` +
            'use scram-sha-256 (or md5/password) for this user in pg_hba.conf',
          { sqlstate: SqlState.invalidAuthorization },
        );
      }
      default:
        throw new UpstreamError('unsupported-auth', `server at ${where(target)} asks for unknown authentication method ${authCode}`, {
          sqlstate: SqlState.invalidAuthorization,
        });
    }
  }
}
