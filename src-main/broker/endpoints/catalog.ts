import type { CatalogRequest, CatalogResponse } from '../../core/broker-api/schema.js';
import { checkPassword, type BrokerDeps } from '../deps.js';

/** POST /v1/catalog: the databases this broker serves, for a directory user whose password checks out (same throttle as sign-in). */
export async function catalog(deps: BrokerDeps, req: CatalogRequest): Promise<CatalogResponse> {
  await checkPassword(deps, req.login, req.password);
  return { databases: [...deps.served.databases.values()].map((d) => d.entry) };
}
