import { mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { daemon } from './daemon.js';
import { freePort, tempDir, waitFor } from './ports.js';
import { makeTestPki, type TestPki } from './tls.js';

export interface SlapdServer {
  /** ldap://127.0.0.1:<port> (StartTLS available). */
  url: string;
  /** ldaps://127.0.0.1:<tlsPort>. */
  ldapsUrl: string;
  port: number;
  tlsPort: number;
  baseDn: string;
  peopleDn: string;
  groupsDn: string;
  /** Read-only service account Rolecall binds as. */
  serviceDn: string;
  servicePassword: string;
  pki: TestPki;
  dir: string;
  userDn(uid: string): string;
  groupDn(cn: string): string;
  /** `policy`: the DN of a ppolicy entry for the user's pwdPolicySubentry (see addPolicy). */
  addUser(uid: string, password: string, extra?: { cn?: string; ou?: string; policy?: string }): Promise<string>;
  /** A ppolicy pwdPolicy entry under ou=policies (e.g. { pwdMaxAge: '172800' }); returns its DN. */
  addPolicy(cn: string, attributes: Record<string, string>): Promise<string>;
  /** The first value of each attribute (operational ones too), read as the administrator. */
  readAttributes(dn: string, attributes: string[]): Promise<Record<string, string | undefined>>;
  /** Every value of one attribute (operational ones too), read as the administrator: e.g. ppolicy's pwdFailureTime, one per failed bind. */
  readValues(dn: string, attribute: string): Promise<string[]>;
  /** Replaces an attribute's values as the administrator ([] deletes it). */
  setAttribute(dn: string, attribute: string, values: string[]): Promise<void>;
  /** The default policy's DN (slapd's ppolicy_default). */
  defaultPolicyDn: string;
  /** A groupOfNames; `members` are DNs (users or other groups). */
  addGroup(cn: string, members?: string[]): Promise<string>;
  addMembers(groupCn: string, memberDns: string[]): Promise<void>;
  removeMembers(groupCn: string, memberDns: string[]): Promise<void>;
  /** Locks the account for good, as an administrator would (ppolicy). */
  lockUser(uid: string): Promise<void>;
  unlockUser(uid: string): Promise<void>;
  /** Stops slapd and keeps its data; `startDaemon()` brings the same server back on the same ports. */
  stopDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  stop(): Promise<void>;
}

const BASE = 'dc=example,dc=test';
const ADMIN_DN = `cn=admin,${BASE}`;
/** groupOfNames requires a member: a new empty group holds this until real members arrive. */
const PLACEHOLDER = `cn=placeholder,${BASE}`;

function slapdConf(dir: string, adminPassword: string, pki: TestPki): string {
  const service = `cn=rolecall,ou=services,${BASE}`;
  return `
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload ppolicy
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
TLSCACertificateFile ${pki.caFile}
TLSCertificateFile ${pki.certFile}
TLSCertificateKeyFile ${pki.keyFile}

database mdb
suffix "${BASE}"
rootdn "${ADMIN_DN}"
rootpw ${adminPassword}
directory ${dir}/data
maxsize 104857600

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
overlay refint
refint_attributes member
overlay ppolicy
ppolicy_default "cn=default,ou=policies,${BASE}"

access to attrs=userPassword by self write by anonymous auth by * none
access to * by dn.exact="${service}" read by users read by * none
`;
}

/**
 * A real OpenLDAP slapd (~0.1 s) on two free ports: ldap:// (with StartTLS)
 * and ldaps://, both with a throwaway PKI. Runs as root (slapd does not
 * insist on dropping privileges), data under a temp dir, memberof + refint +
 * ppolicy overlays with a default policy so locked accounts really fail.
 */
export async function startSlapd(): Promise<SlapdServer> {
  if (!existsSync('/usr/sbin/slapd')) throw new Error('slapd not installed (apt-get install slapd ldap-utils)');
  const dir = tempDir('slapd');
  mkdirSync(path.join(dir, 'data'));
  const pkiDir = path.join(dir, 'pki');
  mkdirSync(pkiDir);
  const pki = makeTestPki(pkiDir);
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  const servicePassword = `svc-${Math.random().toString(36).slice(2)}`;
  const confFile = path.join(dir, 'slapd.conf');
  writeFileSync(confFile, slapdConf(dir, adminPassword, pki), { mode: 0o600 });

  const port = await freePort();
  const tlsPort = await freePort();
  const slapd = daemon('/usr/sbin/slapd', ['-f', confFile, '-h', `ldap://127.0.0.1:${port}/ ldaps://127.0.0.1:${tlsPort}/`, '-d', '0'], {
    stdout: false,
    graceMs: 5000,
  });
  slapd.start();

  const url = `ldap://127.0.0.1:${port}`;
  const admin = async <T>(work: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
    try {
      await c.bind(ADMIN_DN, adminPassword);
      return await work(c);
    } finally {
      await c.unbind().catch(() => undefined);
    }
  };
  const ready = (): Promise<boolean> =>
    waitFor('slapd', async () => {
      if (!slapd.alive) throw new Error(`slapd exited: ${slapd.output}`);
      return admin(async () => true);
    }, 15_000, 50);
  await ready();
  const startDaemon = async (): Promise<void> => {
    if (slapd.alive) return;
    slapd.start();
    await ready();
  };
  const stopDaemon = (): Promise<void> => slapd.stop();

  const peopleDn = `ou=people,${BASE}`;
  const groupsDn = `ou=groups,${BASE}`;
  const serviceDn = `cn=rolecall,ou=services,${BASE}`;
  await admin(async (c) => {
    await c.add(BASE, { objectClass: ['dcObject', 'organization'], o: 'Example', dc: 'example' });
    for (const ou of ['people', 'groups', 'services', 'policies']) {
      await c.add(`ou=${ou},${BASE}`, { objectClass: 'organizationalUnit', ou });
    }
    await c.add(`cn=default,ou=policies,${BASE}`, {
      objectClass: ['pwdPolicy', 'device'],
      cn: 'default',
      pwdAttribute: 'userPassword',
      pwdLockout: 'TRUE',
      pwdMaxFailure: '50',
    });
    await c.add(serviceDn, { objectClass: ['applicationProcess', 'simpleSecurityObject'], cn: 'rolecall', userPassword: servicePassword });
  });

  const userDn = (uid: string): string => `uid=${uid},${peopleDn}`;
  const groupDn = (cn: string): string => `cn=${cn},${groupsDn}`;
  const modifyMembers = async (groupCn: string, op: 'add', dns: string[]): Promise<void> => {
    await admin((c) => c.modify(groupDn(groupCn), new Change({ operation: op, modification: new Attribute({ type: 'member', values: dns }) })));
  };

  return {
    url,
    ldapsUrl: `ldaps://127.0.0.1:${tlsPort}`,
    port,
    tlsPort,
    baseDn: BASE,
    peopleDn,
    groupsDn,
    serviceDn,
    servicePassword,
    pki,
    dir,
    userDn,
    groupDn,
    defaultPolicyDn: `cn=default,ou=policies,${BASE}`,
    async addUser(uid, password, extra = {}) {
      const dn = extra.ou === undefined ? userDn(uid) : `uid=${uid},ou=${extra.ou},${BASE}`;
      if (extra.ou !== undefined) {
        await admin((c) => c.add(`ou=${extra.ou},${BASE}`, { objectClass: 'organizationalUnit', ou: extra.ou as string })).catch(() => undefined);
      }
      const entry: Record<string, string> = { objectClass: 'inetOrgPerson', uid, cn: extra.cn ?? uid, sn: 'Test', userPassword: password };
      if (extra.policy !== undefined) entry.pwdPolicySubentry = extra.policy;
      await admin((c) => c.add(dn, entry));
      return dn;
    },
    async addPolicy(cn, attributes) {
      const dn = `cn=${cn},ou=policies,${BASE}`;
      await admin((c) => c.add(dn, { objectClass: ['pwdPolicy', 'device'], cn, pwdAttribute: 'userPassword', ...attributes }));
      return dn;
    },
    async setAttribute(dn, attribute, values) {
      const modification = new Attribute({ type: attribute, values });
      await admin((c) => c.modify(dn, new Change({ operation: values.length === 0 ? 'delete' : 'replace', modification })));
    },
    async readValues(dn, attribute) {
      return admin(async (c) => {
        const { searchEntries } = await c.search(dn, { scope: 'base', attributes: [attribute] });
        const v = searchEntries[0]?.[attribute];
        return (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String);
      });
    },
    async readAttributes(dn, attributes) {
      return admin(async (c) => {
        const { searchEntries } = await c.search(dn, { scope: 'base', attributes });
        const entry = searchEntries[0];
        const out: Record<string, string | undefined> = {};
        for (const a of attributes) {
          const v = entry?.[a];
          const first = Array.isArray(v) ? v[0] : v;
          out[a] = first === undefined ? undefined : String(first);
        }
        return out;
      });
    },
    async addGroup(cn, members = []) {
      const dn = groupDn(cn);
      await admin((c) => c.add(dn, { objectClass: 'groupOfNames', cn, member: members.length > 0 ? members : [PLACEHOLDER] }));
      return dn;
    },
    addMembers: (cn, dns) => modifyMembers(cn, 'add', dns),
    async removeMembers(cn, dns) {
      // Replace rather than delete: the last member gives way to the placeholder.
      const gone = new Set(dns.map((d) => d.toLowerCase()));
      await admin(async (c) => {
        const { searchEntries } = await c.search(groupDn(cn), { scope: 'base', attributes: ['member'] });
        const current = searchEntries[0]?.member;
        const list = (Array.isArray(current) ? current : current === undefined ? [] : [current]).map(String);
        const left = list.filter((m) => !gone.has(m.toLowerCase()));
        await c.modify(groupDn(cn), new Change({ operation: 'replace', modification: new Attribute({ type: 'member', values: left.length > 0 ? left : [PLACEHOLDER] }) }));
      });
    },
    async lockUser(uid) {
      await admin((c) =>
        c.modify(userDn(uid), new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdAccountLockedTime', values: ['000001010000Z'] }) })),
      );
    },
    async unlockUser(uid) {
      await admin((c) => c.modify(userDn(uid), new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime' }) })));
    },
    stopDaemon,
    startDaemon,
    async stop() {
      await stopDaemon();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
