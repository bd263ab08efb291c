import { describe, expect, it } from 'vitest';
import {
  CHECK,
  checkDataLoss,
  checkLocalNode,
  checkOldLeader,
  checkPeers,
} from '../../../../src/failover/promote/checks.js';
import type { NodePosition } from '../../../../src/postgres/replica-state.js';

const replica = {
  systemId: '1',
  inRecovery: true,
  timeline: 2,
  receiveLsn: 300n,
  replayLsn: 200n,
  currentLsn: null,
} as unknown as NodePosition;

describe('the promotion checks', () => {
  it('names every check from the one table', () => {
    expect(Object.values(CHECK)).toHaveLength(9);
    expect(checkPeers([], null).name).toBe(CHECK.peers);
    expect(checkLocalNode(replica, { address: 'h:5432', dataDirectory: '/pg' }).name).toBe(CHECK.local);
  });

  it('counts a peer that did not report its timeline as ahead when its LSN is', () => {
    const peer = {
      peer: 'http://b:8008',
      label: 'b',
      ok: true as const,
      via: 'http' as const,
      inRecovery: true,
      timeline: 0,
      lsn: 200n,
      failoverPriority: null,
    };
    const check = checkPeers([peer], { timeline: 2, lsn: 100n });
    expect(check.ok).toBe(false);
    expect(check.detail).toContain('b');
    expect(checkPeers([{ ...peer, lsn: 50n }], { timeline: 2, lsn: 100n }).ok).toBe(true);
  });

  it('refuses a node that is already a primary, and says how to start one that is down', () => {
    const primary = { ...replica, inRecovery: false, currentLsn: 500n } as NodePosition;
    expect(checkLocalNode(primary, { address: 'h:5432', dataDirectory: '/pg' }).ok).toBe(false);
    expect(checkLocalNode(replica, { address: 'h:5432', dataDirectory: '/pg' }).ok).toBe(true);
    const down = checkLocalNode(new Error('connection refused'), { address: 'h:5432', dataDirectory: '/pg' });
    expect(down.ok).toBe(false);
    expect(down.detail).toContain('pg_ctl start -D /pg');
  });

  it('estimates loss from whichever source saw the leader furthest, against the limit', () => {
    const ours = { timeline: 2, lsn: 1000n };
    const none = checkDataLoss(ours, { supervisor: null, receiver: null }, 0n);
    expect(none.estimatedLossBytes).toBeNull();
    expect(none.check.ok).toBe(true);
    const some = checkDataLoss(ours, { supervisor: 1500n, receiver: 1200n }, 100n);
    expect(some.estimatedLossBytes).toBe(500n);
    expect(some.check.ok).toBe(false);
    expect(some.check.forceable).toBe(true);
    expect(some.check.detail).toContain('the supervisor');
    const within = checkDataLoss(ours, { supervisor: null, receiver: 1050n }, 100n);
    expect(within.estimatedLossBytes).toBe(50n);
    expect(within.check.ok).toBe(true);
    expect(checkDataLoss(ours, { supervisor: 900n, receiver: null }, 0n).estimatedLossBytes).toBe(0n);
  });

  it('a zero-loss proof wins over the estimate; a verdict without proof leaves the estimate', () => {
    const ours = { timeline: 2, lsn: 1000n };
    const proven = checkDataLoss(ours, { supervisor: 1500n, receiver: null }, 0n, {
      zeroLoss: true,
      proof: {
        method: 'shutdown-checkpoint',
        record: 'CHECKPOINT_SHUTDOWN redo 0/3E8',
        recordLsn: '0/3E8',
        recordEndLsn: '0/400',
        receiveLsn: '0/400',
        replayLsn: '0/400',
        timeline: 2,
      },
    });
    expect(proven.estimatedLossBytes).toBe(0n);
    expect(proven.check).toMatchObject({
      ok: true,
      numbers: { loss_bytes: 0, proof: 'shutdown-checkpoint' },
    });
    expect(proven.check.detail).toMatch(/^none, proven: /);
    const unproven = checkDataLoss(ours, { supervisor: 1500n, receiver: null }, 0n, {
      zeroLoss: false,
      reason: 'the last record is not a shutdown checkpoint',
      lastRecord: null,
    });
    expect(unproven.estimatedLossBytes).toBe(500n);
    expect(unproven.check.ok).toBe(false);
  });

  it('cannot prove an unknown old leader down, but --force may override that', async () => {
    const check = await checkOldLeader([], 1000);
    expect(check.ok).toBe(false);
    expect(check.forceable).toBe(true);
  });
});
