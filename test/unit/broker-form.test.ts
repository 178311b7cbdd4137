import { describe, expect, it } from 'vitest';
import { profileSchema, type BrokerProfile } from '../../src-main/core/profiles/schema.js';
import { brokerDraftOf, brokerFieldOf, brokerInputOf, parseSessionDefaults } from '../../src-renderer/lib/broker-form.js';

// The broker profile editor's form model: what the user edits round-trips through the profile schema,
// and everything the editor does not show (the catalog's database, timeouts, cache) is kept.

function saved(): BrokerProfile {
  const p = profileSchema.parse({
    mode: 'broker',
    id: 'hr',
    name: 'HR',
    broker: { urls: ['https://broker-a.corp.test:8443', 'https://broker-b.corp.test:8443'], caFile: '/cfg/ca/broker.pem', database: 'hr', timeoutMs: 9000 },
    database: { host: 'hr.db.corp.test', database: 'hr', caFile: '/cfg/ca/hr.pem', sessionDefaults: { default_transaction_read_only: 'on' } },
    listen: { port: 5050 },
    cache: { marginSeconds: 90 },
  });
  if (p.mode !== 'broker') throw new Error('expected a broker profile');
  return p;
}

describe('broker profile form', () => {
  it('edits name, URLs, port, session defaults and revalidation, keeping the rest', () => {
    const base = saved();
    const draft = brokerDraftOf(base);
    expect(draft).toEqual({
      name: 'HR',
      urls: 'https://broker-a.corp.test:8443\nhttps://broker-b.corp.test:8443',
      listenPort: 5050,
      sessionDefaults: 'default_transaction_read_only=on',
      revalidateSeconds: 300,
    });
    const { input, errors } = brokerInputOf(
      { ...draft, name: ' HR (team) ', urls: 'https://broker-b.corp.test:8443, https://broker-a.corp.test:8443\n\n', listenPort: 5051, sessionDefaults: 'statement_timeout = 60s\n# a comment\n\ndefault_transaction_read_only=on' },
      base,
    );
    expect(errors).toEqual([]);
    const again = profileSchema.parse(input);
    expect(again).toEqual({
      ...base,
      name: 'HR (team)',
      broker: { ...base.broker, urls: ['https://broker-b.corp.test:8443', 'https://broker-a.corp.test:8443'] },
      database: { ...base.database, sessionDefaults: { statement_timeout: '60s', default_transaction_read_only: 'on' } },
      listen: { ...base.listen, port: 5051 },
    });
  });

  it('names a session default it cannot read, and the schema names a bad URL line', () => {
    expect(parseSessionDefaults('statement_timeout 60s\n=x')).toEqual({
      value: {},
      errors: ['line 1: write it as name=value (e.g. statement_timeout=60s)', 'line 2: write it as name=value (e.g. statement_timeout=60s)'],
    });
    const { input } = brokerInputOf({ ...brokerDraftOf(saved()), urls: 'https://ok.corp.test\nhttp://plain.corp.test' }, saved());
    const r = profileSchema.safeParse(input);
    expect(r.success).toBe(false);
    const path = r.error!.issues[0]!.path.join('.');
    expect(path).toBe('broker.urls.1');
    expect(brokerFieldOf(path)).toBe('broker.urls');
  });
});
