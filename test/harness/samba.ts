import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir, waitFor } from './ports.js';
import { makeTestPki, type TestPki } from './tls.js';

const run = promisify(execFile);

export interface SambaServer {
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
  /** DN is built by Samba from given name + surname: look it up, never guess it. */
  createUser(login: string, password: string, given: string, surname: string): Promise<void>;
  addGroup(name: string): Promise<void>;
  addMembers(group: string, members: string[]): Promise<void>;
  removeMembers(group: string, members: string[]): Promise<void>;
  disableUser(login: string): Promise<void>;
  /** Any other samba-tool command against this domain. */
  sambaTool(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** A DC always listens on these: one Samba AD at a time per machine. */
const FIXED_PORTS = [389, 636, 3268, 3269];

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL'));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

async function assertPortsFree(): Promise<void> {
  for (const port of FIXED_PORTS) {
    for (const host of ['127.0.0.1', '::1']) {
      if (!(await portFree(port, host))) {
        throw new Error(
          `Samba AD needs TCP ports ${FIXED_PORTS.join(', ')} on loopback, but ${host} port ${port} is already in use ` +
            '(another Samba test still running, or a local LDAP server?). Stop it and retry.',
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

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/**
 * A real Samba AD DC for CORP.TEST on loopback (~4 s: provision ~3 s, start
 * under 1 s). Only the LDAP service runs (ports 389, 636, 3268, 3269), with a
 * test CA and a server certificate for 127.0.0.1 in place of Samba's own
 * (which has no SAN). Provision once per test file.
 */
export async function startSambaAd(): Promise<SambaServer> {
  if (!existsSync('/usr/sbin/samba')) {
    throw new Error('Samba AD DC not installed (apt-get install samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldb-tools)');
  }
  await assertPortsFree();
  const dir = tempDir('samba');
  const tlsDir = path.join(dir, 'tls');
  mkdirSync(tlsDir);
  const pki = makeTestPki(tlsDir);
  const adminPassword = `Adm1n-${Math.random().toString(36).slice(2)}!`;
  const conf = path.join(dir, 'etc', 'smb.conf');

  await run('samba-tool', [
    'domain', 'provision', '--use-rfc2307', '--realm=CORP.TEST', '--domain=CORP', '--server-role=dc', '--dns-backend=NONE',
    `--adminpass=${adminPassword}`, `--targetdir=${dir}`, '--host-name=dc', '--host-ip=127.0.0.1',
    '--option=interfaces = lo', '--option=bind interfaces only = yes',
    // LDAP is all the tests need: fewer fixed ports, less to start.
    '--option=server services = ldap',
    `--option=log file = ${dir}/log.%m`, `--option=pid directory = ${dir}/run`,
    `--option=tls keyfile = ${pki.keyFile}`, `--option=tls certfile = ${pki.certFile}`, `--option=tls cafile = ${pki.caFile}`,
  ], { timeout: 120_000 });
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  mkdirSync(path.join(dir, 'cache'), { recursive: true });
  // Provisioning writes the services list its own way: pin it.
  writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^\s*server services = .*$/m, '\tserver services = ldap'));

  const child = spawn('samba', ['-s', conf, '-i', '-M', 'single'], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });
  await waitFor('Samba LDAP ports', async () => {
    if (exited) throw new Error(`samba exited during start: ${output.slice(-2000)}`);
    return (await connects(636)) && (await connects(389)) ? true : undefined;
  }, 30_000, 100);

  const sambaTool = async (args: string[]): Promise<string> => {
    const { stdout } = await run('samba-tool', [...args, '-s', conf], { timeout: 60_000 });
    return stdout;
  };

  const serviceLogin = 'svc-rolecall';
  const servicePassword = `Svc-${Math.random().toString(36).slice(2)}!9`;
  await sambaTool(['user', 'create', serviceLogin, servicePassword, '--given-name=Rolecall', '--surname=Service']);

  return {
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
    sambaTool,
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
    async stop() {
      if (!exited) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
