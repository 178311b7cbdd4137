import { describe, expect, it } from 'vitest';
import { FrontendFrames } from '../../src-main/core/proxy/frontend-frames.js';
import { TERMINATE, cstring, message, queryMessage } from '../../src-main/core/proxy/wire.js';

/** Feeds the bytes in chunks of `size`; returns the absolute offset just past the Terminate found, or -1. */
function scan(bytes: Buffer, size: number, frames = new FrontendFrames()): { end: number; frames: FrontendFrames } {
  for (let at = 0; at < bytes.length; at += size) {
    const end = frames.findTerminate(bytes.subarray(at, at + size));
    if (end >= 0) return { end: at + end, frames };
  }
  return { end: -1, frames };
}

const CHUNKINGS = [1, 2, 3, 4, 5, 7, 64, 1 << 20];

const parse = message('P', Buffer.concat([cstring(''), cstring('select $1'), Buffer.alloc(2)]));
const bind = message('B', Buffer.concat([cstring(''), cstring(''), Buffer.alloc(6)]));
const execute = message('E', Buffer.concat([cstring(''), Buffer.alloc(4)]));
const sync = message('S');

describe('frontend message headers while relaying', () => {
  it('finds the Terminate after whole messages, however the bytes are cut into chunks', () => {
    const before = Buffer.concat([queryMessage('select 1'), parse, bind, execute, sync]);
    for (const size of CHUNKINGS) {
      const { end, frames } = scan(Buffer.concat([before, TERMINATE, queryMessage('after the end')]), size);
      expect(end, `chunks of ${size}`).toBe(before.length + TERMINATE.length);
      expect(frames.unsynced).toBe(false);
    }
  });

  it('does not take Terminate-looking bytes inside a larger message for a Terminate', () => {
    // A CopyData and a Query whose bodies end (or consist) of the five bytes of a Terminate.
    const copyData = message('d', Buffer.concat([Buffer.from('abc'), TERMINATE]));
    const query = message('Q', Buffer.concat([TERMINATE, cstring('')]));
    const bulk = message('d', Buffer.alloc(200_000, TERMINATE[0]));
    const before = Buffer.concat([copyData, query, bulk, message('c')]);
    for (const size of CHUNKINGS) {
      expect(scan(before, size).end, `chunks of ${size}`).toBe(-1);
      expect(scan(Buffer.concat([before, TERMINATE]), size).end).toBe(before.length + TERMINATE.length);
    }
  });

  it('knows when an extended-protocol batch still waits for its Sync', () => {
    expect(scan(Buffer.concat([parse, bind, execute, TERMINATE]), 3).frames.unsynced).toBe(true);
    expect(scan(Buffer.concat([parse, bind, execute, sync, TERMINATE]), 3).frames.unsynced).toBe(false);
    expect(scan(Buffer.concat([message('D', Buffer.from('S\0')), TERMINATE]), 100).frames.unsynced).toBe(true);
    expect(scan(Buffer.concat([queryMessage('begin'), TERMINATE]), 100).frames.unsynced).toBe(false);
  });

  it('stops trusting the stream at a length below 4', () => {
    const broken = Buffer.from([0x51, 0, 0, 0, 2]);
    const { end, frames } = scan(Buffer.concat([broken, TERMINATE]), 100);
    expect(end).toBe(-1);
    expect(frames.lost).toBe(true);
  });
});
