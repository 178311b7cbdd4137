import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHS } from '../../src-main/core/broker-api/schema.js';
import type { BrokerProcess } from '../harness/broker.js';
import { freePort } from '../harness/ports.js';
import { metricSum, scrape, type Sample } from '../harness/prometheus.js';
import { startTeamEnv, USERS, type TeamEnv } from '../harness/team-env.js';

/*
 * The broker's Prometheus metrics, scraped from its own listener after real
 * sign-ins through the real broker process (slapd, PostgreSQL 18): the
 * counters a user's sign-in moves, the throttle answered without a bind,
 * database and directory outages, and no login or password in the output.
 */

let env: TeamEnv;
let broker: BrokerProcess;
let deadDirectory: BrokerProcess;

const metricsOn = { host: '127.0.0.1', port: 0 };

beforeAll(async () => {
  env = await startTeamEnv({ brokerConfig: (c) => ({ ...c, metrics: metricsOn, throttle: { holdSeconds: 60 } }) });
  broker = env.broker;
  const deadPort = await freePort();
  deadDirectory = await env.startBroker('dead-directory', (c) => ({ ...c, directory: { ...c.directory, url: `ldap://127.0.0.1:${deadPort}` } }));
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

const signIn = (b: BrokerProcess, login: string, password: string, database = 'app18') => b.post(PATHS.signIn, { login, password, database });

async function samples(b: BrokerProcess): Promise<Sample[]> {
  return (await scrape(b.metricsUrl!)).samples;
}

describe('broker metrics', () => {
  it('is served on its own port, plain HTTP, /metrics only, and not on the API', async () => {
    expect(broker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(broker.metricsUrl!).port).not.toBe(String(broker.port));
    const page = await scrape(broker.metricsUrl!);
    expect(page.contentType).toContain('text/plain');
    expect(metricSum(page.samples, 'rolecall_broker_build_info', { node: process.versions.node, version: '0.1.0' })).toBe(1);
    // prom-client's default process metrics, from this broker's registry.
    expect(page.samples.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
    expect(page.samples.some((s) => s.name.startsWith('nodejs_eventloop_lag'))).toBe(true);
    expect((await fetch(new URL('/', broker.metricsUrl)).then((r) => r.status))).toBe(404);
    expect((await broker.request('/metrics')).status).toBe(404);
  });

  it('counts sign-ins by outcome and SQLSTATE, with directory and sync latency', async () => {
    const before = await samples(broker);
    for (let i = 0; i < 3; i++) expect((await signIn(broker, 'alice', USERS.alice)).status).toBe(200);
    expect((await signIn(broker, 'bob', USERS.bob)).status).toBe(403);
    expect((await signIn(broker, 'alice', USERS.alice, 'no-such-db')).status).toBe(404);
    const after = await samples(broker);
    const moved = (name: string, labels: Record<string, string> = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
    expect(moved('rolecall_broker_sign_ins_total', { outcome: 'ok', sqlstate: '00000' })).toBe(3);
    expect(moved('rolecall_broker_sign_ins_total', { outcome: 'denied', sqlstate: '28000' })).toBe(1);
    expect(moved('rolecall_broker_sign_ins_total', { outcome: 'refused', sqlstate: '3D000' })).toBe(1);
    expect(moved('rolecall_broker_sign_in_duration_seconds_count')).toBe(5);
    expect(moved('rolecall_broker_sign_in_duration_seconds_count', { outcome: 'ok' })).toBe(3);
    // alice three times and bob once: four binds (the unknown database is refused before the directory).
    expect(moved('rolecall_broker_directory_duration_seconds_count', { operation: 'authenticate' })).toBe(4);
    expect(moved('rolecall_broker_sync_duration_seconds_count', { database: 'app18' })).toBe(3);
    expect(moved('rolecall_broker_directory_errors_total')).toBe(0);
    expect(moved('rolecall_broker_database_errors_total')).toBe(0);
  });

  it('counts a wrong password as denied and the next attempt as throttled, answered without a bind', async () => {
    const before = await samples(broker);
    expect((await signIn(broker, 'dave', 'not-daves-password')).status).toBe(401);
    expect((await signIn(broker, 'dave', USERS.dave)).status).toBe(401);
    expect((await signIn(broker, 'DAVE', 'again-wrong')).status).toBe(401);
    const after = await samples(broker);
    const moved = (name: string, labels: Record<string, string> = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
    expect(moved('rolecall_broker_sign_ins_total', { outcome: 'denied', sqlstate: '28P01' })).toBe(1);
    expect(moved('rolecall_broker_sign_ins_total', { outcome: 'throttled', sqlstate: '28P01' })).toBe(2);
    expect(moved('rolecall_broker_throttled_total')).toBe(2);
    expect(moved('rolecall_broker_directory_duration_seconds_count', { operation: 'authenticate' })).toBe(1);
    // A wrong password is the user's failure, not the directory's.
    expect(moved('rolecall_broker_directory_errors_total')).toBe(0);
  });

  it('counts a database the broker cannot reach, and a directory it cannot reach', async () => {
    const before = await samples(broker);
    const late = await signIn(broker, 'erin', USERS.erin, 'late');
    expect(late.status).toBeGreaterThanOrEqual(500);
    const after = await samples(broker);
    expect(metricSum(after, 'rolecall_broker_database_errors_total', { database: 'late', failure: 'unreachable' }) - metricSum(before, 'rolecall_broker_database_errors_total', { database: 'late', failure: 'unreachable' })).toBe(1);
    expect(metricSum(after, 'rolecall_broker_sign_ins_total', { outcome: 'error' }) - metricSum(before, 'rolecall_broker_sign_ins_total', { outcome: 'error' })).toBe(1);

    const r = await signIn(deadDirectory, 'alice', USERS.alice);
    expect(r.status).toBe(503);
    const dead = await samples(deadDirectory);
    expect(metricSum(dead, 'rolecall_broker_directory_errors_total', { operation: 'authenticate', failure: 'unreachable' })).toBe(1);
    expect(metricSum(dead, 'rolecall_broker_sign_ins_total', { outcome: 'error', sqlstate: '57P03' })).toBe(1);
  });

  it('never shows a login, a password or a team secret', async () => {
    const text = (await scrape(broker.metricsUrl!)).text + (await scrape(deadDirectory.metricsUrl!)).text;
    for (const word of ['alice', 'dave', 'erin', 'bob', 'DAVE', 'not-daves-password', 'again-wrong', ...Object.values(USERS), ...env.teamSecrets]) {
      expect(text).not.toContain(word);
    }
  });
});
