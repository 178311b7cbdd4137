import type { Directory } from '../core/directory/directory.js';
import { DirectoryError } from '../core/directory/errors.js';
import { secondsSince, type BrokerMetrics, type DirectoryOperation } from './metrics.js';

/**
 * The directory with its time and its failures counted: every password check
 * (authenticate) and service-account lookup, whichever endpoint or the sweep
 * asked. A wrong password is timed but is not a directory error.
 */
export function meteredDirectory(directory: Directory, metrics: BrokerMetrics): Directory {
  const timed = async <T>(operation: DirectoryOperation, call: () => Promise<T>): Promise<T> => {
    const start = process.hrtime.bigint();
    try {
      const value = await call();
      metrics.directory(operation, secondsSince(start));
      return value;
    } catch (e) {
      metrics.directory(operation, secondsSince(start), e instanceof DirectoryError ? e.failure : 'failed');
      throw e;
    }
  };
  return {
    authenticate: (login, password) => timed('authenticate', () => directory.authenticate(login, password)),
    lookup: (login) => timed('lookup', () => directory.lookup(login)),
    test: () => directory.test(),
    probe: () => directory.probe(),
    report: () => directory.report(),
    close: () => directory.close(),
  };
}
