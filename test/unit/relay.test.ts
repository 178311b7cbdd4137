import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { relay } from '../../src-main/core/proxy/relay.js';

/** A client connection that records each write the relay makes to it (one entry per write or writev). */
class RecordingClient extends Duplex {
  readonly writes: Buffer[][] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writes.push([chunk]);
    cb();
  }
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.writes.push(chunks.map((c) => c.chunk));
    cb();
  }
  received(): Buffer {
    return Buffer.concat(this.writes.flat());
  }
}

/** A server connection whose chunks the test delivers by hand. */
const server = (): Duplex => new PassThrough();

const turn = () => new Promise((r) => setImmediate(r));

describe('relay: server to client', () => {
  it('sends bulk output that arrives in one event-loop turn with one write, byte for byte', async () => {
    const client = new RecordingClient();
    const upstream = server();
    relay(client, upstream);
    await turn();
    // A TLS server connection hands over one record (≤ 16 KB) per 'data' event; a COPY brings many per turn.
    const records = Array.from({ length: 8 }, (_, i) => Buffer.alloc(16_384, i));
    for (const r of records) upstream.emit('data', r);
    expect(client.writes).toHaveLength(0); // held until the turn ends
    await turn();
    expect(client.writes).toHaveLength(1);
    expect(client.received().equals(Buffer.concat(records))).toBe(true);
  });

  it('writes a small reply at once, without waiting for the turn to end (interactive latency)', async () => {
    const client = new RecordingClient();
    const upstream = server();
    relay(client, upstream);
    await turn();
    const reply = Buffer.from('Z\0\0\0\x05I', 'latin1');
    upstream.emit('data', reply);
    expect(client.writes).toEqual([[reply]]);
  });

  it('keeps the order when small and bulk chunks mix in one turn', async () => {
    const client = new RecordingClient();
    const upstream = server();
    relay(client, upstream);
    await turn();
    const parts = [Buffer.alloc(16_384, 1), Buffer.from('small'), Buffer.alloc(10_000, 2), Buffer.from('tail')];
    for (const p of parts) upstream.emit('data', p);
    await turn();
    expect(client.received().equals(Buffer.concat(parts))).toBe(true);
  });
});
