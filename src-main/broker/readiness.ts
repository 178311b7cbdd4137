import type { ReadyResponse } from '../core/broker-api/schema.js';
import type { BrokerDeps } from './deps.js';

/** Each check gets this long; a server that does not answer is "not ready", not a hung probe. */
const CHECK_DEADLINE_MS = 5000;

function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${CHECK_DEADLINE_MS / 1000} s`)), CHECK_DEADLINE_MS);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * GET /readyz: the directory answers the service account, and every sync
 * target lets the broker's login in with Rolecall's SQL at version 2 or later.
 * Changes nothing; never names a secret.
 */
export async function readiness(deps: BrokerDeps, draining: boolean): Promise<ReadyResponse> {
  const directory = within(deps.directory.test(), 'the directory').then(
    (r) => ({ name: 'directory', ok: true, message: r.details }),
    (e: unknown) => ({ name: 'directory', ok: false, message: messageOf(e) }),
  );
  const databases = deps.served.pools.map((pool) =>
    within(pool.sync.installedVersion(), pool.where).then(
      (version) => {
        const name = `database ${pool.where}`;
        if (version === null) return { name, ok: false, message: `Rolecall's SQL is not installed in ${pool.where}` };
        if (Number(version) < 2) return { name, ok: false, message: `Rolecall's SQL in ${pool.where} is version ${version}; the broker needs 2 or later (run install.sql again)` };
        return { name, ok: true, message: `version ${version} installed, reached as ${deps.config.sync.user}` };
      },
      (e: unknown) => ({ name: `database ${pool.where}`, ok: false, message: messageOf(e) }),
    ),
  );
  const checks = await Promise.all([directory, ...databases]);
  if (draining) checks.push({ name: 'draining', ok: false, message: 'shutting down: finishing requests in flight' });
  return { ready: !draining && checks.every((c) => c.ok), draining, checks };
}
