import { describe, expect, it } from 'vitest';
import { computeEstimate, type EstimateInputs, type Input } from '../../../src/backup/estimate.js';
import { computeWaysBack, formatWaysBack, needsWayBack } from '../../../src/backup/ways-back.js';
import type { StatusDocument } from '../../../src/monitor/status.js';

const MB = 1024 * 1024;
const withArchive = { archiveConfigured: true };
const i = (value: number | null): Input => ({ value, source: value === null ? 'unknown' : 'flag' });

function estimate(overrides: Partial<EstimateInputs> = {}): ReturnType<typeof computeEstimate> {
  return computeEstimate({
    databaseBytes: i(10_000 * MB),
    backupBytes: i(10_000 * MB),
    walSinceBackupBytes: i(2_000 * MB),
    cloneBytesPerSecond: i(100 * MB), // re-clone 100 s
    restoreBytesPerSecond: i(200 * MB), // backup+archive 50 + 40 = 90 s
    replayBytesPerSecond: i(50 * MB),
    walBytesPerSecond: i(0),
    retainedBytes: i(null),
    rpoBytes: i(null),
    ...overrides,
  });
}

/** A follower 1 GB behind (replay 0/40000000, leader 0/80000000) that the leader cannot feed. */
function stalled(overrides: Partial<StatusDocument> = {}): StatusDocument {
  return {
    ok: false,
    node: 'replica_a',
    role: 'replica',
    state: 'stalled',
    reason: 'no source has segment 000000010000000000000040',
    takenAt: '2026-12-02T04:00:00.000Z',
    timeline: 1,
    receiveLsn: '0/40000000',
    replayLsn: '0/40000000',
    leaderLsn: '0/80000000',
    lastLeaderLsn: '0/80000000',
    lastLeaderSeenAt: '2026-12-02T04:00:00.000Z',
    lastLeaderSync: null,
    failoverPriority: null,
    applyDelayMs: 0,
    undelayedLagBytes: null,
    undelayedLagSeconds: null,
    upstream: null,
    primary: null,
    lagBytes: 1024 * MB,
    receiveLagBytes: 1024 * MB,
    replayLagSeconds: 600,
    replayPaused: false,
    walReceiver: null,
    neededSegment: '000000010000000000000040',
    slot: {
      name: 'replica_a',
      exists: true,
      active: false,
      walStatus: 'lost',
      safeWalSizeBytes: null,
      retainedBytes: null,
      growthBytesPerSecond: null,
      secondsUntilFull: null,
    },
    leader: {
      reachable: true,
      error: null,
      timeline: 1,
      pgWalBytes: 512 * MB,
      oldestSegment: '000000010000000000000060',
      archiverFailedCount: 0,
      lastArchivedAgeSeconds: 1,
    },
    archive: {
      ok: true,
      error: null,
      newestSegment: '00000001000000000000007F',
      missingSegment: '000000010000000000000040',
      fetchedSegments: 0,
      spooledSegments: 0,
    },
    catchUp: null,
    source: 'direct',
    ...overrides,
  };
}

describe('ways back for a follower that fell behind (status)', () => {
  it('a stalled follower: neither stream nor archive; restore from the backup beats a re-clone', () => {
    const ways = computeWaysBack(stalled(), estimate(), withArchive);
    expect(ways.behindBytes).toBe(1024 * MB);
    expect(ways.options.map((o) => [o.way, o.possible, o.seconds])).toEqual([
      ['stream', false, null],
      ['archive', false, null],
      ['backup+archive', true, 90],
      ['re-clone', true, 100],
    ]);
    expect(ways.cheapest).toBe('backup+archive');
    const text = formatWaysBack(ways).join('\n');
    expect(text).toMatch(/backup\+archive\s+~90 s: .*<- cheapest/);
    expect(text).toMatch(/archive\s+not possible: the archive lacks 000000010000000000000040/);
  });

  it('archive catch-up (1 GB at 50 MB/s) is cheapest when the archive has the WAL', () => {
    const doc = stalled({
      state: 'archive-recovery',
      archive: { ...(stalled().archive as NonNullable<StatusDocument['archive']>), missingSegment: null },
    });
    const ways = computeWaysBack(doc, estimate(), withArchive);
    expect(ways.options.find((o) => o.way === 'archive')).toMatchObject({ possible: true, seconds: 20.5 });
    expect(ways.cheapest).toBe('archive');
  });

  it('a fast clone beats a slow backup restore; without a backup that way is impossible', () => {
    const slowRestore = computeWaysBack(
      stalled(),
      estimate({ restoreBytesPerSecond: i(20 * MB) }),
      withArchive,
    );
    expect(slowRestore.cheapest).toBe('re-clone');
    const noBackup = computeWaysBack(stalled(), estimate({ backupBytes: i(null) }), withArchive);
    expect(noBackup.options.find((o) => o.way === 'backup+archive')?.possible).toBe(false);
    expect(noBackup.cheapest).toBe('re-clone');
  });

  it('the leader still has the WAL: streaming is the way back; leader down: only the archive ways', () => {
    const behind = stalled({
      state: 'catching-up',
      slot: { ...stalled().slot, walStatus: 'reserved' },
      leader: { ...stalled().leader, oldestSegment: '000000010000000000000030' },
    });
    expect(computeWaysBack(behind, estimate(), withArchive).cheapest).toBe('stream');
    const leaderDown = computeWaysBack(
      stalled({
        state: 'archive-recovery',
        lagBytes: null,
        leaderLsn: null,
        leader: { ...stalled().leader, reachable: false },
        archive: { ...(stalled().archive as NonNullable<StatusDocument['archive']>), missingSegment: null },
      }),
      estimate(),
      withArchive,
    );
    expect(leaderDown.behindBytes).toBe(1024 * MB); // from the leader's last known LSN
    expect(leaderDown.options.filter((o) => o.possible).map((o) => o.way)).toEqual([
      'archive',
      'backup+archive',
    ]);
  });

  it('without an archive only the leader ways remain; a direct status (no archive probe) still trusts the state', () => {
    const none = computeWaysBack(stalled({ archive: null }), estimate(), { archiveConfigured: false });
    expect(none.options.find((o) => o.way === 'archive')).toMatchObject({
      possible: false,
      detail: 'no archive configured',
    });
    const direct = computeWaysBack(
      stalled({ state: 'archive-recovery', archive: null }),
      estimate(),
      withArchive,
    );
    expect(direct.cheapest).toBe('archive');
  });

  it("a running supervisor's measured catch-up wins over behind / replay rate", () => {
    const archiveDoc = stalled({
      state: 'archive-recovery',
      archive: { ...(stalled().archive as NonNullable<StatusDocument['archive']>), missingSegment: null },
    });
    const rates = {
      limitedBy: 'replay' as const,
      leaderBytesPerSecond: 40 * MB,
      receiveBytesPerSecond: 0,
      replayBytesPerSecond: 50 * MB,
      windowSeconds: 30,
      text: '',
    };
    const closing = computeWaysBack(
      { ...archiveDoc, catchUp: { ...rates, catchingUp: true, etaSeconds: 102.4 } },
      estimate(),
      withArchive,
    );
    expect(closing.options.find((o) => o.way === 'archive')?.seconds).toBe(102.4);
    expect(closing.cheapest).toBe('backup+archive'); // 90 s
    const growing = computeWaysBack(
      { ...archiveDoc, catchUp: { ...rates, catchingUp: false, etaSeconds: null } },
      estimate(),
      withArchive,
    );
    expect(growing.options.find((o) => o.way === 'archive')).toMatchObject({ possible: true, seconds: null });
    expect(growing.options.find((o) => o.way === 'archive')?.detail).toMatch(/not catching up/);
  });

  it('is shown only for a replica that is stalled, behind or off the leader', () => {
    expect(needsWayBack({ role: 'replica', state: 'streaming' })).toBe(false);
    expect(needsWayBack({ role: 'primary', state: 'primary' })).toBe(false);
    expect(needsWayBack({ role: 'replica', state: 'stalled' })).toBe(true);
  });
});
