import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// js-yaml ships no types: the two functions used here, typed.
const require = createRequire(import.meta.url);
export const yaml = require('js-yaml') as { load(text: string): unknown; loadAll(text: string): unknown[] };

/*
 * Reads deploy/ the way the tools that use it do, for the tests: the
 * kustomize build of a directory (resources, generators, patches, namespace,
 * images; without the generators' hash suffix, which only renames), the
 * Dockerfile's final stage, the systemd unit's [Service] section.
 */

export const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');

/** A Kubernetes object as parsed from YAML. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

interface Generator {
  name: string;
  behavior?: 'create' | 'replace' | 'merge';
  files?: string[];
  type?: string;
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
  patches?: { path?: string; patch?: string; target?: { kind?: string; name?: string } }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every YAML document of a file (empty ones dropped). */
export function readYamlDocuments(file: string): unknown[] {
  return yaml.loadAll(readFileSync(file, 'utf8')).filter((d: unknown) => d !== null && d !== undefined);
}

/** The kustomization of a directory, as parsed. */
export function readKustomization(dir: string): Kustomization {
  return yaml.load(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
}

/** A strategic merge patch as Kubernetes applies one to these kinds: maps merge, lists of named items merge by name, other lists are replaced. */
export function strategicMerge(target: Json, patch: Json): Json {
  if (isObject(target) && isObject(patch)) {
    const out: JsonObject = { ...target };
    for (const [k, v] of Object.entries(patch)) out[k] = k in target ? strategicMerge(target[k] as Json, v) : v;
    return out;
  }
  if (Array.isArray(target) && Array.isArray(patch) && patch.every((p) => isObject(p) && typeof p.name === 'string')) {
    const out = [...target];
    for (const p of patch as JsonObject[]) {
      const i = out.findIndex((t) => isObject(t) && t.name === p.name);
      if (i >= 0) out[i] = strategicMerge(out[i] as Json, p);
      else out.push(p);
    }
    return out;
  }
  return patch;
}

/** RFC 6902 `replace` and `add` (the operations our overlays use); anything else is refused so a new one gets implemented, not ignored. */
export function jsonPatch(target: Json, ops: { op: string; path: string; value: Json }[]): Json {
  const doc = structuredClone(target);
  for (const op of ops) {
    if (op.op !== 'replace' && op.op !== 'add') throw new Error(`JSON patch op ${op.op} is not implemented here`);
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    if (last === undefined) throw new Error(`JSON patch path ${op.path} names the document`);
    let at: Json = doc;
    for (const k of keys) {
      at = (Array.isArray(at) ? at[Number(k)] : isObject(at) ? at[k] : undefined) as Json;
      if (at === undefined || at === null) throw new Error(`JSON patch path ${op.path}: no ${k}`);
    }
    if (Array.isArray(at)) {
      const i = last === '-' ? at.length : Number(last);
      if (op.op === 'replace' && at[i] === undefined) throw new Error(`JSON patch replace ${op.path}: nothing there`);
      if (op.op === 'add') at.splice(i, 0, op.value);
      else at[i] = op.value;
    } else if (isObject(at)) {
      if (op.op === 'replace' && !(last in at)) throw new Error(`JSON patch replace ${op.path}: nothing there`);
      at[last] = op.value;
    }
  }
  return doc;
}

/** Splits a generator's `key=path` (or `path`, keyed by its file name). */
function generatorFiles(dir: string, g: Generator): Record<string, string> {
  return Object.fromEntries(
    (g.files ?? []).map((f) => {
      const [key, file] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [path.basename(f), f];
      return [key, readFileSync(path.join(dir, file), 'utf8')];
    }),
  );
}

function addGenerated(objects: K8sObject[], generated: K8sObject, behavior: Generator['behavior']): void {
  const i = objects.findIndex((o) => o.kind === generated.kind && o.metadata.name === generated.metadata.name);
  if (behavior === 'replace' || behavior === 'merge') {
    if (i < 0) throw new Error(`${generated.kind} ${generated.metadata.name}: behavior ${behavior} but the base has none`);
    objects[i] = behavior === 'replace' ? generated : (strategicMerge(objects[i] as unknown as Json, generated as unknown as Json) as unknown as K8sObject);
  } else {
    if (i >= 0) throw new Error(`${generated.kind} ${generated.metadata.name} is generated twice`);
    objects.push(generated);
  }
}

/** What `kubectl kustomize DIR` builds, minus the generators' name hashes. */
export function kustomizeBuild(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const at = path.join(dir, r);
    if (statSync(at).isDirectory()) objects.push(...kustomizeBuild(at));
    else objects.push(...(readYamlDocuments(at) as K8sObject[]));
  }
  for (const g of k.configMapGenerator ?? []) {
    addGenerated(objects, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data: generatorFiles(dir, g) }, g.behavior);
  }
  for (const g of k.secretGenerator ?? []) {
    const data = Object.fromEntries(Object.entries(generatorFiles(dir, g)).map(([key, v]) => [key, Buffer.from(v).toString('base64')]));
    addGenerated(objects, { apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: g.type ?? 'Opaque', data }, g.behavior);
  }
  for (const p of k.patches ?? []) {
    if (p.path !== undefined) {
      const patch = yaml.load(readFileSync(path.join(dir, p.path), 'utf8')) as K8sObject;
      const i = objects.findIndex((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
      if (i < 0) throw new Error(`patch ${p.path}: no ${patch.kind} ${patch.metadata.name} to patch`);
      objects[i] = strategicMerge(objects[i] as unknown as Json, patch as unknown as Json) as unknown as K8sObject;
    } else if (p.patch !== undefined) {
      const ops = yaml.load(p.patch) as { op: string; path: string; value: Json }[];
      const targets = objects.filter((o) => (p.target?.kind ?? o.kind) === o.kind && (p.target?.name ?? o.metadata.name) === o.metadata.name);
      if (targets.length === 0) throw new Error(`inline patch: no ${p.target?.kind} ${p.target?.name} to patch`);
      for (const t of targets) objects[objects.indexOf(t)] = jsonPatch(t as unknown as Json, ops) as unknown as K8sObject;
    }
  }
  if (k.namespace !== undefined) {
    for (const o of objects) if (o.kind !== 'Namespace') o.metadata = { ...o.metadata, namespace: k.namespace };
  }
  for (const image of k.images ?? []) {
    for (const o of objects) {
      const containers = ((o.spec as JsonObject | undefined)?.template as JsonObject | undefined)?.spec as JsonObject | undefined;
      for (const c of (containers?.containers as JsonObject[] | undefined) ?? []) {
        if (typeof c.image === 'string' && c.image.replace(/(@.*|:[^/:]*)$/, '') === image.name) c.image = `${image.newName ?? image.name}${image.newTag === undefined ? '' : `:${image.newTag}`}`;
      }
    }
  }
  return objects;
}

/** The one object of a kind (and name) in a build. */
export function only<T = K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}

export interface Dockerfile {
  /** FROM of each stage, in order. */
  stages: string[];
  entrypoint: string[];
  cmd: string[];
  user: string | undefined;
  workdir: string | undefined;
  /** The final stage's COPY instructions: [sources…, destination], without --from ones. */
  copies: string[][];
  /** The final stage's RUN and the deps stage's RUN lines. */
  runs: string[];
  env: Record<string, string>;
}

/** The parts of deploy/Dockerfile the tests check (exec-form ENTRYPOINT/CMD only: shell form would put a shell in front of the broker's signals). */
export function readDockerfile(file = path.join(DEPLOY, 'Dockerfile')): Dockerfile {
  const lines = readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const out: Dockerfile = { stages: [], entrypoint: [], cmd: [], user: undefined, workdir: undefined, copies: [], runs: [], env: {} };
  const execForm = (rest: string, what: string): string[] => {
    const parsed: unknown = JSON.parse(rest);
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`${what} is not in exec form: ${rest}`);
    return parsed;
  };
  for (const line of lines) {
    const [instruction = '', ...restParts] = line.split(/\s+/);
    const rest = restParts.join(' ');
    switch (instruction.toUpperCase()) {
      case 'FROM':
        out.stages.push(rest);
        out.copies = [];
        out.user = undefined;
        break;
      case 'ENTRYPOINT':
        out.entrypoint = execForm(rest, 'ENTRYPOINT');
        break;
      case 'CMD':
        out.cmd = execForm(rest, 'CMD');
        break;
      case 'USER':
        out.user = rest;
        break;
      case 'WORKDIR':
        out.workdir = rest;
        break;
      case 'RUN':
        out.runs.push(rest);
        break;
      case 'ENV': {
        const [k, v] = rest.split('=', 2);
        if (k !== undefined && v !== undefined) out.env[k] = v;
        break;
      }
      case 'COPY':
        if (!restParts.some((p) => p.startsWith('--from'))) out.copies.push(restParts);
        break;
      default:
        break;
    }
  }
  return out;
}

/** The unit's [Service] settings; repeated keys (Environment=, LoadCredential=) keep every value. */
export function readSystemdService(file = path.join(DEPLOY, 'systemd', 'rolecall-broker.service')): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    if (section !== '[Service]') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}
