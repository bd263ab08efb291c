import type { UnclassifiedSnapshot } from '../../../src/monitor/classify.js';
import type { LeaderSample, LocalSample, Snapshot, WalReceiverRow } from '../../../src/monitor/snapshot.js';
import { parseLsn } from '../../../src/postgres/lsn.js';

/**
 * Snapshots shaped like the ones a real tick records (values taken from the integration runs:
 * PostgreSQL 15, 16 MB segments, timeline 1, a slot named replica_a).
 */
export const T0 = Date.parse('2026-11-24T03:00:00Z');

export function receiver(overrides: Partial<WalReceiverRow> = {}): WalReceiverRow {
  return {
    status: 'streaming',
    receivedTimeline: 1,
    flushedLsn: parseLsn('0/3000148'),
    latestEndLsn: parseLsn('0/3000148'),
    latestEndTime: T0 - 500,
    lastMsgReceiptTime: T0 - 200,
    slotName: 'replica_a',
    senderHost: '127.0.0.1',
    senderPort: 40123,
    ...overrides,
  };
}

export function localSample(overrides: Partial<LocalSample> = {}): LocalSample {
  return {
    inRecovery: true,
    timeline: 1,
    receiveLsn: parseLsn('0/3000148'),
    replayLsn: parseLsn('0/3000148'),
    currentLsn: null,
    lastReplayTimestamp: T0 - 60_000,
    replayPaused: false,
    walReceiver: receiver(),
    serverVersionNum: 150010,
    walSegmentSizeBytes: 16777216n,
    ...overrides,
  };
}

export function leaderSample(overrides: Partial<LeaderSample> = {}): LeaderSample {
  return {
    inRecovery: false,
    currentLsn: parseLsn('0/3000148'),
    timeline: 1,
    replication: null,
    slot: {
      name: 'replica_a',
      exists: true,
      active: true,
      walStatus: 'reserved',
      safeWalSizeBytes: null,
      restartLsn: parseLsn('0/3000148'),
    },
    archiver: null,
    pgWalBytes: 50331648n,
    leaderNow: T0,
    oldestSegment: '000000010000000000000002',
    maxSlotWalKeepSizeBytes: null,
    walSegmentSizeBytes: 16777216n,
    ...overrides,
  };
}

export function unclassified(
  parts: {
    at?: number;
    local?: LocalSample | { error: string };
    leader?: LeaderSample | { error: string };
    lag?: Partial<Snapshot['lag']>;
    archive?: Snapshot['archive'];
  } = {},
): UnclassifiedSnapshot {
  const local = parts.local ?? localSample();
  const leader = parts.leader ?? leaderSample();
  return {
    takenAt: parts.at ?? T0,
    node: 'replica_a',
    local:
      'error' in local ? { ok: false, error: local.error, code: 'ECONNREFUSED' } : { ok: true, value: local },
    leader:
      'error' in leader
        ? { ok: false, error: leader.error, code: 'ECONNREFUSED' }
        : { ok: true, value: leader },
    archive: parts.archive ?? null,
    lag: { replayLagBytes: 0n, receiveLagBytes: 0n, replayLagSeconds: 0, ...parts.lag },
    forecast: null,
  };
}

/** A full snapshot (as `previous`) with a given state and replay position. */
export function previousSnapshot(
  u: UnclassifiedSnapshot,
  state: Snapshot['state'],
  replayProgressAt?: number,
): Snapshot {
  return {
    ...u,
    state,
    reason: 'recorded',
    neededSegment: null,
    replayProgressAt: replayProgressAt ?? u.takenAt,
  };
}
