import { describe, expect, it } from 'vitest';
import { orderSrvRecords, type SrvRecord } from '../../src-main/core/directory/index.js';

const srv = (name: string, priority: number, weight: number): SrvRecord => ({ name, port: 389, priority, weight });

/** A fixed sequence of "random" draws, so each test knows which record the weights pick. */
function draws(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

describe('orderSrvRecords (RFC 2782)', () => {
  it('tries lower priorities first, whatever the weights', () => {
    const order = orderSrvRecords([srv('backup', 20, 1000), srv('main', 10, 1), srv('middle', 15, 0)], draws(0.99));
    expect(order.map((r) => r.name)).toEqual(['main', 'middle', 'backup']);
  });

  it('picks within a priority by running weight sums', () => {
    const records = [srv('a', 0, 10), srv('b', 0, 30), srv('c', 0, 60)];
    // Sum 100: a draw of 0 → a (0 < 10); then of the remaining b+c (sum 90), 0.5 → 45 → c (30 ≤ 45 < 90).
    expect(orderSrvRecords(records, draws(0, 0.5, 0)).map((r) => r.name)).toEqual(['a', 'c', 'b']);
    // 0.35 of 100 → 35: past a (10), within b (40).
    expect(orderSrvRecords(records, draws(0.35, 0, 0))[0]?.name).toBe('b');
    expect(orderSrvRecords(records, draws(0.99, 0, 0))[0]?.name).toBe('c');
  });

  it('follows the weights over many draws', () => {
    const records = [srv('light', 0, 1), srv('heavy', 0, 3)];
    let seed = 7;
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let heavyFirst = 0;
    for (let i = 0; i < 4000; i++) if (orderSrvRecords(records, lcg)[0]?.name === 'heavy') heavyFirst++;
    // Expected 3/4 of the time: 3000, give or take a few per cent.
    expect(heavyFirst).toBeGreaterThan(2700);
    expect(heavyFirst).toBeLessThan(3300);
  });

  it('puts weight 0 after the weighted records, and keeps every record once', () => {
    const records = [srv('w0', 0, 0), srv('w5', 0, 5), srv('also0', 0, 0)];
    expect(orderSrvRecords(records, draws(0)).map((r) => r.name)).toEqual(['w5', 'w0', 'also0']);
    expect(orderSrvRecords([srv('x', 0, 0), srv('y', 0, 0)]).map((r) => r.name)).toEqual(['x', 'y']);
    const many = Array.from({ length: 7 }, (_, i) => srv(`dc${i}`, i % 2, i));
    expect(orderSrvRecords(many).map((r) => r.name).sort()).toEqual(many.map((r) => r.name).sort());
  });

  it('drops the "." target (service not offered)', () => {
    expect(orderSrvRecords([srv('.', 0, 0), srv('dc1', 0, 100)])).toEqual([srv('dc1', 0, 100)]);
  });
});
