import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import {
  BusyError,
  Client,
  ConfidentialityRequiredError,
  InvalidCredentialsError,
  ResultCodeError,
  StrongAuthRequiredError,
  UnavailableError,
} from 'ldapts';
import type { Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { isUnreachable } from '../net-errors.js';
import { DirectoryError } from './errors.js';
import { serverUrl, type DirectoryServer } from './servers.js';

/** Work done against the directory, counted (never timed) for tests and `rolecall doctor`. */
export interface DirectoryCounters {
  /** TCP connections attempted to any directory server. */
  connections: number;
  /** Binds as the service account a server answered (one per pooled connection opened). */
  serviceBinds: number;
  /** Binds as a signing-in user a server answered, accepted or not (one per sign-in that reached a server). */
  userBinds: number;
}

/**
 * A simple bind, counted when a server answered it (accepted or refused):
 * ldapts connects on the first request, so a server that refused the
 * connection never saw a bind and does not count.
 */
export async function countedBind(client: Client, dn: string, password: string, count: () => void): Promise<void> {
  try {
    await client.bind(dn, password);
  } catch (e) {
    if (e instanceof ResultCodeError) count();
    throw e;
  }
  count();
}

/** What opening a connection needs besides the server. */
export interface ConnectContext {
  config: DirectoryConfig;
  logger: Logger;
  counters: DirectoryCounters;
  /** The address to connect to for a host name (the profile's DNS servers, when it names some). */
  resolveHost(host: string): Promise<string>;
}

/** Where an error happened, for its message. */
export interface ErrorContext {
  url: string;
  bindDn: string;
  timeoutMs: number;
}

/**
 * TLS settings for ldaps:// or StartTLS: the profile's CA when given, the
 * server's host name checked against the certificate (even when we connect
 * to an address found through the profile's DNS servers), and verification
 * off only when the profile says so, which is logged every time.
 */
function tlsOptions(config: DirectoryConfig, host: string, logger: Logger): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: !config.insecureSkipVerify,
    // StartTLS hands ldapts a bare socket: name the host explicitly so the
    // certificate is checked against the server's name, not against "localhost".
    checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
  };
  if (net.isIP(host) === 0) options.servername = host;
  if (config.caFile !== undefined) {
    try {
      options.ca = readFileSync(config.caFile);
    } catch (e) {
      throw new DirectoryError('misconfigured', `cannot read the directory CA file ${config.caFile}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (config.insecureSkipVerify) {
    logger.warn({ host }, 'directory TLS certificate NOT verified (insecureSkipVerify): anyone on the network path can impersonate the directory');
  }
  return options;
}

/** Rejects with a 'timeout' DirectoryError when `work` takes longer than `ms`; `onTimeout` cleans up. */
export function within<T>(ms: number, what: string, work: Promise<T>, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new DirectoryError('timeout', `directory did not answer ${what} within ${ms} ms`));
    }, ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** TLS errors that mean "this certificate is not trusted", as opposed to a network failure. */
function isCertificateError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('ERR_TLS_') || /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/.test(code))
  );
}


/**
 * Translates what ldapts or Node threw into a DirectoryError. Bind failures of
 * the *user* are handled by the caller; here a rejected bind is the service
 * account's, which is a configuration problem.
 */
export function classifyError(e: unknown, at: ErrorContext, what: string): DirectoryError {
  if (e instanceof DirectoryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown }).code;
  if (isCertificateError(e)) {
    return new DirectoryError('misconfigured', `the TLS certificate of ${at.url} was not accepted (${message}); check caFile`, { cause: e });
  }
  if (e instanceof InvalidCredentialsError) {
    return new DirectoryError('misconfigured', `the directory rejected the service account ${at.bindDn} during ${what}`, { cause: e });
  }
  if (e instanceof StrongAuthRequiredError || e instanceof ConfidentialityRequiredError) {
    return new DirectoryError('misconfigured', `the directory requires an encrypted connection: use ldaps:// or StartTLS (${message})`, { cause: e });
  }
  if (e instanceof BusyError || e instanceof UnavailableError) {
    return new DirectoryError('unreachable', `${at.url} is not serving requests (${message})`, { cause: e });
  }
  if (e instanceof ResultCodeError) {
    return new DirectoryError('failed', `directory error during ${what}: ${message} (LDAP result ${e.code})`, { cause: e });
  }
  if (isUnreachable(code)) {
    return new DirectoryError('unreachable', `cannot reach the directory at ${at.url} (${code})`, { cause: e });
  }
  if (/^Connection timeout/.test(message)) {
    return new DirectoryError('unreachable', `no connection to the directory at ${at.url} within ${at.timeoutMs} ms`, { cause: e });
  }
  if (/timed out/i.test(message)) {
    return new DirectoryError('timeout', `${at.url} did not answer ${what} within ${at.timeoutMs} ms`, { cause: e });
  }
  if (/Connection closed|Socket error|Socket connection not established/.test(message)) {
    return new DirectoryError('unreachable', `${at.url} closed the connection during ${what}`, { cause: e });
  }
  return new DirectoryError('failed', `directory error during ${what}: ${message}`, { cause: e });
}

/** Failures that say "this server, right now" rather than "this request": another server may do. */
export function isServerFailure(e: unknown): boolean {
  return e instanceof DirectoryError && (e.failure === 'unreachable' || e.failure === 'timeout');
}

export function errorContext(server: DirectoryServer, config: DirectoryConfig): ErrorContext {
  return { url: server.url, bindDn: config.bindDn, timeoutMs: config.timeoutMs };
}

/**
 * A client for one server, connected and encrypted (ldaps:// or StartTLS),
 * then `bind` run on it: all within the profile's timeoutMs, so a server that
 * accepts TCP and then says nothing costs one timeout, not three. Sockets are
 * unref'd: an idle pooled connection never keeps a process alive. Errors come
 * back classified; a DirectoryError thrown by `bind` (the user bind's own
 * verdict) passes through as it is. The client is closed on any failure.
 */
export async function openConnection(
  server: DirectoryServer,
  ctx: ConnectContext,
  what: string,
  bind: (client: Client, server: DirectoryServer) => Promise<void>,
): Promise<Client> {
  const { config, logger } = ctx;
  const at = errorContext(server, config);
  const address = await ctx.resolveHost(server.host);
  const secureOptions = server.secure ? tlsOptions(config, server.host, logger) : undefined;
  const startTlsOptions = !server.secure && config.startTls ? tlsOptions(config, server.host, logger) : undefined;
  const client = new Client({
    url: serverUrl(server.secure, address, server.port),
    timeout: config.timeoutMs,
    connectTimeout: config.timeoutMs,
    // Only for ldaps://: ldapts would otherwise wrap a plain ldap:// URL in TLS.
    ...(secureOptions ? { tlsOptions: secureOptions } : {}),
    createConnection: ((port: number, host: string) => net.connect(port, host).unref()) as typeof net.connect,
    createSecureConnection: ((...args: Parameters<typeof tls.connect>) => tls.connect(...args).unref()) as typeof tls.connect,
  });
  ctx.counters.connections++;
  const close = (): void => void client.unbind().catch(() => undefined);
  try {
    await within(
      config.timeoutMs,
      `${what} at ${server.url}`,
      (async () => {
        if (startTlsOptions) await client.startTLS(startTlsOptions);
        await bind(client, server);
      })(),
      close,
    );
    return client;
  } catch (e) {
    close();
    throw classifyError(e, at, what);
  }
}
