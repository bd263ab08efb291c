import { describe, expect, it } from 'vitest';
import { checkCascade, type CascadeView } from '../../../../src/failover/promote/cascade.js';
import { CHECK } from '../../../../src/failover/promote/checks.js';
import type { PeerPosition } from '../../../../src/failover/promote/peers.js';

function node(label: string, lsn: bigint, inRecovery = true, timeline = 1): PeerPosition {
  return {
    peer: `host=${label}`,
    label,
    ok: true,
    via: 'sql',
    inRecovery,
    timeline,
    lsn,
    failoverPriority: null,
  };
}
const down = (label: string): PeerPosition => ({
  peer: `host=${label}`,
  label,
  ok: false,
  via: 'sql',
  error: 'connection refused',
});

const view = (parts: Partial<CascadeView>): CascadeView => ({
  upstreams: [],
  configuredCascade: false,
  peers: [],
  primaryLsn: null,
  ...parts,
});
const ours = { timeline: 1, lsn: 1000n, failoverPriority: 100 };

describe('promote: a cascaded follower', () => {
  it('passes when not cascaded: the upstream is the (stopped) primary itself', () => {
    const r = checkCascade(view({ upstreams: [down('leader:5432')] }), ours);
    expect(r).toMatchObject({ name: CHECK.cascade, ok: true });
    expect(r.detail).toContain('not cascaded');
    // A peer further ahead is checkPeers' business for a node that is not cascaded.
    expect(checkCascade(view({ peers: [node('b:5432', 2000n)] }), ours).ok).toBe(true);
  });

  it('refuses while its upstream or a peer is less behind the primary, and lists the numbers', () => {
    const r = checkCascade(
      view({ upstreams: [node('a:5432', 1500n)], peers: [node('b:5432', 1200n)], primaryLsn: 1600n }),
      ours,
    );
    expect(r).toMatchObject({ ok: false, forceable: true });
    expect(r.detail).toContain('this node replicates in cascade from a:5432 (a standby)');
    expect(r.detail).toContain('a:5432 is 500 bytes less behind the primary');
    expect(r.detail).toContain('promote a:5432 instead');
    expect(r.numbers).toEqual({
      primary_lsn: '0/640',
      ours: '1:0/3E8, 600 bytes behind the primary',
      'a:5432 (upstream)': '1:0/5DC, 100 bytes behind the primary',
      'b:5432 (peer)': '1:0/4B0, 400 bytes behind the primary',
    });
    // A peer ahead while the upstream is level with us: the peer is named.
    const peerAhead = checkCascade(
      view({ upstreams: [node('a:5432', 1000n)], peers: [node('b:5432', 1100n)] }),
      ours,
    );
    expect(peerAhead.ok).toBe(false);
    expect(peerAhead.detail).toContain('b:5432 is 100 bytes less behind the primary');
  });

  it('passes when nobody is less behind; a primary among the peers is not a candidate', () => {
    const r = checkCascade(
      view({
        upstreams: [node('a:5432', 1000n)],
        peers: [node('b:5432', 900n), node('p:5432', 5000n, false)],
      }),
      ours,
    );
    expect(r.ok).toBe(true);
    expect(r.detail).toContain('cascaded from a:5432 (a standby); no upstream or peer is less behind');
  });

  it('refuses (forceably) when configured to cascade and the upstream does not answer', () => {
    const r = checkCascade(view({ upstreams: [down('a:5432')], configuredCascade: true }), ours);
    expect(r).toMatchObject({ ok: false, forceable: true });
    expect(r.detail).toContain('cannot tell whether it is less behind the primary');
    expect(r.numbers?.['a:5432 (upstream)']).toBe('unreachable: connection refused');
  });
});
