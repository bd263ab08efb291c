import { describe, expect, it } from 'vitest';
import { CHECK, checkPeers, checkPriority } from '../../../../src/failover/promote/checks.js';
import type { PeerPosition } from '../../../../src/failover/promote/peers.js';
import { parseStatusPosition } from '../../../../src/failover/promote/peers.js';

function peer(label: string, lsn: bigint, failoverPriority: number | null, timeline = 2): PeerPosition {
  return {
    peer: `http://${label}:8008`,
    label,
    ok: true,
    via: 'http',
    inRecovery: true,
    timeline,
    lsn,
    failoverPriority,
  };
}

describe('failover priority', () => {
  it('refuses (forceably) to promote a node whose failoverPriority is 0', () => {
    const never = checkPriority(0);
    expect(never).toMatchObject({ name: CHECK.priority, ok: false, forceable: true });
    expect(never.detail).toContain('--force');
    expect(checkPriority(1).ok).toBe(true);
  });

  it('prefers the higher priority among equally advanced peers', () => {
    const ours = { timeline: 2, lsn: 1000n, failoverPriority: 50 };
    const higher = checkPeers([peer('b', 1000n, 100)], ours);
    expect(higher).toMatchObject({ ok: false, forceable: true });
    expect(higher.detail).toContain(
      'b stands at the same position with a higher failoverPriority (100 > 50)',
    );
    // Lower or equal priority at the same position: we are the candidate.
    expect(checkPeers([peer('b', 1000n, 50), peer('c', 1000n, 10)], ours).ok).toBe(true);
    // A peer that published no priority (asked over SQL) is not preferred.
    expect(checkPeers([peer('b', 1000n, null)], ours).ok).toBe(true);
    // Position first: a less advanced peer never wins by priority.
    expect(checkPeers([peer('b', 999n, 1000)], ours).ok).toBe(true);
    // The best of several preferred peers is named.
    const two = checkPeers([peer('b', 1000n, 60), peer('c', 1000n, 90)], ours);
    expect(two.detail).toMatch(/^c stands/);
  });

  it('still names a more advanced peer first, and says when that peer has priority 0', () => {
    const ours = { timeline: 2, lsn: 1000n, failoverPriority: 100 };
    const ahead = checkPeers([peer('b', 2000n, 0), peer('c', 1000n, 200)], ours);
    expect(ahead.detail).toContain('b is further ahead (1000 bytes more)');
    expect(ahead.detail).toContain('its failoverPriority is 0');
  });

  it("reads a peer's failoverPriority from its /status document", () => {
    const doc = { node: 'b', role: 'replica', timeline: 1, receiveLsn: '0/3000000', failoverPriority: 7 };
    expect(parseStatusPosition(doc)?.failoverPriority).toBe(7);
    expect(parseStatusPosition({ ...doc, failoverPriority: undefined })?.failoverPriority).toBeNull();
    expect(parseStatusPosition({ ...doc, failoverPriority: -1 })?.failoverPriority).toBeNull();
  });
});
