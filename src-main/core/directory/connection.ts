import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Client, InvalidCredentialsError, ResultCodeError, StrongAuthRequiredError, ConfidentialityRequiredError } from 'ldapts';
import type { Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { isUnreachable } from '../net-errors.js';
import { DirectoryError } from './errors.js';

/** Host and port from a profile URL (already validated by the schema). */
export function parseLdapUrl(url: string): { secure: boolean; host: string; port: number } {
  const u = new URL(url);
  const secure = u.protocol === 'ldaps:';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { secure, host, port: u.port ? Number(u.port) : secure ? 636 : 389 };
}

/**
 * TLS settings for ldaps:// or StartTLS: the profile's CA when given, the
 * hostname from the URL checked against the certificate, and verification
 * off only when the profile says so, which is logged every time.
 */
function tlsOptions(config: DirectoryConfig, host: string, logger: Logger): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: !config.insecureSkipVerify,
    // StartTLS hands ldapts a bare socket: name the host explicitly so the
    // certificate is checked against the URL, not against "localhost".
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
    logger.warn({ url: config.url }, 'directory TLS certificate NOT verified (insecureSkipVerify): anyone on the network path can impersonate the directory');
  }
  return options;
}

function within<T>(ms: number, what: string, work: Promise<T>, onTimeout: () => void): Promise<T> {
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
export function classifyError(e: unknown, config: DirectoryConfig, what: string): DirectoryError {
  if (e instanceof DirectoryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown }).code;
  if (isCertificateError(e)) {
    return new DirectoryError('misconfigured', `the directory's TLS certificate was not accepted (${message}); check caFile`, { cause: e });
  }
  if (e instanceof InvalidCredentialsError) {
    return new DirectoryError('misconfigured', `the directory rejected the service account ${config.bindDn} during ${what}`, { cause: e });
  }
  if (e instanceof StrongAuthRequiredError || e instanceof ConfidentialityRequiredError) {
    return new DirectoryError('misconfigured', `the directory requires an encrypted connection: use ldaps:// or StartTLS (${message})`, { cause: e });
  }
  if (e instanceof ResultCodeError) {
    return new DirectoryError('failed', `directory error during ${what}: ${message} (LDAP result ${e.code})`, { cause: e });
  }
  if (isUnreachable(code)) {
    return new DirectoryError('unreachable', `cannot reach the directory at ${config.url} (${code})`, { cause: e });
  }
  if (/^Connection timeout/.test(message)) {
    return new DirectoryError('unreachable', `no connection to the directory at ${config.url} within ${config.timeoutMs} ms`, { cause: e });
  }
  if (/timed out/i.test(message)) {
    return new DirectoryError('timeout', `directory did not answer ${what} within ${config.timeoutMs} ms`, { cause: e });
  }
  if (/Connection closed|Socket error/.test(message)) {
    return new DirectoryError('unreachable', `the directory closed the connection during ${what}`, { cause: e });
  }
  return new DirectoryError('failed', `directory error during ${what}: ${message}`, { cause: e });
}

/**
 * A connected client, TLS established (ldaps:// or StartTLS) and bound as the
 * service account. Callers must `unbind()` it; `withServiceConnection` does.
 */
async function openServiceConnection(config: DirectoryConfig, bindPassword: string, logger: Logger): Promise<Client> {
  const { secure, host } = parseLdapUrl(config.url);
  const client = new Client({
    url: config.url,
    timeout: config.timeoutMs,
    connectTimeout: config.timeoutMs,
    // Only for ldaps://: ldapts would otherwise wrap a plain ldap:// URL in TLS.
    ...(secure ? { tlsOptions: tlsOptions(config, host, logger) } : {}),
  });
  try {
    if (config.startTls && !secure) {
      const options = tlsOptions(config, host, logger);
      await within(config.timeoutMs, 'StartTLS', client.startTLS(options), () => void client.unbind().catch(() => undefined));
    }
    if (bindPassword.length === 0) {
      // An empty password is an anonymous bind on many servers: never "succeed" with it.
      throw new DirectoryError('misconfigured', 'no password is stored for the directory service account');
    }
    await client.bind(config.bindDn, bindPassword);
    return client;
  } catch (e) {
    await client.unbind().catch(() => undefined);
    throw classifyError(e, config, 'the service-account bind');
  }
}

/** Runs `work` on a fresh service-account connection and always closes it. */
export async function withServiceConnection<T>(
  config: DirectoryConfig,
  bindPassword: string,
  logger: Logger,
  what: string,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = await openServiceConnection(config, bindPassword, logger);
  try {
    return await work(client);
  } catch (e) {
    throw classifyError(e, config, what);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
