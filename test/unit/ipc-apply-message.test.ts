import { describe, expect, it } from 'vitest';
import { applyMessage, mergeOutcomes } from '../../src-renderer/lib/apply-outcome.js';

// What the profile editor says after a save, from the outcome profiles.save / secrets.set answer with.

describe('applyMessage', () => {
  it('says nothing more for a stopped proxy, and that an unchanged one runs as is', () => {
    expect(applyMessage({ outcome: 'not-running' })).toEqual({ kind: 'ok', text: '', offerRestart: false });
    expect(applyMessage({ outcome: 'unchanged' }).text).toBe('The running proxy already uses these settings.');
  });

  it('names the port a restarted proxy listens on, and the old one when it moved', () => {
    expect(applyMessage({ outcome: 'restarted', port: 5050, previousPort: 5050 }).text).toBe('The proxy on port 5050 restarted with the new settings.');
    expect(applyMessage({ outcome: 'restarted', port: 5051, previousPort: 5050 }).text).toBe(
      'The proxy restarted on port 5051 (was 5050) with the new settings.',
    );
  });

  it('counts the open connections and offers a restart when the change waits', () => {
    expect(applyMessage({ outcome: 'restart-pending', port: 5050, activeConnections: 2 })).toEqual({
      kind: 'warn',
      text: '2 connections are open on the running proxy: it keeps the old settings until you restart it.',
      offerRestart: true,
    });
    expect(applyMessage({ outcome: 'restart-pending', port: 5050, activeConnections: 1 }).text).toMatch(/^1 connection is open/);
  });

  it('says a failed restart left the proxy stopped, and why', () => {
    const m = applyMessage({ outcome: 'restart-failed', error: { code: 'conflict', message: 'port 5050 on 127.0.0.1 is already in use' } });
    expect(m.kind).toBe('bad');
    expect(m.text).toBe('The proxy could not restart with the new settings and is stopped: port 5050 on 127.0.0.1 is already in use');
  });
});

describe('mergeOutcomes (profile saved, then its passwords)', () => {
  it('keeps what matters most, and the port the first restart started from', () => {
    expect(mergeOutcomes({ outcome: 'restarted', port: 2, previousPort: 1 }, null)).toEqual({ outcome: 'restarted', port: 2, previousPort: 1 });
    expect(mergeOutcomes({ outcome: 'restarted', port: 2, previousPort: 1 }, { outcome: 'restarted', port: 2, previousPort: 2 })).toEqual({
      outcome: 'restarted',
      port: 2,
      previousPort: 1,
    });
    expect(mergeOutcomes({ outcome: 'restart-pending', port: 1, activeConnections: 1 }, { outcome: 'unchanged' })).toMatchObject({ outcome: 'restart-pending' });
    expect(mergeOutcomes({ outcome: 'unchanged' }, { outcome: 'restarted', port: 1, previousPort: 1 })).toMatchObject({ outcome: 'restarted' });
  });
});
