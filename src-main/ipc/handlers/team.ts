import { promises as fs } from 'node:fs';
import type { CatalogEntry } from '../../core/broker-api/schema.js';
import { brokerDenial } from '../../core/auth/broker-denials.js';
import { BrokerClient, type BrokerClientConfig } from '../../core/broker-client/broker-client.js';
import { BrokerFailure } from '../../core/broker-client/broker-failure.js';
import {
  certificatesInPem,
  readPresentedCertificates,
  trustAnchor,
  type CertificateFacts,
} from '../../core/broker-client/peer-certificate.js';
import {
  brokerCaFileFor,
  caDirFor,
  CatalogImportConflict,
  profilesFromCatalog,
  saveCatalogImport,
  writeCaFile,
} from '../../core/profiles/from-catalog.js';
import { brokerSchema, isBrokerProfile, normalizeBrokerUrl, toFieldErrors, type Profile } from '../../core/profiles/schema.js';
import type { AppContext } from '../app-context.js';
import type { BrokerInspection, CatalogChoice, CertificateInfo, TeamAddResult } from '../contract.js';
import { applySaved } from './apply-outcome.js';
import { HandlerError, invalid, notFound } from './handler-error.js';
import { findProfile, loadConfig, serialized, storeErrors } from './profile-access.js';
import { checkPort, nextFreePort, profileOnPort, probePort } from './port-check.js';
import { prefixFields, defineHandler } from './result.js';
import { keepCatalog, keptCatalog } from './team-catalogs.js';
import type { HandlersFor } from './types.js';

/** Reading a certificate is one TLS handshake; a broker that takes longer is not one to sign in to. */
const INSPECT_TIMEOUT_MS = 5000;

/**
 * "Connect to your team": the broker's certificate shown before it is
 * trusted, the catalog signed in to with the user's directory password (used
 * for that one request, never stored), and broker profiles made from it, as
 * `rolecall profiles import --broker` makes them (core/profiles/from-catalog).
 * Every request that carries the password goes over TLS verified against the
 * stored CA (or the system's roots): BrokerClient never skips the check.
 */
export function teamHandlers(ctx: AppContext): HandlersFor<'team.inspect' | 'team.trust' | 'team.catalog' | 'team.add'> {
  const log = ctx.logger;
  return {
    'team.inspect': defineHandler('team.inspect', log, async ({ url, caFile }): Promise<BrokerInspection> => {
      const broker = brokerUrl(url);
      const ca = caFile === undefined ? undefined : await readCaFile(caFile);
      const presented = await readPresentedCertificates(broker, { timeoutMs: INSPECT_TIMEOUT_MS, ...(ca ? { ca: ca.pem } : {}) });
      let trustable: CertificateFacts | null = null;
      let problem = presented.problem;
      if (ca) trustable = presented.verified ? (ca.certificates[0] ?? null) : null;
      else if (!presented.verified) {
        // Offered only when trusting it is enough: its chain verifies with it and it names the host.
        const anchor = trustAnchor(presented.chain);
        if (anchor) {
          const withAnchor = await readPresentedCertificates(broker, { timeoutMs: INSPECT_TIMEOUT_MS, ca: anchor.pem });
          if (withAnchor.verified) trustable = anchor;
          else problem = `${problem}; trusting its certificate would not help: ${withAnchor.problem}`;
        }
      }
      return {
        url: broker,
        verified: presented.verified,
        verifiedBy: presented.verified ? (ca ? 'ca-file' : 'system') : null,
        problem,
        chain: presented.chain.map(info),
        caFile: ca ? ca.certificates.map(info) : null,
        trustable: trustable ? info(trustable) : null,
      };
    }),

    'team.trust': defineHandler('team.trust', log, async ({ url, fingerprint256, caFile }) => {
      const broker = brokerUrl(url);
      let pem: string;
      let trusted: CertificateFacts;
      if (caFile !== undefined) {
        const ca = await readCaFile(caFile);
        const shown = ca.certificates.find((c) => c.fingerprint256 === fingerprint256);
        if (!shown) throw invalid(`${caFile} no longer holds the certificate you were shown: check the broker again`, [{ path: 'caFile', message: 'changed since it was shown' }]);
        pem = ca.pem;
        trusted = shown;
      } else {
        const anchor = trustAnchor((await readPresentedCertificates(broker, { timeoutMs: INSPECT_TIMEOUT_MS })).chain);
        if (!anchor || anchor.fingerprint256 !== fingerprint256) {
          throw new HandlerError({
            code: 'refused',
            message: `${broker} now presents another certificate than the one you were shown (SHA-256 ${fingerprint256}): nothing was trusted. Check the broker again, and ask your team if it keeps changing`,
          });
        }
        pem = anchor.pem;
        trusted = anchor;
      }
      const check = await readPresentedCertificates(broker, { timeoutMs: INSPECT_TIMEOUT_MS, ca: pem });
      if (!check.verified) {
        throw new HandlerError({ code: 'refused', message: `trusting that certificate would not be enough for ${broker}: ${check.problem}. Nothing was stored` });
      }
      const file = brokerCaFileFor(caDirFor(ctx.configPath), broker);
      writeCaFile(file, pem);
      log.info({ broker, file, fingerprint256: trusted.fingerprint256, subject: trusted.subject }, 'broker certificate trusted');
      return { caFile: file, certificate: info(trusted) };
    }),

    'team.catalog': defineHandler('team.catalog', log, async ({ broker, login, password }) => {
      const config = await loadConfig(ctx);
      const settings = await catalogBroker(ctx, broker);
      let client: BrokerClient;
      try {
        client = new BrokerClient(settings, log);
      } catch (e) {
        if (e instanceof BrokerFailure) throw invalid(e.message, [{ path: 'broker.caFile', message: e.message }]);
        throw e;
      }
      let entries: CatalogEntry[];
      try {
        entries = (await client.catalog({ login: login.trim(), password })).value.databases;
      } catch (e) {
        // The broker's own words (28P01 one message for every bad credential, 28000 with the reason, 57P03 …).
        throw brokerDenial(e);
      } finally {
        client.close();
      }
      const databases = await choices(ctx, config.profiles, entries);
      const urls = new Set(client.urls);
      const gone = config.profiles
        .filter(isBrokerProfile)
        .filter((p) => p.broker.urls.some((u) => urls.has(normalizeBrokerUrl(u))) && !entries.some((e) => e.id === p.broker.database))
        .map((p) => ({ profileId: p.id, name: p.name, database: p.broker.database }));
      const catalogId = keepCatalog(ctx, { entries, brokerUrls: settings.urls, brokerCaFile: settings.caFile });
      log.info({ broker: client.urls, databases: entries.map((e) => e.id), gone: gone.map((g) => g.profileId) }, 'team catalog read');
      return { catalogId, brokerUrls: settings.urls, caFile: settings.caFile ?? null, databases, gone };
    }),

    'team.add': defineHandler('team.add', log, ({ catalogId, databases }) =>
      serialized(ctx, async (): Promise<TeamAddResult> => {
        const catalog = keptCatalog(ctx, catalogId);
        if (!catalog) throw notFound('this catalog answer is more than 10 minutes old: sign in to the broker again');
        const config = await loadConfig(ctx);
        const entries: CatalogEntry[] = [];
        const ports: Record<string, number> = {};
        for (const [i, chosen] of databases.entries()) {
          const entry = catalog.entries.find((e) => e.id === chosen.id);
          if (!entry) throw invalid(`the broker's catalog has no database "${chosen.id}"`, [{ path: `databases.${i}.id`, message: 'not in the catalog' }]);
          entries.push(entry);
          if (config.profiles.some((p) => p.id === entry.id)) continue;
          await ensurePortFree(ctx, config.profiles, databases, i);
          ports[entry.id] = chosen.port;
        }
        let plan;
        try {
          plan = await profilesFromCatalog(entries, {
            brokerUrls: catalog.brokerUrls,
            ...(catalog.brokerCaFile === undefined ? {} : { brokerCaFile: catalog.brokerCaFile }),
            caDir: caDirFor(ctx.configPath),
            existing: config.profiles,
            ports,
            replaceDirect: false,
          });
        } catch (e) {
          if (!(e instanceof CatalogImportConflict)) throw e;
          throw new HandlerError({
            code: 'conflict',
            message: `${e.ids.map((id) => `"${id}"`).join(', ')} already exist${e.ids.length === 1 ? 's' : ''} as a profile set up by hand: delete or rename ${e.ids.length === 1 ? 'it' : 'them'} first (\`rolecall profiles import --broker URL --replace\` turns ${e.ids.length === 1 ? 'it' : 'them'} into broker profiles on the same port)`,
          });
        }
        const errors = await saveCatalogImport(ctx.store, config, plan);
        if (errors) throw storeErrors(errors);
        log.info({ profiles: plan.profiles.map((p) => `${p.input.id} (${p.status})`) }, 'broker profiles added from the team catalog');
        const out: TeamAddResult = { profiles: [] };
        for (const p of plan.profiles) {
          const saved = await findProfile(ctx, p.input.id);
          const applied = p.status === 'new' ? ({ outcome: 'not-running' } as const) : await applySaved(ctx, saved, 'team.add');
          out.profiles.push({ id: saved.id, status: p.status === 'new' ? 'new' : 'updated', port: saved.listen.port, applied });
        }
        return out;
      }),
    ),
  };
}

function info(c: CertificateFacts): CertificateInfo {
  const { pem: _pem, ...rest } = c;
  return rest;
}

/** An https URL as profiles store it, or a field error on `url`. */
function brokerUrl(url: string): string {
  const parsed = brokerSchema.shape.urls.element.safeParse(url.trim());
  if (!parsed.success) throw invalid(parsed.error.issues[0]?.message ?? 'not a broker URL', prefixFields('url', toFieldErrors(parsed.error)));
  return normalizeBrokerUrl(parsed.data);
}

async function readCaFile(file: string): Promise<{ pem: string; certificates: CertificateFacts[] }> {
  let pem: string;
  try {
    pem = await fs.readFile(file, 'utf8');
  } catch (e) {
    const message = `cannot read ${file}: ${(e as Error).message}`;
    throw invalid(message, [{ path: 'caFile', message }]);
  }
  try {
    return { pem, certificates: certificatesInPem(pem) };
  } catch (e) {
    const message = `${file}: ${(e as Error).message}`;
    throw invalid(message, [{ path: 'caFile', message }]);
  }
}

/** The broker settings to read the catalog with: a profile's (Refresh from team), or the URLs and CA of the connect flow. */
async function catalogBroker(ctx: AppContext, broker: { profileId: string } | { urls: string[]; caFile?: string | undefined }): Promise<BrokerClientConfig> {
  if ('profileId' in broker) {
    const profile = await findProfile(ctx, broker.profileId);
    if (!isBrokerProfile(profile)) throw invalid(`profile "${profile.id}" was set up by hand: it has no team broker to refresh from`);
    return profile.broker;
  }
  const parsed = brokerSchema.safeParse({ urls: broker.urls.map((u) => u.trim()), ...(broker.caFile ? { caFile: broker.caFile } : {}), database: 'catalog' });
  if (!parsed.success) throw invalid('check the broker URL', prefixFields('broker', toFieldErrors(parsed.error)));
  return parsed.data;
}

/** The catalog's databases with the local port each would get and who holds its suggested port. */
async function choices(ctx: AppContext, profiles: Profile[], entries: CatalogEntry[]): Promise<CatalogChoice[]> {
  const chosen: { id: string; listen: { port: number } }[] = [];
  const out: CatalogChoice[] = [];
  for (const e of entries) {
    const existing = profiles.find((p) => p.id === e.id);
    const state = existing === undefined ? 'new' : isBrokerProfile(existing) ? 'present' : 'conflict';
    let suggestedPort = await checkPort(ctx.service, profiles, e.suggestedLocalPort, { exceptIds: [e.id] });
    const sibling = chosen.find((c) => c.listen.port === e.suggestedLocalPort);
    if (suggestedPort.free && sibling) suggestedPort = { ...suggestedPort, free: false, owner: `"${sibling.id}" of this catalog` };
    let localPort = existing?.listen.port ?? e.suggestedLocalPort;
    if (existing === undefined && !suggestedPort.free) {
      const next = await nextFreePort([...profiles, ...chosen], e.suggestedLocalPort + 1);
      suggestedPort = { ...suggestedPort, nextFree: next };
      localPort = next ?? e.suggestedLocalPort;
    }
    chosen.push({ id: e.id, listen: { port: localPort } });
    out.push({
      id: e.id,
      name: e.name,
      host: e.host,
      port: e.port,
      database: e.database,
      sslmode: e.sslmode,
      sessionDefaults: e.sessionDefaults,
      suggestedLocalPort: e.suggestedLocalPort,
      state,
      localPort,
      suggestedPort,
    });
  }
  return out;
}

/** A new profile's chosen port: not another profile's, not chosen twice, and free on this machine. */
async function ensurePortFree(ctx: AppContext, profiles: Profile[], databases: { id: string; port: number }[], i: number): Promise<void> {
  const { id, port } = databases[i]!;
  const path = `databases.${i}.port`;
  const other = profileOnPort(profiles, port, id);
  if (other) throw invalid(`port ${port} is already used by profile "${other.id}"`, [{ path, message: `used by profile "${other.id}"` }]);
  const twice = databases.find((d, j) => j !== i && d.port === port && !profiles.some((p) => p.id === d.id));
  if (twice) throw invalid(`port ${port} is chosen for "${id}" and "${twice.id}"`, [{ path, message: `also chosen for "${twice.id}"` }]);
  const probe = await probePort('127.0.0.1', port);
  if (!probe.free) {
    const check = await checkPort(ctx.service, profiles, port);
    const message = `port ${port} is taken${check.owner ? ` by ${check.owner}` : ''}${check.nextFree ? `: ${check.nextFree} is free` : ''}`;
    throw invalid(message, [{ path, message }]);
  }
}
