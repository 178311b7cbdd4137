import tls from 'node:tls';
import type { SignInResponse } from '../broker-api/schema.js';
import { brokerDenial } from '../auth/broker-denials.js';
import { BrokerClient, type BrokerClientConfig } from '../broker-client/broker-client.js';
import { BrokerFailure } from '../broker-client/broker-failure.js';
import { commonName, readPresentedCertificates } from '../broker-client/peer-certificate.js';
import type { Logger } from '../log.js';
import { tcpConnect } from './database-check.js';
import { messageOf, type BrokerStep, type Step } from './steps.js';

export interface BrokerUrlCheck {
  url: string;
  /** connect, tls, ready: it stops at the first that fails. */
  steps: Step<BrokerStep>[];
}

export interface BrokerCheck {
  ok: boolean;
  urls: BrokerUrlCheck[];
  /** With a login: the sign-in through the broker (failover included), and what it answered. */
  signIn?: { steps: Step<BrokerStep>[]; answer?: SignInResponse };
}

/**
 * `rolecall doctor` for a broker profile: each broker URL is reached (TCP),
 * its certificate verified as a sign-in verifies it (broker.caFile or the
 * trusted roots, host name checked), and asked GET /readyz; then, with a
 * login and password, one real sign-in for the profile's database. Only the
 * sign-in changes anything (the broker syncs the login, as at any sign-in).
 */
export async function checkBroker(
  config: BrokerClientConfig,
  database: string,
  options: { login?: string; password?: string; logger: Logger },
): Promise<BrokerCheck> {
  let client: BrokerClient;
  try {
    client = new BrokerClient({ ...config, deadUrlSeconds: 0 }, options.logger);
  } catch (e) {
    const step: Step<BrokerStep> = { step: 'tls', ok: false, message: messageOf(e) };
    return { ok: false, urls: config.urls.map((url) => ({ url, steps: [step] })) };
  }
  try {
    const urls: BrokerUrlCheck[] = [];
    for (const url of client.urls) urls.push({ url, steps: await checkUrl(client, url, config) });
    const result: BrokerCheck = { ok: urls.every((u) => u.steps.every((s) => s.ok)), urls };
    if (options.login !== undefined && options.password !== undefined) {
      result.signIn = await signIn(client, database, options.login, options.password);
      result.ok &&= result.signIn.steps.every((s) => s.ok);
    }
    return result;
  } finally {
    client.close();
  }
}

async function checkUrl(client: BrokerClient, url: string, config: BrokerClientConfig): Promise<Step<BrokerStep>[]> {
  const { hostname, port: givenPort } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(givenPort || 443);
  try {
    const socket = await tcpConnect(host, port, config.connectTimeoutMs);
    socket.destroy();
  } catch (e) {
    return [{ step: 'connect', ok: false, message: `cannot reach ${host}:${port} (${messageOf(e)}): check broker.urls, your VPN and the network` }];
  }
  const steps: Step<BrokerStep>[] = [{ step: 'connect', ok: true, message: `reached ${host}:${port}` }];
  let probe;
  try {
    probe = await client.probe(url);
  } catch (e) {
    if (e instanceof BrokerFailure && e.kind === 'certificate') {
      const presented = await presentedCertificate(url, config.connectTimeoutMs);
      steps.push({ step: 'tls', ok: false, message: `${e.message}${presented ? `; it presented ${presented}` : ''}: check broker.caFile` });
    } else steps.push({ step: 'tls', ok: false, message: messageOf(e) });
    return steps;
  }
  steps.push({ step: 'tls', ok: true, message: `encrypted (${probe.tls.protocol ?? 'TLS'}), ${describeCertificate(probe.tls.certificate)}, verified for ${host}` });
  if (probe.ready === null) {
    steps.push({ step: 'ready', ok: false, message: `GET /readyz answered HTTP ${probe.status} without a readiness report: is ${url} the broker's address?` });
  } else {
    const failing = probe.ready.checks.filter((c) => !c.ok);
    const checks = probe.ready.checks.map((c) => `${c.name} ${c.ok ? 'ok' : `failed: ${c.message}`}`).join('; ');
    const ok = probe.ready.ready && failing.length === 0;
    steps.push({
      step: 'ready',
      ok,
      message: ok ? `ready (${checks || 'no checks reported'})` : `not ready${probe.ready.draining ? ' (draining)' : ''}: ${checks || `HTTP ${probe.status}`}`,
    });
  }
  return steps;
}

async function signIn(client: BrokerClient, database: string, login: string, password: string): Promise<NonNullable<BrokerCheck['signIn']>> {
  try {
    const { value, url } = await client.signIn({ login, password, database, clientInfo: { application_name: 'rolecall doctor' } });
    const groups = value.groups.length > 0 ? value.groups.join(', ') : 'none';
    const roles = value.roles.length > 0 ? value.roles.join(', ') : 'none';
    return {
      steps: [{ step: 'sign in', ok: true, message: `${value.login} signed in through ${url}: groups ${groups}; roles ${roles}; database password valid until ${value.validUntil}` }],
      answer: value,
    };
  } catch (e) {
    const error = brokerDenial(e);
    return { steps: [{ step: 'sign in', ok: false, message: `${error.message} (${error.sqlstate})${error.hint ? `: ${error.hint}` : ''}` }] };
  }
}

/** Subject, issuer and expiry of a certificate, in words. */
function describeCertificate(cert: tls.PeerCertificate | null): string {
  if (!cert || Object.keys(cert).length === 0) return 'certificate verified';
  const name = (n: tls.Certificate | undefined) => n?.CN ?? n?.O ?? 'unnamed';
  return `certificate "${name(cert.subject)}" issued by "${name(cert.issuer)}" (valid until ${cert.valid_to})`;
}

/** What the server shows when its certificate is refused: a second handshake that checks nothing and sends nothing. */
async function presentedCertificate(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const leaf = (await readPresentedCertificates(url, { timeoutMs })).chain[0];
    if (!leaf) return null;
    const names = leaf.altNames ? ` for ${leaf.altNames}` : '';
    return `certificate "${commonName(leaf.subject)}" issued by "${commonName(leaf.issuer)}" (valid until ${leaf.validTo})${names}`;
  } catch {
    return null;
  }
}
