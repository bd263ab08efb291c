import type { FollowerState, LeaderSample, LocalSample, Snapshot } from '../../../src/monitor/snapshot.js';

/** Recorded-style snapshots for the rule engine: a streaming follower, changed by `patch`. */
export function makeSnapshot(
  takenAt: number,
  patch: {
    state?: FollowerState;
    lagBytes?: bigint | null;
    lagSeconds?: number | null;
    local?: Partial<LocalSample> | { error: string; code?: string };
    leader?: Partial<LeaderSample> | { error: string };
    archive?: Snapshot['archive'];
    forecast?: Snapshot['forecast'];
  } = {},
): Snapshot {
  const local: Snapshot['local'] =
    patch.local && 'error' in patch.local
      ? { ok: false, error: patch.local.error, code: patch.local.code }
      : {
          ok: true,
          value: {
            inRecovery: true,
            timeline: 1,
            receiveLsn: 0x3000000n,
            replayLsn: 0x3000000n,
            currentLsn: null,
            lastReplayTimestamp: takenAt,
            replayPaused: false,
            walReceiver: null,
            serverVersionNum: 160000,
            ...(patch.local as Partial<LocalSample> | undefined),
          },
        };
  const leader: Snapshot['leader'] =
    patch.leader && 'error' in patch.leader
      ? { ok: false, error: patch.leader.error }
      : {
          ok: true,
          value: {
            inRecovery: false,
            currentLsn: 0x3000000n,
            timeline: 1,
            replication: null,
            slot: null,
            archiver: null,
            pgWalBytes: 64n * 1024n * 1024n,
            leaderNow: takenAt,
            ...(patch.leader as Partial<LeaderSample> | undefined),
          },
        };
  return {
    takenAt,
    node: 'replica-a',
    local,
    leader,
    archive: patch.archive ?? null,
    lag: {
      replayLagBytes: patch.lagBytes === undefined ? 0n : patch.lagBytes,
      receiveLagBytes: 0n,
      replayLagSeconds: patch.lagSeconds === undefined ? 0 : patch.lagSeconds,
    },
    state: patch.state ?? 'streaming',
    reason: 'test snapshot',
    neededSegment: null,
    forecast: patch.forecast ?? null,
  };
}
