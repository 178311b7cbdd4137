import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/ports.js';

// The committed icons (build/icon.png, build/tray/*.png) are what build/make-icons.mjs draws.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = tempDir('icons');
afterAll(() => rmSync(out, { recursive: true, force: true }));

function readPng(file: string): { width: number; height: number; pixels: Buffer } {
  const b = readFileSync(file);
  expect(b.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (let o = 8; o < b.length; ) {
    const len = b.readUInt32BE(o);
    const type = b.toString('ascii', o + 4, o + 8);
    const data = b.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]]).toEqual([8, 6]); // 8-bit RGBA
    }
    if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  return { width, height, pixels: inflateSync(Buffer.concat(idat)) };
}

describe('icons', () => {
  it('are reproduced byte for byte by build/make-icons.mjs', async () => {
    const { makeIcons } = (await import(path.join(root, 'build', 'make-icons.mjs'))) as { makeIcons(dir: string): string[] };
    const written = makeIcons(out);
    expect(written).toHaveLength(7);
    for (const rel of written) expect(readFileSync(path.join(out, rel)).equals(readFileSync(path.join(root, 'build', rel))), rel).toBe(true);
  });

  it('have the sizes Electron and electron-builder expect', () => {
    expect(readPng(path.join(root, 'build', 'icon.png'))).toMatchObject({ width: 512, height: 512 });
    for (const state of ['stopped', 'running', 'error']) {
      expect(readPng(path.join(root, 'build', 'tray', `tray-${state}.png`))).toMatchObject({ width: 16, height: 16 });
      expect(readPng(path.join(root, 'build', 'tray', `tray-${state}@2x.png`))).toMatchObject({ width: 32, height: 32 });
    }
  });

  it('tell the three tray states apart', () => {
    const bytes = ['stopped', 'running', 'error'].map((s) => readPng(path.join(root, 'build', 'tray', `tray-${s}.png`)).pixels.toString('hex'));
    expect(new Set(bytes).size).toBe(3);
  });
});
