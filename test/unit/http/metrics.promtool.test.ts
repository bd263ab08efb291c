import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createSupervisorMetrics } from '../../../src/http/metrics.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';
import { parseLsn } from '../../../src/postgres/lsn.js';
import { leaderSample, previousSnapshot, unclassified } from '../monitor/fixtures.js';
import { installed } from '../../helpers/programs.js';

/** A snapshot in which every metric has a value: slot forecast, archiver, archive probe. */
function fullSnapshot(fetched: number, failed: number): Snapshot {
  const snapshot = previousSnapshot(
    unclassified({
      lag: { replayLagBytes: 1234n, replayLagSeconds: 2.5 },
      leader: leaderSample({
        archiver: {
          archivedCount: 10,
          failedCount: failed,
          lastArchivedWal: '000000010000000000000002',
          lastArchivedTime: Date.now() - 5000,
          lastFailedWal: null,
          lastFailedTime: null,
        },
        slot: {
          name: 'replica_a',
          exists: true,
          active: true,
          walStatus: 'reserved',
          safeWalSizeBytes: 1048576n,
          restartLsn: parseLsn('0/3000000'),
        },
      }),
      archive: {
        ok: true,
        value: {
          newestSegment: null,
          missingSegment: null,
          fetchedSegments: fetched,
          spooledSegments: 1,
          prefetchWindowSegments: 7,
          prefetchConcurrency: 2,
          replaySegmentsPerSecond: 9.5,
          fetchLatencySeconds: 0.12,
        },
      },
    }),
    'archive-recovery',
  );
  return {
    ...snapshot,
    forecast: {
      retainedBytes: 4096n,
      growthBytesPerSecond: 100,
      headroomBytes: 1048576n,
      secondsUntilFull: 600,
      limit: null,
    },
  };
}

// Issue 14 defect 14: promtool rejected /metrics (a gauge `_failed_count`, prom-client's
// nodejs_active_*_total gauges; a count since start exported as a gauge; a missing unit suffix).
describe('/metrics', () => {
  it.skipIf(!installed('promtool'))('passes promtool check metrics', async () => {
    const m = createSupervisorMetrics();
    m.observe(fullSnapshot(3, 1), 0.01);
    m.observe(fullSnapshot(5, 2), 0.01);
    m.setLeaderQueries(4);
    const text = await m.registry.metrics();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });

  it('exports totals since start as counters and seconds with their unit suffix', async () => {
    const m = createSupervisorMetrics();
    m.observe(fullSnapshot(3, 1), 0.01);
    m.observe(fullSnapshot(5, 2), 0.01);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^# TYPE pgfollower_archive_fetched_segments_total counter$/m);
    expect(text).toMatch(/^pgfollower_archive_fetched_segments_total 5$/m);
    // The prefetcher's window and the rates it is sized from.
    expect(text).toMatch(/^pgfollower_archive_prefetch_window_segments 7$/m);
    expect(text).toMatch(/^pgfollower_archive_prefetch_concurrency 2$/m);
    expect(text).toMatch(/^pgfollower_archive_replay_segments_per_second 9.5$/m);
    expect(text).toMatch(/^pgfollower_archive_fetch_latency_seconds 0.12$/m);
    expect(text).toMatch(/^# TYPE pgfollower_leader_archiver_failed_total counter$/m);
    expect(text).toMatch(/^pgfollower_leader_archiver_failed_total 2$/m);
    expect(text).toMatch(/^pgfollower_slot_until_limit_seconds 600$/m);
    expect(text).not.toMatch(/_failed_count|active_handles_total|seconds_until_limit/);
    // Unknown is absent, for counters too.
    m.observe(previousSnapshot(unclassified({ leader: { error: 'down' } }), 'disconnected'), 0.01);
    expect(await m.registry.metrics()).not.toMatch(/^pgfollower_leader_archiver_failed_total /m);
  });
});
