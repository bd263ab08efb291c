import type { Lsn } from '../postgres/lsn.js';

/**
 * Everything the supervisor knows at one instant. Produced by one monitor tick; read by status,
 * HTTP, metrics, alerts and tests alike. None of those readers runs its own SQL.
 * LSNs are bigint; byte counts that derive from LSNs are bigint too.
 */

export type FollowerState =
  'streaming' | 'catching-up' | 'archive-recovery' | 'stalled' | 'disconnected' | 'stopped' | 'primary';

export const followerStates: readonly FollowerState[] = [
  'streaming',
  'catching-up',
  'archive-recovery',
  'stalled',
  'disconnected',
  'stopped',
  'primary',
];

/** A source either answered or failed; a failure keeps the error so readers can say why. */
export type Sourced<T> = { ok: true; value: T } | { ok: false; error: string; code?: string | undefined };

export interface WalReceiverRow {
  /** streaming | starting | waiting | restarting | stopping ... (pg_stat_wal_receiver.status) */
  status: string;
  receivedTimeline: number | null;
  flushedLsn: Lsn | null;
  latestEndLsn: Lsn | null;
  latestEndTime: number | null;
  lastMsgReceiptTime: number | null;
  slotName: string | null;
  senderHost: string | null;
  senderPort: number | null;
}

export interface LocalSample {
  inRecovery: boolean;
  /** Timeline the node is on (replay timeline for a standby). */
  timeline: number | null;
  receiveLsn: Lsn | null;
  replayLsn: Lsn | null;
  /** Primary only: pg_current_wal_lsn(). */
  currentLsn: Lsn | null;
  /** pg_last_xact_replay_timestamp(), ms since epoch. */
  lastReplayTimestamp: number | null;
  replayPaused: boolean;
  walReceiver: WalReceiverRow | null;
  serverVersionNum: number;
  /** wal_segment_size (fixed at initdb; the same on the leader): names and numbers WAL segments. */
  walSegmentSizeBytes?: bigint | null;
}

export interface SlotRow {
  name: string;
  exists: boolean;
  active: boolean | null;
  /** reserved | extended | unreserved | lost */
  walStatus: string | null;
  safeWalSizeBytes: bigint | null;
  restartLsn: Lsn | null;
}

export interface ReplicationRow {
  applicationName: string;
  state: string;
  sentLsn: Lsn | null;
  writeLsn: Lsn | null;
  flushLsn: Lsn | null;
  replayLsn: Lsn | null;
  /** pg_stat_replication *_lag columns, seconds. */
  writeLagSeconds: number | null;
  flushLagSeconds: number | null;
  replayLagSeconds: number | null;
  /** pg_stat_replication.sync_state: async | potential | sync | quorum. */
  syncState?: string | null;
}

export interface ArchiverRow {
  archivedCount: number;
  failedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: number | null;
  lastFailedWal: string | null;
  lastFailedTime: number | null;
}

export interface LeaderSample {
  inRecovery: boolean;
  currentLsn: Lsn;
  timeline: number | null;
  /** This follower's row in pg_stat_replication, if connected. */
  replication: ReplicationRow | null;
  slot: SlotRow | null;
  archiver: ArchiverRow | null;
  /** Size of the leader's pg_wal directory. */
  pgWalBytes: bigint | null;
  /** Leader's clock at the sample (now()), ms since epoch: lag in seconds uses the leader's clock. */
  leaderNow: number;
  /**
   * Oldest WAL segment still in the leader's pg_wal (null when pg_ls_waldir is not permitted).
   * When the follower needs an older one, streaming cannot resume: only the archive can help.
   */
  oldestSegment?: string | null;
  /** max_slot_wal_keep_size in bytes; null when unlimited (-1). */
  maxSlotWalKeepSizeBytes?: bigint | null;
  /** WAL segment size of the leader (wal_segment_size). */
  walSegmentSizeBytes?: bigint | null;
  /** synchronous_commit and synchronous_standby_names as the monitor's session sees them. */
  synchronousCommit?: string | null;
  synchronousStandbyNames?: string | null;
}

/**
 * Where the WAL this follower's slot retains on the leader is heading. A slot that pins WAL without
 * max_slot_wal_keep_size can fill the leader's disk and stop it.
 */
export interface SlotForecast {
  /** Leader current LSN minus slot restart_lsn. */
  retainedBytes: bigint;
  /** Growth of retainedBytes per second over the recent window; null until two samples exist. */
  growthBytesPerSecond: number | null;
  /** Bytes left before the limit: safe_wal_size when the leader has max_slot_wal_keep_size. */
  headroomBytes: bigint | null;
  /** Seconds until headroom is used up at the current growth; null when not growing or unknown. */
  secondsUntilFull: number | null;
  limit: 'max_slot_wal_keep_size' | null;
}

/**
 * The cluster's primary (cluster.primary) as one cheap query sees it, when this follower replicates
 * in cascade: where the primary is, to tell the lag to it apart from the lag to the upstream.
 */
export interface PrimarySample {
  /** true when cluster.primary names a standby (it went stale after a failover). */
  inRecovery: boolean;
  currentLsn: Lsn;
  timeline: number | null;
  /** The primary's clock (now()), ms since epoch. */
  primaryNow: number;
}

/** Filled by the archive domain when an archive is configured. */
export interface ArchiveSample {
  /** Newest segment in the archive on the follower's timeline. */
  newestSegment: string | null;
  /** First missing segment between replay position and the leader, if any (a gap). */
  missingSegment: string | null;
  /** Segments fetched from the archive by restore_command since the supervisor started. */
  fetchedSegments: number;
  /** Segments waiting in the prefetch spool. */
  spooledSegments: number;
  /**
   * The prefetcher's window now (segments ahead of replay kept ready or fetching) and its
   * fetches at once, sized from the two rates below; absent without a prefetcher.
   */
  prefetchWindowSegments?: number | undefined;
  prefetchConcurrency?: number | undefined;
  /** Segments replay takes from the spool per second (while it reads from it), null while unknown. */
  replaySegmentsPerSecond?: number | null | undefined;
  /** 90th percentile of recent prefetch latencies (request to file in the spool), in seconds. */
  fetchLatencySeconds?: number | null | undefined;
}

export interface Lag {
  /** Leader current LSN minus local replay LSN. */
  replayLagBytes: bigint | null;
  /** Leader current LSN minus local receive LSN. */
  receiveLagBytes: bigint | null;
  /**
   * Seconds the replayed state is behind the leader: 0 when replay has reached the leader's
   * current LSN (an idle leader is not lag), else leader now minus last replayed commit time.
   */
  replayLagSeconds: number | null;
  /**
   * A delayed follower (node.applyDelay): the figures above discount the delay; these are the
   * figures without the discount.
   */
  delay?: { applyDelayMs: number; replayLagBytes: bigint | null; replayLagSeconds: number | null };
}

export interface Snapshot {
  /** ms since epoch, local clock. */
  takenAt: number;
  node: string;
  local: Sourced<LocalSample>;
  leader: Sourced<LeaderSample>;
  archive: Sourced<ArchiveSample> | null;
  lag: Lag;
  state: FollowerState;
  /** Why the state was chosen, for humans: "receiver streaming, 1.2 MB behind". */
  reason: string;
  /** Next WAL segment the follower needs when it is archive-recovering or stalled. */
  neededSegment: string | null;
  /** Last takenAt at which the replay LSN moved (carried over from previous snapshots). */
  replayProgressAt?: number | null;
  /** Slot retention forecast on the leader, when the slot and leader are known. */
  forecast?: SlotForecast | null;
  /**
   * The leader's current LSN the last time it answered, carried across ticks, so that after the
   * leader is lost `promote` can still estimate how much WAL this node never received.
   */
  lastLeader?: {
    lsn: Lsn;
    timeline: number | null;
    seenAt: number;
    /** Was this node a synchronous standby then (promote's proof after a crash)? */
    sync?: { syncState: string | null; synchronousCommit: string | null; standbyNames: string | null };
  } | null;
  /** While catching-up or archive-recovery: when it will be caught up and what limits it (catchup.ts). */
  catchUp?: CatchUp | null;
  /** This node's place in the topology as configured: node.failoverPriority, node.applyDelay. */
  topology?: NodeTopology;
  /**
   * cluster.primary, when configured: its sample, this node's lag to it (the same maths as `lag`,
   * with the same apply-delay discount), and its last answered position carried across ticks.
   */
  primary?: {
    sample: Sourced<PrimarySample>;
    lag: Lag;
    last: { lsn: Lsn; timeline: number | null; seenAt: number } | null;
  } | null;
}

/** Catch-up estimate from rates measured over the monitor's window (monitor/catchup.ts). */
export interface CatchUp {
  /** The lag closes (replay outpaces the leader's WAL generation). */
  catchingUp: boolean;
  /** Seconds until replay lag is down to monitor.catchingUpBytes; null when not catching up. */
  etaSeconds: number | null;
  /** What holds catch-up back; null when it cannot be told (archive recovery without a spool probe). */
  limitedBy: 'replay' | 'fetch' | 'network' | null;
  leaderBytesPerSecond: number;
  receiveBytesPerSecond: number;
  replayBytesPerSecond: number;
  /** How long the rates were measured over. */
  windowSeconds: number;
}

export interface NodeTopology {
  /** 0 = never promote without --force; among peers at the same position the higher wins. */
  failoverPriority: number;
  /** recovery_min_apply_delay the operator configured (ms); replay lag discounts it. */
  applyDelayMs: number;
  /** Where leader.conninfo points (no password): the upstream, a primary or another standby. */
  upstream?: { host: string | null; port: number | null } | null;
  /** Where cluster.primary points (no password), when configured. */
  primary?: { host: string | null; port: number | null } | null;
}

/** The parts of a snapshot known when the archive probe runs (state is not classified yet). */
export type SnapshotInProgress = Pick<Snapshot, 'takenAt' | 'node' | 'local' | 'leader' | 'lag'> & {
  /** Segment replay needs next (replay LSN + timeline), when the node is a standby. */
  neededSegment: string | null;
};

/**
 * Called once per tick when given. Must honour `signal` (aborted at shutdown) and return within
 * about one interval; a rejection is recorded in the snapshot as `archive: { ok: false, error }`
 * and never stops the supervisor.
 */
export type ArchiveProbe = (snapshot: SnapshotInProgress, signal: AbortSignal) => Promise<ArchiveSample>;
