/** One SRV answer, as node's resolveSrv returns it. */
export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/**
 * RFC 2782 order: lowest priority first; within one priority, a weighted
 * random draw without replacement, so a record with three times the weight
 * comes first three times as often. Weight-0 records follow the weighted ones
 * in the order DNS gave them (the RFC gives them "a very small chance"; we
 * give none while a weighted record is left). A target of "." means "no such
 * service here" and is dropped. `random` returns [0, 1) like Math.random, so
 * a test can fix the draw.
 */
export function orderSrvRecords(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const usable = records.filter((r) => r.name !== '' && r.name !== '.');
  const priorities = [...new Set(usable.map((r) => r.priority))].sort((a, b) => a - b);
  const out: SrvRecord[] = [];
  for (const priority of priorities) {
    const left = usable.filter((r) => r.priority === priority);
    let total = left.reduce((sum, r) => sum + r.weight, 0);
    while (total > 0) {
      const pick = Math.floor(random() * total);
      let running = 0;
      const index = left.findIndex((r) => (running += r.weight) > pick);
      const [chosen] = left.splice(index, 1) as [SrvRecord];
      out.push(chosen);
      total -= chosen.weight;
    }
    out.push(...left);
  }
  return out;
}
