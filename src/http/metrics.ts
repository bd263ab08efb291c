import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { followerStates, type Snapshot } from '../monitor/snapshot.js';

/**
 * Prometheus metrics of the supervisor, fed from snapshots only (no SQL of their own). Every name is
 * documented in docs/metrics.md. A registry per supervisor (not prom-client's global one) so tests
 * and several supervisors in one process do not collide.
 */
interface SupervisorMetrics {
  registry: Registry;
  observe(snapshot: Snapshot, tickSeconds: number): void;
  /** Leader statements sent so far (a counter mirrors it). */
  setLeaderQueries(total: number): void;
}

const walStatuses = ['reserved', 'extended', 'unreserved', 'lost'] as const;

export function createSupervisorMetrics(): SupervisorMetrics {
  const registry = new Registry();
  // The event-loop delay monitor samples on a libuv timer: at the default 10 ms it alone costs a
  // measurable share of a mostly idle daemon's CPU; 250 ms is plenty for a 1 s tick.
  collectDefaultMetrics({ register: registry, prefix: 'pgfollower_', eventLoopMonitoringPrecision: 250 });
  // prom-client exports these as gauges named `_total`, which `promtool check metrics` rejects (a
  // `_total` is a counter); the same numbers stay as nodejs_active_{handles,requests,resources}.
  for (const name of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`pgfollower_nodejs_active_${name}_total`);
  const reg = { registers: [registry] };

  const up = new Gauge({
    name: 'pgfollower_up',
    help: '1 when the source answered the last tick',
    labelNames: ['source'],
    ...reg,
  });
  const state = new Gauge({
    name: 'pgfollower_state',
    help: '1 for the current follower state, 0 for the others',
    labelNames: ['state'],
    ...reg,
  });
  const stateChanges = new Counter({
    name: 'pgfollower_state_changes_total',
    help: 'Follower state changes seen',
    ...reg,
  });
  const inRecovery = new Gauge({
    name: 'pgfollower_in_recovery',
    help: '1 when the local server is a standby',
    ...reg,
  });
  const timeline = new Gauge({ name: 'pgfollower_timeline', help: 'Timeline of the local server', ...reg });
  const replayLagBytes = new Gauge({
    name: 'pgfollower_replay_lag_bytes',
    help: 'Leader current LSN minus local replay LSN',
    ...reg,
  });
  const receiveLagBytes = new Gauge({
    name: 'pgfollower_receive_lag_bytes',
    help: 'Leader current LSN minus local receive LSN',
    ...reg,
  });
  const replayLagSeconds = new Gauge({
    name: 'pgfollower_replay_lag_seconds',
    help: 'How long ago the leader first had WAL this follower has not replayed (0 when caught up)',
    ...reg,
  });
  const catchUpEta = new Gauge({
    name: 'pgfollower_catchup_eta_seconds',
    help: 'Seconds until a follower that is behind is caught up, at the measured rates (absent when unknown or not catching up)',
    ...reg,
  });
  const catchUpRate = new Gauge({
    name: 'pgfollower_catchup_rate_bytes_per_second',
    help: 'WAL rates measured over the catch-up window: leader generation, follower receive, follower replay',
    labelNames: ['stream'],
    ...reg,
  });
  const primaryLagBytes = new Gauge({
    name: 'pgfollower_primary_replay_lag_bytes',
    help: 'cluster.primary current LSN minus local replay LSN (a cascaded follower)',
    ...reg,
  });
  const primaryReceiveLagBytes = new Gauge({
    name: 'pgfollower_primary_receive_lag_bytes',
    help: 'cluster.primary current LSN minus local receive LSN (a cascaded follower)',
    ...reg,
  });
  const primaryLagSeconds = new Gauge({
    name: 'pgfollower_primary_replay_lag_seconds',
    help: 'How long ago cluster.primary first had WAL this follower has not replayed',
    ...reg,
  });
  const receiverUp = new Gauge({
    name: 'pgfollower_wal_receiver_streaming',
    help: '1 when the WAL receiver is streaming',
    ...reg,
  });
  const replayPaused = new Gauge({
    name: 'pgfollower_replay_paused',
    help: '1 when replay is paused (pg_wal_replay_pause)',
    ...reg,
  });
  const receiveLsn = new Gauge({
    name: 'pgfollower_receive_lsn_bytes',
    help: 'Local receive LSN as a byte position',
    ...reg,
  });
  const replayLsn = new Gauge({
    name: 'pgfollower_replay_lsn_bytes',
    help: 'Local replay LSN as a byte position',
    ...reg,
  });
  const leaderLsn = new Gauge({
    name: 'pgfollower_leader_lsn_bytes',
    help: 'Leader current LSN as a byte position',
    ...reg,
  });
  const slotExists = new Gauge({
    name: 'pgfollower_slot_exists',
    help: "1 when this follower's slot exists on the leader",
    ...reg,
  });
  const slotActive = new Gauge({
    name: 'pgfollower_slot_active',
    help: '1 when the slot is in use by a walsender',
    ...reg,
  });
  const slotWalStatus = new Gauge({
    name: 'pgfollower_slot_wal_status',
    help: "1 for the slot's current wal_status",
    labelNames: ['status'],
    ...reg,
  });
  const slotSafe = new Gauge({
    name: 'pgfollower_slot_safe_wal_size_bytes',
    help: 'Bytes the leader can write before the slot is invalidated (max_slot_wal_keep_size)',
    ...reg,
  });
  const slotRetained = new Gauge({
    name: 'pgfollower_slot_retained_wal_bytes',
    help: 'WAL the slot makes the leader keep (current LSN minus restart_lsn)',
    ...reg,
  });
  const slotGrowth = new Gauge({
    name: 'pgfollower_slot_retained_growth_bytes_per_second',
    help: 'Growth of retained WAL over the last minute',
    ...reg,
  });
  const slotEta = new Gauge({
    name: 'pgfollower_slot_until_limit_seconds',
    help: 'Seconds until the slot hits max_slot_wal_keep_size at the current growth',
    ...reg,
  });
  const leaderPgWal = new Gauge({
    name: 'pgfollower_leader_pg_wal_bytes',
    help: "Size of the leader's pg_wal directory",
    ...reg,
  });
  const archiverFailed = new Counter({
    name: 'pgfollower_leader_archiver_failed_total',
    help: 'pg_stat_archiver.failed_count on the leader (since its statistics were last reset)',
    ...reg,
  });
  const archivedAge = new Gauge({
    name: 'pgfollower_leader_last_archived_age_seconds',
    help: 'Seconds since the leader last archived a segment',
    ...reg,
  });
  const archiveFetched = new Counter({
    name: 'pgfollower_archive_fetched_segments_total',
    help: 'Segments restore_command fetched since the supervisor started',
    ...reg,
  });
  const archiveSpooled = new Gauge({
    name: 'pgfollower_archive_spooled_segments',
    help: 'Segments waiting in the prefetch spool',
    ...reg,
  });
  const prefetchWindow = new Gauge({
    name: 'pgfollower_archive_prefetch_window_segments',
    help: 'Segments ahead of replay the prefetcher keeps ready or fetching (sized from the replay rate and fetch latency, at most archive.prefetch)',
    ...reg,
  });
  const prefetchConcurrency = new Gauge({
    name: 'pgfollower_archive_prefetch_concurrency',
    help: 'Fetches the prefetcher runs at once (at most archive.prefetchConcurrency)',
    ...reg,
  });
  const replayRate = new Gauge({
    name: 'pgfollower_archive_replay_segments_per_second',
    help: 'Segments replay takes from the prefetch spool per second, while it reads from it',
    ...reg,
  });
  const fetchLatency = new Gauge({
    name: 'pgfollower_archive_fetch_latency_seconds',
    help: '90th percentile of recent prefetch latencies (request to segment in the spool)',
    ...reg,
  });
  const ticks = new Counter({ name: 'pgfollower_ticks_total', help: 'Monitor ticks taken', ...reg });
  const tickDuration = new Histogram({
    name: 'pgfollower_tick_duration_seconds',
    help: 'Time one monitor tick took',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ...reg,
  });
  const leaderQueries = new Counter({
    name: 'pgfollower_leader_queries_total',
    help: 'Statements the monitor sent to the leader',
    ...reg,
  });
  const lastTick = new Gauge({
    name: 'pgfollower_last_tick_timestamp_seconds',
    help: 'Unix time of the last monitor tick',
    ...reg,
  });

  let previousState: string | undefined;
  let leaderQueriesSeen = 0;

  // Unknown means absent: prom-client's reset() puts a label-less gauge back to 0 (an unreachable
  // leader would read as "0 s behind"), remove({}) drops its sample instead.
  const setOrReset = (g: Gauge, v: number | bigint | null | undefined): void => {
    if (v === null || v === undefined) g.remove({});
    else g.set(Number(v));
  };
  // A counter that mirrors a total kept elsewhere (the leader's pg_stat_archiver, the fetch stats):
  // it shows that total; one that went down was reset there, which Prometheus's rate() handles.
  const mirror = (c: Counter, v: number | bigint | null | undefined): void => {
    if (v === null || v === undefined) {
      c.remove({});
      return;
    }
    c.reset();
    c.inc(Number(v));
  };

  return {
    registry,
    setLeaderQueries(total) {
      if (total > leaderQueriesSeen) leaderQueries.inc(total - leaderQueriesSeen);
      leaderQueriesSeen = total;
    },
    observe(snapshot, tickSeconds) {
      ticks.inc();
      tickDuration.observe(tickSeconds);
      lastTick.set(snapshot.takenAt / 1000);
      if (previousState !== undefined && previousState !== snapshot.state) stateChanges.inc();
      previousState = snapshot.state;
      for (const s of followerStates) state.set({ state: s }, s === snapshot.state ? 1 : 0);
      up.set({ source: 'local' }, snapshot.local.ok ? 1 : 0);
      up.set({ source: 'leader' }, snapshot.leader.ok ? 1 : 0);
      if (snapshot.archive) up.set({ source: 'archive' }, snapshot.archive.ok ? 1 : 0);
      if (snapshot.primary) up.set({ source: 'primary' }, snapshot.primary.sample.ok ? 1 : 0);
      setOrReset(primaryLagBytes, snapshot.primary?.lag.replayLagBytes);
      setOrReset(primaryReceiveLagBytes, snapshot.primary?.lag.receiveLagBytes);
      setOrReset(primaryLagSeconds, snapshot.primary?.lag.replayLagSeconds);

      const local = snapshot.local.ok ? snapshot.local.value : null;
      setOrReset(inRecovery, local ? (local.inRecovery ? 1 : 0) : null);
      setOrReset(timeline, local?.timeline);
      setOrReset(replayLagBytes, snapshot.lag.replayLagBytes);
      setOrReset(receiveLagBytes, snapshot.lag.receiveLagBytes);
      setOrReset(replayLagSeconds, snapshot.lag.replayLagSeconds);
      const catchUp = snapshot.catchUp ?? null;
      setOrReset(catchUpEta, catchUp?.etaSeconds);
      catchUpRate.reset();
      if (catchUp) {
        catchUpRate.set({ stream: 'leader' }, catchUp.leaderBytesPerSecond);
        catchUpRate.set({ stream: 'receive' }, catchUp.receiveBytesPerSecond);
        catchUpRate.set({ stream: 'replay' }, catchUp.replayBytesPerSecond);
      }
      setOrReset(receiverUp, local ? (local.walReceiver?.status === 'streaming' ? 1 : 0) : null);
      setOrReset(replayPaused, local ? (local.replayPaused ? 1 : 0) : null);
      setOrReset(receiveLsn, local?.receiveLsn);
      setOrReset(replayLsn, local?.replayLsn ?? local?.currentLsn);

      const leader = snapshot.leader.ok ? snapshot.leader.value : null;
      setOrReset(leaderLsn, leader?.currentLsn);
      setOrReset(leaderPgWal, leader?.pgWalBytes);
      mirror(archiverFailed, leader?.archiver?.failedCount);
      setOrReset(
        archivedAge,
        leader?.archiver?.lastArchivedTime != null
          ? Math.max(0, (leader.leaderNow - leader.archiver.lastArchivedTime) / 1000)
          : null,
      );
      const slot = leader?.slot ?? null;
      setOrReset(slotExists, slot ? (slot.exists ? 1 : 0) : null);
      setOrReset(slotActive, slot?.exists ? (slot.active ? 1 : 0) : null);
      if (slot?.exists) {
        for (const s of walStatuses) slotWalStatus.set({ status: s }, s === slot.walStatus ? 1 : 0);
      } else slotWalStatus.reset();
      setOrReset(slotSafe, slot?.safeWalSizeBytes);
      setOrReset(slotRetained, snapshot.forecast?.retainedBytes);
      setOrReset(slotGrowth, snapshot.forecast?.growthBytesPerSecond);
      setOrReset(slotEta, snapshot.forecast?.secondsUntilFull);

      const archive = snapshot.archive?.ok ? snapshot.archive.value : null;
      mirror(archiveFetched, archive?.fetchedSegments);
      setOrReset(archiveSpooled, archive?.spooledSegments);
      setOrReset(prefetchWindow, archive?.prefetchWindowSegments);
      setOrReset(prefetchConcurrency, archive?.prefetchConcurrency);
      setOrReset(replayRate, archive?.replaySegmentsPerSecond);
      setOrReset(fetchLatency, archive?.fetchLatencySeconds);
    },
  };
}
