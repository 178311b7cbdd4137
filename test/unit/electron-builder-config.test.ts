import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';

// electron-builder.yml checked against electron-builder's own JSON schema
// (app-builder-lib/scheme.json, the one `electron-builder` validates with),
// so a misspelt or misplaced key fails here rather than at release time.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): unknown };

type Config = Record<string, unknown> & {
  files: string[];
  extraResources: { from: string; to: string }[];
  asarUnpack: string[];
  linux: { target: string[]; icon: string };
  mac: { target: string; icon: string };
  win: { target: string; icon: string };
};

let config: Config;
let validate: ValidateFunction;
beforeAll(() => {
  config = yaml.load(readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as Config;
  const schema = JSON.parse(readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8')) as object;
  // Same options as electron-builder's validator, minus type coercion: stricter, never looser.
  validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
});

function errorsOf(candidate: unknown): string[] {
  return validate(candidate) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

describe('electron-builder.yml', () => {
  it('matches electron-builder\'s schema', () => {
    expect(errorsOf(config)).toEqual([]);
  });

  it("passes electron-builder's own validator too (schema plus its deprecation checks)", async () => {
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
      validateConfiguration(c: unknown, debug: { isEnabled: boolean; add(): void }): Promise<void>;
    };
    const debug = { isEnabled: false, add: () => undefined };
    await expect(validateConfiguration(config, debug)).resolves.toBeUndefined();
    await expect(validateConfiguration({ ...config, bogus: 1 }, debug)).rejects.toThrow(/unknown property 'bogus'/);
  });

  it('is rejected with an unknown key, at the top or inside a platform', () => {
    expect(errorsOf({ ...config, npmRebuilds: true }).join('\n')).toMatch(/additionalProperty.*npmRebuilds/);
    expect(errorsOf({ ...config, linux: { ...config.linux, tagret: ['deb'] } }).join('\n')).toMatch(/tagret/);
  });

  it('builds AppImage and deb on Linux, dmg on macOS, nsis on Windows, each with the app icon', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toBe('dmg');
    expect(config.win.target).toBe('nsis');
    for (const p of [config.linux, config.mac, config.win]) expect(p.icon).toBe('build/icon.png');
  });

  it('ships sql/ as an extra resource, next to the asar, where the app looks for it', () => {
    expect(config.extraResources).toContainEqual(expect.objectContaining({ from: 'sql', to: 'sql' }));
  });

  it('rebuilds native modules for Electron and keeps them out of the asar', () => {
    expect(config.npmRebuild).toBe(true);
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toEqual(expect.arrayContaining(['**/node_modules/keytar/**', '**/node_modules/better-sqlite3/**']));
  });

  it('packs the bundles, renderer and tray icons, and excludes the web bridge', () => {
    expect(config.files).toEqual(expect.arrayContaining(['package.json', 'dist/main/**', 'dist/renderer/**', 'build/tray/*.png']));
    expect(config.files.filter((f) => f.startsWith('!') && f.includes('web-bridge')).length).toBeGreaterThan(0);
    // Nothing else from the source tree goes in: no src-main, test or src-renderer pattern.
    expect(config.files.filter((f) => !f.startsWith('!') && /src-|test|bench/.test(f))).toEqual([]);
  });

  it('starts the app from the file build:main writes', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { main?: string; scripts: Record<string, string> };
    expect(pkg.main).toBe('dist/main/main.cjs');
    expect(pkg.scripts['build:main']).toContain('src-main/electron/bundle-main.ts');
    expect(pkg.scripts.dist).toContain('electron-builder');
  });
});
