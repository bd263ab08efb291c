import { describe, expect, it } from 'vitest';
import {
  describeProof,
  judgeSyncStandby,
  whyNotSync,
} from '../../../../src/failover/promote/zero-loss-sync.js';
import type { NodePosition } from '../../../../src/postgres/replica-state.js';

const position = (receive: bigint | null, replay: bigint | null): NodePosition => ({
  systemId: '1',
  inRecovery: true,
  timeline: 1,
  receiveLsn: receive,
  replayLsn: replay,
  currentLsn: null,
  replayPaused: false,
  receiver: null,
  serverVersionNum: 150000,
  walSegmentSizeBytes: 16n * 1024n * 1024n,
});
const seen = {
  syncState: 'sync',
  synchronousCommit: 'on',
  standbyNames: 'FIRST 1 (node_a)',
  seenAt: '2026-12-02T04:00:00.000Z',
};

describe('zero-loss proof after a crash: a synchronous standby', () => {
  it('holds for sync_state sync with synchronous_commit on or remote_apply, everything received replayed', () => {
    const verdict = judgeSyncStandby(seen, position(1000n, 1000n));
    expect(verdict).toMatchObject({
      zeroLoss: true,
      proof: {
        method: 'synchronous-standby',
        syncState: 'sync',
        synchronousCommit: 'on',
        observedAt: seen.seenAt,
      },
    });
    if (!verdict?.zeroLoss) throw new Error('no proof');
    expect(describeProof(verdict.proof)).toContain('this node was a synchronous standby (sync_state sync');
    expect(judgeSyncStandby({ ...seen, synchronousCommit: 'remote_apply' }, position(5n, 5n))?.zeroLoss).toBe(
      true,
    );
  });

  it('does not hold for a quorum member, remote_write or local, unreplayed WAL, or no observation', () => {
    expect(judgeSyncStandby({ ...seen, syncState: 'quorum' }, position(1000n, 1000n))).toBeNull();
    expect(judgeSyncStandby({ ...seen, syncState: 'async' }, position(1000n, 1000n))).toBeNull();
    expect(
      judgeSyncStandby({ ...seen, synchronousCommit: 'remote_write' }, position(1000n, 1000n)),
    ).toBeNull();
    expect(judgeSyncStandby({ ...seen, synchronousCommit: 'local' }, position(1000n, 1000n))).toBeNull();
    expect(judgeSyncStandby(seen, position(1000n, 999n))).toBeNull();
    expect(judgeSyncStandby(null, position(1000n, 1000n))).toBeNull();
    expect(whyNotSync({ ...seen, syncState: 'quorum' })).toContain('not a synchronous standby');
    expect(whyNotSync({ ...seen, synchronousCommit: 'remote_write' })).toContain(
      'synchronous_commit was remote_write',
    );
    expect(whyNotSync(null)).toContain('no supervisor observation');
  });
});
