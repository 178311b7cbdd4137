import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// Imports point one way: electron/ and cli/ (the hosts) → ipc/ → core/, and broker/ (the third host) → core/. The engine never reaches up.
const root = path.resolve(import.meta.dirname, '../../src-main');

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Every module a file imports (static and dynamic), as a path below src-main or a package name. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => {
    const spec = m[1] ?? '';
    return spec.startsWith('.') ? path.relative(root, path.resolve(path.dirname(path.join(root, file)), spec)) : spec;
  });
}

const offending = (dir: string, forbidden: RegExp) =>
  sources(dir).flatMap((f) => importsOf(f).filter((i) => forbidden.test(i)).map((i) => `${f} → ${i}`));

describe('import direction', () => {
  it('core/ imports neither electron nor any host (ipc/, electron/, cli/, demo/, broker/)', () => {
    expect(offending('core', /^(electron$|ipc\/|electron\/|cli\/|demo\/|broker\/|\.\.)/)).toEqual([]);
  });

  it('broker/ (the team broker host) uses core/ only: no electron, ipc/ or another host', () => {
    expect(offending('broker', /^(electron$|ipc\/|electron\/|cli\/|demo\/|\.\.)/)).toEqual([]);
  });

  it('ipc/ never imports electron/ (or electron itself)', () => {
    expect(offending('ipc', /^(electron$|electron\/)/)).toEqual([]);
  });
});
