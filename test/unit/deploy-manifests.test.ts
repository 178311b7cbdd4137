import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IIoK8sApiAppsV1Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IIoK8sApiCoreV1Container } from 'kubernetes-models/v1/Container';
import { describe, expect, it } from 'vitest';
import { parseBrokerConfig, type BrokerConfig } from '../../src-main/broker/config.js';
import { parseCredentialKey, SECRET_VARS } from '../../src-main/broker/secrets.js';
import { DEPLOY, kustomizeBuild, only, readDockerfile, readSystemdService, readYamlDocuments, yaml, type K8sObject } from '../harness/deploy-files.js';

/*
 * deploy/: every manifest parses and validates against the Kubernetes schemas
 * (kubernetes-models), and the kustomize builds carry what an operator relies
 * on: probes on the broker's real endpoints and ports, a PDB, a locked-down
 * pod, secrets only as mounted files, a broker.json the broker accepts, a
 * grace period longer than the drain. The Dockerfile and the systemd unit run
 * the same command the Deployment does.
 */

const K8S = path.join(DEPLOY, 'kubernetes');
const BUILDS = { base: K8S, 'cert-manager': path.join(K8S, 'overlays/cert-manager'), example: path.join(K8S, 'overlays/example') };
const ROOT = path.resolve(DEPLOY, '..');

/** kubernetes-models validates the schema (types, required fields, enums); which model checks which kind. */
const MODELS: Record<string, (o: K8sObject) => { validate(): void }> = {
  Namespace: (o) => new Namespace(o as never),
  ServiceAccount: (o) => new ServiceAccount(o as never),
  ConfigMap: (o) => new ConfigMap(o as never),
  Secret: (o) => new Secret(o as never),
  Deployment: (o) => new Deployment(o as never),
  Service: (o) => new Service(o as never),
  PodDisruptionBudget: (o) => new PodDisruptionBudget(o as never),
  NetworkPolicy: (o) => new NetworkPolicy(o as never),
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const at = path.join(dir, f);
    if (statSync(at).isDirectory()) return yamlFiles(at);
    return /\.ya?ml$/.test(f) ? [at] : [];
  });
}

interface Pod {
  deployment: IIoK8sApiAppsV1Deployment;
  container: IIoK8sApiCoreV1Container;
  config: BrokerConfig;
  objects: K8sObject[];
}

function podOf(objects: K8sObject[]): Pod {
  const deployment = only<IIoK8sApiAppsV1Deployment>(objects, 'Deployment', 'rolecall-broker');
  const podSpec = deployment.spec!.template.spec!;
  expect(podSpec.containers).toHaveLength(1);
  const container = podSpec.containers[0]!;
  const configVolume = podSpec.volumes!.find((v) => v.name === 'config')!;
  const configMap = only<{ data: Record<string, string> }>(objects, 'ConfigMap', configVolume.configMap!.name);
  const parsed = parseBrokerConfig(configMap.data['broker.json'] ?? '');
  if (!parsed.ok) throw new Error(`broker.json in the ConfigMap: ${JSON.stringify(parsed.errors)}`);
  return { deployment, container, config: parsed.config, objects };
}

/** The file a path in the container comes from: [volume, key in it], by the longest mount that holds it. */
function mountedFrom(pod: Pod, file: string): { volume: string; key: string } | undefined {
  const mounts = [...(pod.container.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
  const m = mounts.find((x) => file.startsWith(`${x.mountPath}/`));
  return m === undefined ? undefined : { volume: m.name, key: file.slice(m.mountPath.length + 1) };
}

const builds = Object.fromEntries(Object.entries(BUILDS).map(([name, dir]) => [name, kustomizeBuild(dir)])) as Record<keyof typeof BUILDS, K8sObject[]>;

describe('deploy/kubernetes', () => {
  it('every YAML file parses, and every object of every build validates against the Kubernetes schemas', () => {
    const files = yamlFiles(K8S);
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) expect(readYamlDocuments(f).length, f).toBeGreaterThan(0);
    for (const [name, objects] of Object.entries(builds)) {
      for (const o of objects) {
        if (o.kind === 'Certificate') continue; // cert-manager's CRD, checked below
        const model = MODELS[o.kind];
        expect(model, `${name}: a ${o.kind} with no schema check here`).toBeDefined();
        expect(() => model!(o).validate(), `${name}: ${o.kind} ${o.metadata.name}`).not.toThrow();
        expect(o.metadata.namespace ?? (o.kind === 'Namespace' ? 'rolecall' : undefined), `${name}: ${o.kind} namespace`).toBe('rolecall');
      }
    }
    expect(builds.base.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  });

  it('a schema violation is caught (the check can fail)', () => {
    const pod = podOf(builds.base);
    const broken = structuredClone(pod.deployment) as unknown as K8sObject;
    ((broken.spec as { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } }).template.spec.containers[0]!.ports[0]!).containerPort = 'https';
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort/);
  });

  for (const [name, objects] of Object.entries(builds)) {
    describe(name, () => {
      const pod = podOf(objects);
      const spec = pod.deployment.spec!;
      const podSpec = spec.template.spec!;
      const labels = spec.template.metadata!.labels!;
      const matches = (selector: Record<string, string> | undefined) => selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);

      it('runs at least two replicas, rolled one at a time without losing capacity, kept by a PDB and spread across nodes', () => {
        expect(spec.replicas).toBeGreaterThanOrEqual(2);
        expect(spec.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
        expect(matches(spec.selector.matchLabels)).toBe(true);
        const pdb = only<PodDisruptionBudget>(objects, 'PodDisruptionBudget');
        expect(matches(pdb.spec!.selector!.matchLabels)).toBe(true);
        const budget = pdb.spec!.maxUnavailable ?? spec.replicas! - Number(pdb.spec!.minAvailable);
        expect(Number(budget)).toBeGreaterThanOrEqual(1);
        expect(Number(budget)).toBeLessThan(spec.replicas!);
        const spread = podSpec.topologySpreadConstraints ?? [];
        expect(spread.map((s) => s.topologyKey)).toContain('kubernetes.io/hostname');
        for (const s of spread) expect(matches(s.labelSelector?.matchLabels)).toBe(true);
      });

      it('probes /readyz and /healthz over HTTPS on the port the broker listens on, which the Service and the NetworkPolicy open', () => {
        const port = pod.container.ports!.find((p) => p.name === 'https')!;
        expect(port.containerPort).toBe(pod.config.listen.port);
        expect(pod.config.listen.host).toBe('0.0.0.0');
        const ready = pod.container.readinessProbe!.httpGet!;
        const live = pod.container.livenessProbe!.httpGet!;
        expect([ready.path, ready.scheme, ready.port]).toEqual(['/readyz', 'HTTPS', 'https']);
        expect([live.path, live.scheme, live.port]).toEqual(['/healthz', 'HTTPS', 'https']);
        // /readyz gives each server up to 5 s: a shorter probe timeout would fail a slow but healthy check.
        expect(pod.container.readinessProbe!.timeoutSeconds).toBeGreaterThan(5);
        const service = only<Service>(objects, 'Service');
        expect(matches(service.spec!.selector)).toBe(true);
        expect(service.spec!.ports!.map((p) => p.targetPort)).toEqual(['https']);
        const policy = only<NetworkPolicy>(objects, 'NetworkPolicy');
        expect(matches(policy.spec!.podSelector.matchLabels)).toBe(true);
        expect(policy.spec!.ingress!.flatMap((r) => r.ports!.map((p) => p.port))).toEqual(['https', 'metrics']);
      });

      it('serves /metrics on the container port named metrics, reachable only from the monitoring namespace', () => {
        expect(pod.config.metrics?.port).toBe(pod.container.ports!.find((p) => p.name === 'metrics')!.containerPort);
        expect(pod.config.metrics?.port).not.toBe(pod.config.listen.port);
        const policy = only<NetworkPolicy>(objects, 'NetworkPolicy');
        const rule = policy.spec!.ingress!.find((r) => r.ports!.some((p) => p.port === 'metrics'))!;
        expect(rule.ports!.map((p) => p.port)).toEqual(['metrics']);
        expect(rule.from?.length).toBeGreaterThan(0);
        for (const peer of rule.from!) expect(peer.namespaceSelector?.matchLabels).toBeDefined();
      });

      it('allows egress only to DNS, the directory and the databases', () => {
        const policy = only<NetworkPolicy>(objects, 'NetworkPolicy');
        expect(policy.spec!.policyTypes).toEqual(['Ingress', 'Egress']);
        const egress = policy.spec!.egress!;
        const ports = egress.flatMap((r) => r.ports!.map((p) => `${p.port}/${p.protocol}`)).sort();
        expect(ports).toEqual(['389/TCP', '53/TCP', '53/UDP', '5432/TCP', '636/TCP']);
        // Every rule names where it may go: none is open to everything.
        for (const rule of egress) expect(rule.to?.length).toBeGreaterThan(0);
        for (const block of egress.flatMap((r) => r.to!).filter((t) => t.ipBlock)) expect(block.ipBlock!.cidr).not.toBe('0.0.0.0/0');
      });

      it('runs as a non-root user with a read-only root filesystem, no privilege escalation, no capabilities, the runtime seccomp profile and no API token', () => {
        expect(podSpec.securityContext!.runAsNonRoot).toBe(true);
        expect(podSpec.securityContext!.runAsUser).toBeGreaterThan(0);
        expect(podSpec.securityContext!.seccompProfile!.type).toBe('RuntimeDefault');
        const sc = pod.container.securityContext!;
        expect(sc.runAsNonRoot).toBe(true);
        expect(sc.readOnlyRootFilesystem).toBe(true);
        expect(sc.allowPrivilegeEscalation).toBe(false);
        expect(sc.privileged ?? false).toBe(false);
        expect(sc.capabilities!.drop).toEqual(['ALL']);
        expect(sc.capabilities!.add ?? []).toEqual([]);
        expect(podSpec.automountServiceAccountToken).toBe(false);
        const account = only<ServiceAccount>(objects, 'ServiceAccount', podSpec.serviceAccountName);
        expect(account.automountServiceAccountToken).toBe(false);
        // The one writable place: the temp directory (tsx's compile cache), bounded.
        const tmp = podSpec.volumes!.find((v) => v.name === mountedFrom(pod, '/tmp/x')?.volume);
        expect(tmp?.emptyDir?.sizeLimit).toBeDefined();
        expect(pod.container.resources!.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
        expect(pod.container.resources!.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      });

      it('reads every secret from a file mounted from a Secret, never from the manifest or a plain variable', () => {
        const env = new Map((pod.container.env ?? []).map((e) => [e.name, e]));
        for (const variable of Object.values(SECRET_VARS)) {
          expect(env.has(variable), `${variable} set directly`).toBe(false);
          const file = env.get(`${variable}_FILE`)?.value;
          expect(file, `${variable}_FILE`).toBeDefined();
          const from = mountedFrom(pod, file!);
          const volume = podSpec.volumes!.find((v) => v.name === from?.volume);
          expect(volume?.secret?.secretName, `${variable}_FILE's volume`).toBe('rolecall-broker-secrets');
        }
        // No variable carries a value from a Secret (it would show in `kubectl describe` and /proc/…/environ).
        for (const e of pod.container.env ?? []) expect(e.valueFrom).toBeUndefined();
        for (const file of [pod.config.listen.tls.certFile, pod.config.listen.tls.keyFile]) {
          const volume = podSpec.volumes!.find((v) => v.name === mountedFrom(pod, file)?.volume);
          expect(volume?.secret?.secretName, file).toMatch(/^rolecall-broker-(tls|cert)$/);
        }
        const configMount = pod.container.volumeMounts!.find((m) => m.name === 'config')!;
        expect(`${configMount.mountPath}/broker.json`).toBe(pod.container.args![pod.container.args!.indexOf('--config') + 1]);
        for (const m of pod.container.volumeMounts!) if (m.mountPath !== '/tmp') expect(m.readOnly, m.mountPath).toBe(true);
      });

      it('gives a stopping pod longer than its preStop pause plus the broker\'s drain', () => {
        const preStop = pod.container.lifecycle?.preStop?.exec?.command ?? [];
        const pause = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
        expect(pause).toBeGreaterThan(0);
        expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(pause + pod.config.listen.drainSeconds);
      });

      it('holds no secret value: a Secret only comes from an overlay\'s generator of placeholder files that cannot work', () => {
        for (const secret of objects.filter((o) => o.kind === 'Secret') as unknown as Secret[]) {
          expect(name).toBe('example');
          const values = Object.values(secret.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8'));
          for (const v of values) expect(v).toMatch(/^<.*>\n?$/);
          expect(Object.keys(secret.data ?? {}).sort()).toEqual(['credential-key', 'ldap-bind-password', 'sync-password']);
          // The broker refuses the placeholder key outright instead of deriving passwords from it.
          const key = Buffer.from(secret.data!['credential-key']!, 'base64').toString('utf8');
          expect(parseCredentialKey(key, 'credential-key')).toEqual(expect.stringContaining('must be base64'));
        }
        expect(objects.some((o) => o.kind === 'Secret')).toBe(name === 'example');
        expect(JSON.stringify(objects)).not.toMatch(/stringData/);
      });
    });
  }

  it('cert-manager: a Certificate whose Secret the Deployment mounts for TLS, where the base mounts one made by hand', () => {
    const volume = (objects: K8sObject[]) => podOf(objects).deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'tls')!.secret!.secretName;
    expect(volume(builds.base)).toBe('rolecall-broker-tls');
    const certificate = only<{ apiVersion: string; spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string }; usages: string[] } }>(
      builds['cert-manager'],
      'Certificate',
    );
    expect(certificate.apiVersion).toBe('cert-manager.io/v1');
    expect(certificate.spec.secretName).toBe(volume(builds['cert-manager']));
    expect(certificate.spec.secretName).not.toBe('rolecall-broker-tls');
    expect(certificate.spec.usages).toContain('server auth');
    expect(certificate.spec.dnsNames).toContain('rolecall-broker.rolecall.svc');
    expect(certificate.spec.issuerRef.kind).toMatch(/^(Cluster)?Issuer$/);
  });

  it('example: the NetworkPolicy\'s placeholder CIDRs are replaced, and the image is set', () => {
    const cidrs = (objects: K8sObject[]) =>
      only<NetworkPolicy>(objects, 'NetworkPolicy').spec!.egress!.flatMap((r) => r.to!.flatMap((t) => (t.ipBlock ? [t.ipBlock.cidr] : [])));
    expect(cidrs(builds.base)).toEqual(['192.0.2.0/24', '198.51.100.0/24']);
    expect(cidrs(builds.example)).toEqual(['10.10.0.0/24', '10.20.0.0/16']);
    expect(podOf(builds.example).container.image).toBe('registry.corp.example.com/rolecall/broker:0.1.0');
  });

  // This machine has kubectl (its built-in kustomize); CI may not: then the hand-made build above stands alone.
  const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((f) => existsSync(f));
  it.runIf(kubectl !== undefined)('kubectl kustomize builds the same objects (names up to the generators\' hash)', () => {
    for (const [name, dir] of Object.entries(BUILDS)) {
      const real = yaml.loadAll(execFileSync(kubectl!, ['kustomize', dir], { encoding: 'utf8' })) as K8sObject[];
      const unhash = (s: string) => s.replace(/-[a-z0-9]{10}$/, '');
      // Generated names lose their hash; lists merged by name (volumes, containers) may come out in another order.
      const byName = (_k: string, v: unknown) =>
        Array.isArray(v) && v.every((x) => typeof (x as { name?: unknown } | null)?.name === 'string')
          ? [...(v as { name: string }[])].sort((a, b) => a.name.localeCompare(b.name))
          : v;
      const strip = (o: K8sObject): unknown => JSON.parse(JSON.stringify(o).replace(/"(rolecall-broker-(?:config|secrets))-[a-z0-9]{10}"/g, '"$1"'), byName);
      const key = (o: K8sObject) => `${o.kind}/${unhash(o.metadata.name)}`;
      const ours = new Map(builds[name as keyof typeof BUILDS].map((o) => [key(o), o]));
      expect([...real.map(key)].sort(), name).toEqual([...ours.keys()].sort());
      for (const o of real) expect(strip(o), `${name}: ${key(o)}`).toEqual(strip(ours.get(key(o))!));
    }
  });
});

describe('deploy/Dockerfile and the systemd unit', () => {
  const docker = readDockerfile();
  const pod = podOf(builds.base);

  it('builds on an official Node 20 image in stages, with production dependencies only, and runs as the pod\'s non-root user', () => {
    expect(docker.stages.length).toBeGreaterThanOrEqual(2);
    const image = readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8').match(/^ARG NODE_IMAGE=(\S+)$/m)?.[1];
    expect(image).toMatch(/^node:20\.\d+\.\d+-(bookworm|bullseye|trixie)-slim$/);
    expect(docker.runs.some((r) => /npm ci .*--omit=dev/.test(r))).toBe(true);
    expect(docker.user).toBe(`${pod.deployment.spec!.template.spec!.securityContext!.runAsUser}:${pod.deployment.spec!.template.spec!.securityContext!.runAsGroup}`);
    // What the image copies exists, and .dockerignore lets it into the build context.
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    for (const copy of docker.copies) {
      for (const source of copy.slice(0, -1)) {
        expect(existsSync(path.join(ROOT, source)), source).toBe(true);
        expect(ignore, source).toContain(source);
      }
    }
  });

  it('the image\'s ENTRYPOINT and CMD are `rolecall broker --config` on the file the Deployment mounts', () => {
    expect(docker.entrypoint).toEqual(['node', 'bin/rolecall.mjs', 'broker']);
    expect(existsSync(path.join(ROOT, docker.entrypoint[1]!))).toBe(true);
    expect(docker.cmd).toEqual(pod.container.args);
    expect(pod.container.command).toBeUndefined();
  });

  it('the systemd unit runs the same command, drains within its stop timeout, and keeps the secrets as credentials', () => {
    const unit = readSystemdService();
    const exec = unit.get('ExecStart')![0]!.split(/\s+/);
    expect(path.basename(exec[0]!)).toBe(docker.entrypoint[0]);
    expect(exec.slice(1)).toEqual([...docker.entrypoint.slice(1), ...docker.cmd]);
    expect(unit.get('KillSignal')).toEqual(['SIGTERM']);
    expect(Number(unit.get('TimeoutStopSec')![0])).toBeGreaterThan(pod.config.listen.drainSeconds);
    const credentials = new Map(unit.get('LoadCredential')!.map((c) => c.split(':', 2) as [string, string]));
    const env = new Map(unit.get('Environment')!.map((e) => e.split('=', 2) as [string, string]));
    for (const variable of Object.values(SECRET_VARS)) {
      expect(env.has(variable), `${variable} set directly`).toBe(false);
      const file = env.get(`${variable}_FILE`);
      expect(file, `${variable}_FILE`).toMatch(/^%d\//);
      expect(credentials.has(file!.slice(3)), `LoadCredential for ${file}`).toBe(true);
    }
    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['DynamicUser', 'yes'], ['ProtectHome', 'yes']]) expect(unit.get(k!), k).toEqual([v]);
    expect(unit.get('CapabilityBoundingSet')).toEqual(['']);
  });
});
