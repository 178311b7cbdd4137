/**
 * DEMO ONLY: a tiny in-process LDAP server (ldapjs) holding the demo users and
 * groups, so `npm run demo` works on a machine with nothing but Node and npm.
 * Real profiles talk to Active Directory or OpenLDAP; the tests use real slapd
 * and Samba AD servers. This server implements just enough of LDAP (simple
 * bind, search with and/or/not/equality/presence filters) for the demo.
 */
import ldap from 'ldapjs';

export const DEMO_BASE_DN = 'dc=demo,dc=rolecall';
export const DEMO_SERVICE_DN = `cn=rolecall-service,ou=services,${DEMO_BASE_DN}`;

interface DemoEntry {
  dn: string;
  attributes: Record<string, string[]>;
  password?: string;
  locked?: boolean;
}

type Filter = {
  type?: string;
  attribute?: string;
  value?: unknown;
  filters?: Filter[];
  filter?: Filter;
  matches?: (obj: Record<string, string[]>, strict?: boolean) => boolean;
};

const norm = (dn: string) => dn.replace(/\s*,\s*/g, ',').toLowerCase();

export function demoEntries(servicePassword: string): DemoEntry[] {
  const person = (uid: string, cn: string, password: string, extra: Partial<DemoEntry> = {}): DemoEntry => ({
    dn: `uid=${uid},ou=people,${DEMO_BASE_DN}`,
    attributes: { objectClass: ['top', 'person', 'inetOrgPerson'], uid: [uid], cn: [cn], sn: [cn.split(' ').pop() ?? cn] },
    password,
    ...extra,
  });
  const group = (cn: string, members: string[]): DemoEntry => ({
    dn: `cn=${cn},ou=groups,${DEMO_BASE_DN}`,
    attributes: { objectClass: ['top', 'groupOfNames'], cn: [cn], member: members },
  });
  const alice = `uid=alice,ou=people,${DEMO_BASE_DN}`;
  const bob = `uid=bob,ou=people,${DEMO_BASE_DN}`;
  const pg = `uid=postgres,ou=people,${DEMO_BASE_DN}`;
  const analysts = `cn=hr-analysts,ou=groups,${DEMO_BASE_DN}`;
  const carol = person('carol', 'Carol Disabled', 'carol-pass', { locked: true });
  carol.attributes.pwdAccountLockedTime = ['000001010000Z'];
  return [
    { dn: DEMO_BASE_DN, attributes: { objectClass: ['top', 'domain'], dc: ['demo'] } },
    { dn: `ou=people,${DEMO_BASE_DN}`, attributes: { objectClass: ['organizationalUnit'], ou: ['people'] } },
    { dn: `ou=groups,${DEMO_BASE_DN}`, attributes: { objectClass: ['organizationalUnit'], ou: ['groups'] } },
    { dn: `ou=services,${DEMO_BASE_DN}`, attributes: { objectClass: ['organizationalUnit'], ou: ['services'] } },
    { dn: DEMO_SERVICE_DN, attributes: { objectClass: ['top', 'person'], cn: ['rolecall-service'], sn: ['service'] }, password: servicePassword },
    person('alice', 'Alice Analyst', 'alice-pass'),
    person('bob', 'Bob Builder', 'bob-pass'),
    carol,
    person('postgres', 'Postgres Impostor', 'postgres-pass'),
    group('heimdall-hr-data', [alice, pg]),
    group('hr-analysts', [alice]),
    group('heimdall-readonly', [analysts]),
    group('staff', [bob]),
  ];
}

/** Case-insensitive evaluation (LDAP matching rules for these attributes ignore case). */
function matches(filter: Filter, attrs: Record<string, string[]>): boolean {
  const get = (name: string) => {
    const key = Object.keys(attrs).find((k) => k.toLowerCase() === name.toLowerCase());
    return key ? attrs[key] ?? [] : [];
  };
  const type = (filter.type ?? '').toLowerCase();
  if (type === 'and' || type === 'andfilter') return (filter.filters ?? []).every((f) => matches(f, attrs));
  if (type === 'or' || type === 'orfilter') return (filter.filters ?? []).some((f) => matches(f, attrs));
  if (type === 'not' || type === 'notfilter') return filter.filter ? !matches(filter.filter, attrs) : false;
  if (type.startsWith('presen')) return get(filter.attribute ?? '').length > 0;
  if (type.startsWith('equal')) {
    const v = String(filter.value).toLowerCase();
    return get(filter.attribute ?? '').some((x) => norm(x) === norm(v) || x.toLowerCase() === v);
  }
  return filter.matches ? filter.matches(attrs, false) : false;
}

export interface DemoDirectory {
  url: string;
  close(): Promise<void>;
}

export async function startDemoDirectory(servicePassword: string): Promise<DemoDirectory> {
  const entries = demoEntries(servicePassword);
  const byDn = new Map(entries.map((e) => [norm(e.dn), e]));
  const server = ldap.createServer();

  server.bind(DEMO_BASE_DN, (req: { dn: { toString(): string }; credentials: string }, res: { end(): void }, next: (e?: unknown) => void) => {
    const entry = byDn.get(norm(req.dn.toString()));
    if (!entry?.password || entry.locked || req.credentials !== entry.password) return next(new ldap.InvalidCredentialsError());
    res.end();
    return next();
  });

  server.search(
    DEMO_BASE_DN,
    (
      req: { dn: { toString(): string }; scope: string; filter: Filter; attributes: string[]; connection: { ldap: { bindDN: { toString(): string } } } },
      res: { attributes: string[]; send(e: { dn: string; attributes: Record<string, string[]> }): void; end(): void },
      next: (e?: unknown) => void,
    ) => {
      const bound = norm(req.connection.ldap.bindDN.toString());
      if (!byDn.has(bound)) return next(new ldap.InsufficientAccessRightsError());
      const base = norm(req.dn.toString());
      const wanted = (req.attributes ?? []).map((a) => a.toLowerCase());
      // ldapjs compares requested names case-sensitively against lowercased ones: give it ours.
      res.attributes = wanted;
      for (const e of entries) {
        const dn = norm(e.dn);
        const inScope = req.scope === 'base' ? dn === base : req.scope === 'one' ? dn.endsWith(`,${base}`) && dn.slice(0, -(base.length + 1)).indexOf(',') === -1 : dn === base || dn.endsWith(`,${base}`);
        if (!inScope || !matches(req.filter, e.attributes)) continue;
        const attributes =
          wanted.length === 0 || wanted.includes('*')
            ? e.attributes
            : Object.fromEntries(Object.entries(e.attributes).filter(([k]) => wanted.includes(k.toLowerCase())));
        res.send({ dn: e.dn, attributes });
      }
      res.end();
      return next();
    },
  );

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = (server as unknown as { address(): { port: number } }).address();
  return {
    url: `ldap://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
