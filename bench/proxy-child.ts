/**
 * The Rolecall proxy for the benchmark, in its own process so pgbench and the
 * runner do not share its event loop and its RSS can be measured alone.
 * Driven over the IPC channel: start (profile + secrets), status, stop.
 * Secrets arrive over IPC, never on the command line or in the environment.
 */
import { timerWakeups } from './count-timers.js';
import path from 'node:path';
import v8 from 'node:v8';
import { createLogger } from '../src-main/core/log.js';
import { profileSchema } from '../src-main/core/profiles/schema.js';
import { MemorySecretStore } from '../src-main/core/secrets/memory-store.js';
import { ProxyService } from '../src-main/core/service.js';
import { scramWork } from '../src-main/core/sync/scram-verifier.js';
import type { ChildReply, ChildRequest } from './proxy-protocol.js';

let service: ProxyService | null = null;
let profileId = '';
/** BENCH_HEAP_SNAPSHOT_DIR: a heap snapshot at every status read after a gc (to compare 0 and 1,000 clients). */
const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
let snapshots = 0;

function send(reply: ChildReply): void {
  process.send?.(reply);
}

process.on('message', (raw) => {
  const m = raw as ChildRequest;
  void (async () => {
    try {
      switch (m.type) {
        case 'start': {
          const profile = profileSchema.parse(m.profile);
          const secrets = new MemorySecretStore();
          await secrets.set(profile.id, 'ldap-bind', m.bindPassword);
          await secrets.set(profile.id, 'sync', m.syncPassword);
          service = new ProxyService({ secrets, logger: createLogger({ level: 'error' }), tlsDir: m.tlsDir });
          await service.start(profile);
          profileId = profile.id;
          send({ type: 'started' });
          break;
        }
        case 'status': {
          if (m.gc) (globalThis as { gc?: () => void }).gc?.();
          if (m.gc && snapshotDir) v8.writeHeapSnapshot(path.join(snapshotDir, `proxy-${++snapshots}.heapsnapshot`));
          const proxy = service?.get(profileId);
          send({
            type: 'status',
            rssBytes: process.memoryUsage().rss,
            heapUsedBytes: process.memoryUsage().heapUsed,
            externalBytes: process.memoryUsage().external,
            heapTotalBytes: process.memoryUsage().heapTotal,
            cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
            timerWakeups: timerWakeups.count,
            node: process.versions.node,
            auth: proxy ? { ...proxy.authenticator.counters } : null,
            pool: proxy ? { ...proxy.pool.counters, idle: proxy.pool.idleCount() } : null,
            pbkdf2Runs: scramWork.pbkdf2Runs,
            sessions: proxy ? proxy.status().activeConnections : 0,
          });
          break;
        }
        case 'stop':
          await service?.stopAll(500);
          send({ type: 'stopped' });
          process.exit(0);
      }
    } catch (e) {
      send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
