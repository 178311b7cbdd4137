import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { daemon } from './daemon.js';
import { tempDir, waitFor } from './ports.js';
import { makeTestPki, type TestPki } from './tls.js';

const run = promisify(execFile);
const DNS_HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'samba-dns.py');

/** One DNS record for `setDnsRecords`. */
export type SambaDnsRecord =
  | { type: 'A' | 'AAAA'; address: string; ttl?: number }
  | { type: 'SRV'; target: string; port: number; priority?: number; weight?: number; ttl?: number };

/** A running DC as plain data: what a test file needs to reach it and to change its users (see attachSambaAd). */
export interface SambaDescription {
  /** ldap://127.0.0.1 (port 389): simple binds need TLS here, as on a real DC. */
  url: string;
  /** ldaps://127.0.0.1 (port 636), certificate from `pki`. */
  ldapsUrl: string;
  realm: string;
  /** NetBIOS domain, for DOMAIN\user logins. */
  domain: string;
  baseDn: string;
  usersDn: string;
  /** A plain domain user Rolecall binds as (AD lets any user read users and groups). */
  serviceLogin: string;
  servicePassword: string;
  pki: TestPki;
  dir: string;
  /** The DC's own DNS name; its certificate is valid for it too. */
  hostName: string;
  /** smb.conf of the domain, for samba-tool. */
  conf: string;
  /** With `{ dns: true }`: the DC's internal DNS server (port 53), which publishes the domain's SRV records. */
  dnsServer?: string;
}

/** What a test does to the domain's users and groups, with samba-tool and ldb tools on its files. */
export interface SambaDirectory extends SambaDescription {
  /** DN is built by Samba from given name + surname: look it up, never guess it. */
  createUser(login: string, password: string, given: string, surname: string): Promise<void>;
  addGroup(name: string): Promise<void>;
  addMembers(group: string, members: string[]): Promise<void>;
  removeMembers(group: string, members: string[]): Promise<void>;
  disableUser(login: string): Promise<void>;
  /** Any other samba-tool command against this domain. */
  sambaTool(args: string[]): Promise<string>;
  /** Applies an LDIF change to the domain's database (ldbmodify), e.g. a user's userPrincipalName. */
  modify(ldif: string): Promise<void>;
  /** Reads the domain's database directly (ldbsearch, LDIF text): to check the DC's own view in a test. */
  ldbSearch(filter: string, attributes: string[]): Promise<string>;
}

export interface SambaServer extends SambaDirectory {
  /** With `{ dns: true }`: replaces the records of one name in the domain's DNS zones ([] removes it). */
  setDnsRecords(name: string, records: SambaDnsRecord[]): Promise<void>;
  /** Stops the DC process and keeps the domain; `startDaemon()` brings the same DC back on the same ports. */
  stopDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  /** The plain data of this DC, to hand to test files started elsewhere (attachSambaAd). */
  describe(): SambaDescription;
  stop(): Promise<void>;
}

/** A DC always listens on these: one Samba AD at a time per machine (per network namespace). */
const FIXED_PORTS = [389, 636, 3268, 3269];
const DNS_PORT = 53;

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL'));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

async function assertPortsFree(ports: number[]): Promise<void> {
  for (const port of ports) {
    for (const host of ['127.0.0.1', '::1']) {
      if (!(await portFree(port, host))) {
        throw new Error(
          `Samba AD needs TCP ports ${ports.join(', ')} on loopback, but ${host} port ${port} is already in use ` +
            '(another Samba test still running, or a local LDAP or DNS server?). Stop it and retry.',
        );
      }
    }
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A real Samba AD DC for CORP.TEST on loopback (~4 s: provision ~3 s, start
 * under 1 s). Only the LDAP service runs (ports 389, 636, 3268, 3269), with a
 * test CA and a server certificate for 127.0.0.1 and dc.corp.test in place of
 * Samba's own (which has no SAN). With `{ dns: true }` (provisioning ~2 s
 * longer) its internal DNS server runs too, on port 53, answering the SRV
 * records AD publishes (_ldap._tcp.dc._msdcs.corp.test, sites, _gc) and an
 * A record dc.corp.test → 127.0.0.1 (provisioning leaves loopback out).
 * Provision once per test file.
 */
export async function startSambaAd(options: { dns?: boolean } = {}): Promise<SambaServer> {
  if (!existsSync('/usr/sbin/samba')) {
    throw new Error('Samba AD DC not installed (apt-get install samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldb-tools)');
  }
  const dns = options.dns === true;
  await assertPortsFree(dns ? [...FIXED_PORTS, DNS_PORT] : FIXED_PORTS);
  const hostName = 'dc.corp.test';
  const dir = tempDir('samba');
  const tlsDir = path.join(dir, 'tls');
  mkdirSync(tlsDir);
  const pki = makeTestPki(tlsDir, undefined, [hostName]);
  const adminPassword = `Adm1n-${Math.random().toString(36).slice(2)}!`;
  const conf = path.join(dir, 'etc', 'smb.conf');
  // LDAP is all most tests need: fewer fixed ports, less to start.
  const services = dns ? 'ldap dns' : 'ldap';

  await run('samba-tool', [
    'domain', 'provision', '--use-rfc2307', '--realm=CORP.TEST', '--domain=CORP', '--server-role=dc',
    `--dns-backend=${dns ? 'SAMBA_INTERNAL' : 'NONE'}`,
    `--adminpass=${adminPassword}`, `--targetdir=${dir}`, '--host-name=dc', '--host-ip=127.0.0.1',
    '--option=interfaces = lo', '--option=bind interfaces only = yes',
    `--option=server services = ${services}`,
    `--option=log file = ${dir}/log.%m`, `--option=pid directory = ${dir}/run`,
    `--option=tls keyfile = ${pki.keyFile}`, `--option=tls certfile = ${pki.certFile}`, `--option=tls cafile = ${pki.caFile}`,
  ], { timeout: 120_000 });
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  mkdirSync(path.join(dir, 'cache'), { recursive: true });
  // Provisioning writes the services list its own way: pin it.
  writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^\s*server services = .*$/m, `\tserver services = ${services}`));

  const samba = daemon('samba', ['-s', conf, '-i', '-M', 'single'], { stdout: true, graceMs: 10_000 });
  const startDaemon = async (): Promise<void> => {
    if (samba.alive) return;
    samba.start();
    await waitFor('Samba LDAP ports', async () => {
      if (!samba.alive) throw new Error(`samba exited during start: ${samba.output.slice(-2000)}`);
      const ready = (await connects(636)) && (await connects(389)) && (!dns || (await connects(DNS_PORT)));
      return ready ? true : undefined;
    }, 30_000, 100);
  };
  const stopDaemon = (): Promise<void> => samba.stop();
  await startDaemon();

  const setDnsRecords = async (name: string, records: SambaDnsRecord[]): Promise<void> => {
    if (!dns) throw new Error('setDnsRecords needs startSambaAd({ dns: true })');
    // Samba's own Python bindings live with the system interpreter, not any other python3 on PATH.
    await run('/usr/bin/python3', [DNS_HELPER, conf, name, JSON.stringify(records)], { timeout: 60_000 });
  };

  const serviceLogin = 'svc-rolecall';
  const servicePassword = `Svc-${Math.random().toString(36).slice(2)}!9`;
  const description: SambaDescription = {
    url: 'ldap://127.0.0.1:389',
    ldapsUrl: 'ldaps://127.0.0.1:636',
    realm: 'CORP.TEST',
    domain: 'CORP',
    baseDn: 'DC=corp,DC=test',
    usersDn: 'CN=Users,DC=corp,DC=test',
    serviceLogin: `${serviceLogin}@corp.test`,
    servicePassword,
    pki,
    dir,
    hostName,
    conf,
    ...(dns ? { dnsServer: '127.0.0.1' } : {}),
  };
  const directory = attachSambaAd(description);
  await directory.sambaTool(['user', 'create', serviceLogin, servicePassword, '--given-name=Rolecall', '--surname=Service']);
  if (dns) await setDnsRecords(hostName, [{ type: 'A', address: '127.0.0.1' }]);

  return {
    ...directory,
    setDnsRecords,
    stopDaemon,
    startDaemon,
    describe: () => description,
    async stop() {
      await stopDaemon();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Users and groups of a DC started elsewhere (the browser suite's global
 * setup starts one for all its files): samba-tool and the ldb tools work on
 * the domain's files, whichever process runs the DC.
 */
export function attachSambaAd(d: SambaDescription): SambaDirectory {
  const sambaTool = async (args: string[]): Promise<string> => {
    const { stdout } = await run('samba-tool', [...args, '-s', d.conf], { timeout: 60_000 });
    return stdout;
  };
  const modify = async (ldif: string): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      const p = execFile('ldbmodify', ['-H', path.join(d.dir, 'private', 'sam.ldb')], { timeout: 60_000 }, (e, _out, err) =>
        e ? reject(new Error(`ldbmodify failed: ${err || e.message}`)) : resolve(),
      );
      p.stdin?.end(ldif);
    });
  };
  const ldbSearch = async (filter: string, attributes: string[]): Promise<string> => {
    const { stdout } = await run('ldbsearch', ['-H', path.join(d.dir, 'private', 'sam.ldb'), filter, ...attributes], { timeout: 60_000 });
    return stdout;
  };
  return {
    ...d,
    sambaTool,
    modify,
    ldbSearch,
    async createUser(login, password, given, surname) {
      await sambaTool(['user', 'create', login, password, `--given-name=${given}`, `--surname=${surname}`]);
    },
    async addGroup(name) {
      await sambaTool(['group', 'add', name]);
    },
    async addMembers(group, members) {
      await sambaTool(['group', 'addmembers', group, members.join(',')]);
    },
    async removeMembers(group, members) {
      await sambaTool(['group', 'removemembers', group, members.join(',')]);
    },
    async disableUser(login) {
      await sambaTool(['user', 'disable', login]);
    },
  };
}
