import { describe, expect, it } from 'vitest';
import { parseBrokerConfig, type BrokerConfigInput } from '../../src-main/broker/config.js';
import { RetryLaterError } from '../../src-main/broker/api-error.js';
import { createBrokerMetrics, recordDatabaseFailure, signInOutcome } from '../../src-main/broker/metrics.js';
import { ClientError } from '../../src-main/core/client-errors.js';
import { SyncError } from '../../src-main/core/sync/sync-client.js';
import { metricSum, parseMetrics } from '../harness/prometheus.js';

const config = (metrics?: unknown): BrokerConfigInput =>
  ({
    version: 1,
    listen: { host: '0.0.0.0', port: 8443, tls: { certFile: '/etc/rolecall/tls.crt', keyFile: '/etc/rolecall/tls.key' } },
    directory: { url: 'ldaps://dc1.corp.example.com:636', bindDn: 'svc@corp.example.com', baseDn: 'DC=corp,DC=example,DC=com', groupPrefix: 'pg-' },
    databases: [{ id: 'hr', name: 'HR', host: 'hr.db.example.com', database: 'hr', suggestedLocalPort: 6432 }],
    ...(metrics === undefined ? {} : { metrics }),
  }) as BrokerConfigInput;

describe('broker metrics', () => {
  it('are off unless broker.json asks; then loopback on 9464 by default, never the API port', () => {
    const off = parseBrokerConfig(JSON.stringify(config()));
    expect(off.ok && off.config.metrics).toBeUndefined();
    const on = parseBrokerConfig(JSON.stringify(config({})));
    expect(on.ok && on.config.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    const clash = parseBrokerConfig(JSON.stringify(config({ port: 8443 })));
    expect(clash.ok).toBe(false);
    if (!clash.ok) {
      expect(clash.errors.map((e) => e.path)).toEqual(['metrics.port']);
      expect(clash.errors[0]?.message).toMatch(/a port of their own/);
    }
    expect(parseBrokerConfig(JSON.stringify(config({ port: 9464, path: '/x' }))).ok).toBe(false);
  });

  it('tell a throttled login from a wrong password, a refusal and an outage', () => {
    expect(signInOutcome(undefined)).toEqual({ outcome: 'ok', sqlstate: '00000' });
    expect(signInOutcome(new ClientError({ sqlstate: '28P01', message: 'x' }))).toEqual({ outcome: 'denied', sqlstate: '28P01' });
    expect(signInOutcome(new RetryLaterError({ sqlstate: '28P01', message: 'x' }, 5))).toEqual({ outcome: 'throttled', sqlstate: '28P01' });
    expect(signInOutcome(new ClientError({ sqlstate: '28000', message: 'x' }))).toEqual({ outcome: 'denied', sqlstate: '28000' });
    expect(signInOutcome(new ClientError({ sqlstate: '3D000', message: 'x' }))).toEqual({ outcome: 'refused', sqlstate: '3D000' });
    expect(signInOutcome(new ClientError({ sqlstate: '57P03', message: 'x' }))).toEqual({ outcome: 'error', sqlstate: '57P03' });
    expect(signInOutcome(new Error('boom'))).toEqual({ outcome: 'error', sqlstate: 'XX000' });
    // A SQLSTATE label is five code characters, whatever an error carried.
    expect(signInOutcome(new ClientError({ sqlstate: 'alice wrote this', message: 'x' })).sqlstate).toBe('XX000');
  });

  it('keep one registry per broker, and count the sweep and database failures', async () => {
    const a = createBrokerMetrics();
    const b = createBrokerMetrics();
    a.sweep('hr', 'swept', 2, 1);
    a.sweep('hr', 'not-holder', 0, 0);
    a.leaseHeld('hr', true);
    recordDatabaseFailure(a, 'hr', new SyncError('unreachable', 'down'));
    recordDatabaseFailure(a, 'hr', new SyncError('no-roles', 'the user has none'));
    a.signIn('ok', '00000', 0.01);
    const sa = parseMetrics(await a.registry.metrics());
    const sb = parseMetrics(await b.registry.metrics());
    expect(metricSum(sa, 'rolecall_broker_sweep_runs_total', { database: 'hr', result: 'swept' })).toBe(1);
    expect(metricSum(sa, 'rolecall_broker_sweep_runs_total', { database: 'hr', result: 'not-holder' })).toBe(1);
    expect(metricSum(sa, 'rolecall_broker_sweep_revocations_total', { kind: 'revoked' })).toBe(2);
    expect(metricSum(sa, 'rolecall_broker_sweep_revocations_total', { kind: 'reduced' })).toBe(1);
    expect(metricSum(sa, 'rolecall_broker_sweep_lease_held', { database: 'hr' })).toBe(1);
    expect(metricSum(sa, 'rolecall_broker_database_errors_total')).toBe(1);
    expect(metricSum(sa, 'rolecall_broker_sign_ins_total')).toBe(1);
    expect(metricSum(sb, 'rolecall_broker_sign_ins_total')).toBe(0);
    expect(metricSum(sb, 'rolecall_broker_sweep_runs_total')).toBe(0);
  });
});
