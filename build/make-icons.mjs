#!/usr/bin/env node
// Draws Rolecall's icons and writes them as PNG with nothing but node:zlib:
//   build/icon.png                 512×512 app icon (electron-builder makes .icns/.ico from it)
//   build/tray/tray-<state>.png    16×16 tray icons, and @2x (32×32), for stopped / running / error
// Usage: node build/make-icons.mjs [outdir]   (default: this folder). Deterministic output.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** RGBA pixels (Uint8Array, width*height*4) → PNG bytes (8-bit RGBA, no interlace). */
export function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Shapes are functions of (x, y) in a 0..1 square returning true when inside.
const inEllipse = (cx, cy, rx, ry) => (x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
const inCircle = (cx, cy, r) => inEllipse(cx, cy, r, r);
const inRect = (x0, y0, x1, y1) => (x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
const inRoundRect = (x0, y0, x1, y1, r) => (x, y) => {
  if (!inRect(x0, y0, x1, y1)(x, y)) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
const inSegment = (ax, ay, bx, by, w) => (x, y) => {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= (w / 2) ** 2;
};
const union = (...shapes) => (x, y) => shapes.some((s) => s(x, y));
const minus = (a, b) => (x, y) => a(x, y) && !b(x, y);

/** A database cylinder: top ellipse, body, two band lines. */
function cylinder(x0, x1, y0, y1, band) {
  const cx = (x0 + x1) / 2;
  const rx = (x1 - x0) / 2;
  const ry = rx * 0.32;
  const body = union(inEllipse(cx, y0, rx, ry), inRect(x0, y0, x1, y1), inEllipse(cx, y1, rx, ry));
  const h = (y1 - y0) / 3;
  // Lines between the bands: the lower rim of an ellipse, drawn as a gap.
  const gap = (yy) => minus(inEllipse(cx, yy, rx, ry), inEllipse(cx, yy - band, rx, ry));
  const gaps = union(gap(y0 + band * 1.6), gap(y0 + h + band), gap(y0 + 2 * h + band));
  return { body, gaps };
}

const INK = [236, 241, 246, 255];
const NAVY = [31, 58, 95, 255];
const GREEN = [47, 163, 107, 255];
const RED = [214, 69, 69, 255];
const GREY = [138, 147, 156, 255];
const CLEAR = [0, 0, 0, 0];

function appIcon() {
  const { body, gaps } = cylinder(0.24, 0.7, 0.27, 0.7, 0.035);
  return [
    [inRoundRect(0.04, 0.04, 0.96, 0.96, 0.2), NAVY],
    [body, INK],
    [gaps, NAVY],
    [inCircle(0.72, 0.72, 0.17), NAVY],
    [inCircle(0.72, 0.72, 0.14), GREEN],
    [union(inSegment(0.65, 0.72, 0.7, 0.77, 0.045), inSegment(0.7, 0.77, 0.79, 0.67, 0.045)), INK],
  ];
}

/** Tray: the cylinder in the state's colour; running and error add a badge so state is not told by colour alone. */
function trayIcon(state) {
  const colour = state === 'running' ? GREEN : state === 'error' ? RED : GREY;
  const { body, gaps } = cylinder(0.12, 0.72, 0.2, 0.8, 0.07);
  const layers = [[body, colour], [gaps, CLEAR]];
  if (state === 'running') layers.push([inCircle(0.78, 0.78, 0.22), CLEAR], [inCircle(0.78, 0.78, 0.17), GREEN]);
  if (state === 'error') {
    layers.push([inCircle(0.78, 0.78, 0.22), CLEAR], [inCircle(0.78, 0.78, 0.2), RED]);
    layers.push([union(inRect(0.755, 0.64, 0.805, 0.81), inRect(0.755, 0.85, 0.805, 0.9)), INK]);
  }
  return layers;
}

/**
 * Layers are [shape, [r, g, b, a]]; at each point the last layer containing it
 * wins, so a CLEAR layer cuts a hole. 4×4 supersampling smooths the edges.
 */
function render(size, layers) {
  const px = new Uint8Array(size * size * 4);
  const S = 4;
  for (let py = 0; py < size; py++) {
    for (let pxl = 0; pxl < size; pxl++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const x = (pxl + (sx + 0.5) / S) / size;
          const y = (py + (sy + 0.5) / S) / size;
          let c = [0, 0, 0, 0];
          for (const [shape, col] of layers) if (shape(x, y)) c = col;
          const al = c[3] / 255;
          r += c[0] * al; g += c[1] * al; b += c[2] * al; a += al;
        }
      }
      const i = (py * size + pxl) * 4;
      px[i] = a > 0 ? Math.round(r / a) : 0;
      px[i + 1] = a > 0 ? Math.round(g / a) : 0;
      px[i + 2] = a > 0 ? Math.round(b / a) : 0;
      px[i + 3] = Math.round((a / (S * S)) * 255);
    }
  }
  return px;
}

export function makeIcons(outdir) {
  const written = [];
  const write = (rel, size, layers) => {
    const file = path.join(outdir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, encodePng(size, size, render(size, layers)));
    written.push(rel);
  };
  write('icon.png', 512, appIcon());
  for (const state of ['stopped', 'running', 'error']) {
    write(`tray/tray-${state}.png`, 16, trayIcon(state));
    write(`tray/tray-${state}@2x.png`, 32, trayIcon(state));
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = path.resolve(process.argv[2] ?? path.dirname(fileURLToPath(import.meta.url)));
  for (const f of makeIcons(outdir)) console.log(path.join(outdir, f));
}
