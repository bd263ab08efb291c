import { formatBytes } from '../config/units.js';
import { formatLsn, parseWalFileName, walFileName } from '../postgres/lsn.js';
import { HIDDEN_RECEIVER_STATUS } from './queries.js';
import type { FollowerState, LeaderSample, LocalSample, Snapshot, Sourced } from './snapshot.js';

/** A snapshot before classification: every fact, no verdict yet. */
export type UnclassifiedSnapshot = Omit<Snapshot, 'state' | 'reason' | 'neededSegment' | 'replayProgressAt'>;

export interface ClassifyOptions {
  /** Replay lag (bytes) above which a streaming follower is `catching-up`. */
  catchingUpBytes: number;
  /**
   * How long replay may stand still, with the receiver down and WAL to replay, before the follower
   * counts as `stalled` when the leader's oldest segment is unknown (pg_ls_waldir not permitted).
   */
  stallAfterMs: number;
}

interface Classification {
  state: FollowerState;
  reason: string;
  neededSegment: string | null;
  replayProgressAt: number | null;
}

/**
 * The follower's state from the facts of one tick and the previous snapshot. Pure: unit tests feed
 * recorded snapshots. The previous snapshot tells whether replay is advancing, which separates
 * `archive-recovery` (replaying without streaming) from `stalled` (no source has the next WAL).
 */
export function classify(
  previous: Snapshot | undefined,
  current: UnclassifiedSnapshot,
  options: ClassifyOptions,
): Classification {
  const { local, leader, lag } = current;
  if (!local.ok) {
    return {
      state: 'stopped',
      reason: `local server not answering: ${local.error}`,
      neededSegment: null,
      replayProgressAt: null,
    };
  }
  const node = local.value;
  if (!node.inRecovery) {
    return {
      state: 'primary',
      reason: `not in recovery: this node is a primary (timeline ${node.timeline ?? '?'})`,
      neededSegment: null,
      replayProgressAt: null,
    };
  }

  const replayLsn = node.replayLsn;
  const prevLocal = previous?.local.ok && previous.local.value.inRecovery ? previous.local.value : null;
  const prevReplay = prevLocal?.replayLsn ?? null;
  const advancing = prevReplay !== null && replayLsn !== null && replayLsn > prevReplay;
  const replayProgressAt =
    previous && prevLocal && !advancing && prevReplay === replayLsn
      ? (previous.replayProgressAt ?? previous.takenAt)
      : current.takenAt;

  const segmentSize = walSegmentSize(current.local, leader);
  // What a source must deliver next: WAL the receiver already flushed to the local pg_wal (replay
  // lagging behind it, e.g. recovery_min_apply_delay or a short receiver restart) is not needed from
  // the leader, whose slot lets it recycle everything before that flush position.
  const fetchLsn = fetchPosition(node);
  const neededSegment =
    fetchLsn !== null && node.timeline !== null && segmentSize !== null
      ? walFileName(node.timeline, fetchLsn, segmentSize)
      : null;
  const receiver = node.walReceiver;
  const lagText = lag.replayLagBytes === null ? 'lag unknown' : `${formatBytes(lag.replayLagBytes)} behind`;
  const paused = node.replayPaused ? ', replay paused (pg_wal_replay_resume() resumes it)' : '';

  if (receiver?.status === HIDDEN_RECEIVER_STATUS) {
    // A WAL receiver process runs but its details are hidden: judge by lag alone, and say why.
    const behind = lag.replayLagBytes !== null && lag.replayLagBytes > BigInt(options.catchingUpBytes);
    return {
      state: behind ? 'catching-up' : 'streaming',
      reason: `WAL receiver running (status hidden: grant pg_monitor to pgfollower's local role), ${lagText}${paused}`,
      neededSegment: null,
      replayProgressAt,
    };
  }
  if (receiver?.status === 'streaming') {
    const behind = lag.replayLagBytes !== null && lag.replayLagBytes > BigInt(options.catchingUpBytes);
    return {
      state: behind ? 'catching-up' : 'streaming',
      reason: `WAL receiver streaming from ${receiver.senderHost ?? '?'}:${receiver.senderPort ?? '?'}, ${lagText}${paused}`,
      neededSegment: null,
      replayProgressAt,
    };
  }

  const receiverText = receiver ? `WAL receiver ${receiver.status}` : 'no WAL receiver running';
  // Replaying what the receiver already wrote to pg_wal (e.g. the leader's shutdown checkpoint just
  // after it stopped) is not archive recovery; replay past the last received position is.
  const beyondReceived = node.receiveLsn === null || (replayLsn !== null && replayLsn > node.receiveLsn);
  if (advancing && beyondReceived) {
    return {
      state: 'archive-recovery',
      reason: `${receiverText}; replaying without streaming (restore_command or local pg_wal), at ${formatLsn(replayLsn)} (${neededSegment ?? '?'}), ${lagText}`,
      neededSegment,
      replayProgressAt,
    };
  }

  const leaderHasNeeded = leaderHoldsSegment(current, neededSegment, segmentSize);
  const archive = current.archive;
  const archiveHasNeeded =
    archive?.ok && neededSegment !== null && segmentSize !== null
      ? archive.value.missingSegment === null ||
        segNo(archive.value.missingSegment, segmentSize) > segNo(neededSegment, segmentSize)
      : null;
  const behindLeader = leader.ok && replayLsn !== null && replayLsn < leader.value.currentLsn;
  const stillFor = current.takenAt - replayProgressAt;

  if (leaderHasNeeded === false && archiveHasNeeded !== true) {
    const where = archive
      ? archive.ok
        ? `the archive lacks it too (first missing: ${archive.value.missingSegment ?? '?'})`
        : `the archive could not be checked (${archive.error})`
      : 'no archive is watched';
    return {
      state: 'stalled',
      reason: `${receiverText}; the leader already removed ${neededSegment ?? '?'} (oldest it has: ${leader.ok ? (leader.value.oldestSegment ?? '?') : '?'}) and ${where}: rebuild this follower (pgfollower rebuild) or restore the segment into the archive`,
      neededSegment,
      replayProgressAt,
    };
  }
  if (leaderHasNeeded === false && archiveHasNeeded === true) {
    return {
      state: 'archive-recovery',
      reason: `${receiverText}; the leader removed ${neededSegment ?? '?'} but the archive has it: waiting for restore_command`,
      neededSegment,
      replayProgressAt,
    };
  }
  if (!leader.ok) {
    return {
      state: 'disconnected',
      reason: `${receiverText}; leader unreachable (${leader.error}); replay at ${replayLsn === null ? '?' : formatLsn(replayLsn)}${paused}`,
      neededSegment,
      replayProgressAt,
    };
  }
  if (leaderHasNeeded === null && behindLeader && !node.replayPaused && stillFor >= options.stallAfterMs) {
    return {
      state: 'stalled',
      reason: `${receiverText}; replay has not moved for ${Math.round(stillFor / 1000)}s while the leader is ${lagText} ahead; no source delivers ${neededSegment ?? 'the next segment'}: check the follower's log for "requested WAL segment ... has already been removed"`,
      neededSegment,
      replayProgressAt,
    };
  }
  return {
    state: 'disconnected',
    reason: `${receiverText} although the leader answers (${lagText})${paused}: check primary_conninfo, pg_hba.conf for replication, and the follower's log`,
    neededSegment,
    replayProgressAt,
  };
}

/** Where a source (leader or archive) must deliver from: past what the receiver already flushed. */
export function fetchPosition(node: Pick<LocalSample, 'replayLsn' | 'receiveLsn'>): bigint | null {
  const { replayLsn, receiveLsn } = node;
  return replayLsn !== null && receiveLsn !== null && receiveLsn > replayLsn ? receiveLsn : replayLsn;
}

function segNo(name: string, segmentSize: bigint): bigint {
  return parseWalFileName(name, segmentSize).segNo;
}

/** true / false when the leader's pg_wal listing is known, null when it is not. */
function leaderHoldsSegment(
  current: UnclassifiedSnapshot,
  neededSegment: string | null,
  segmentSize: bigint | null,
): boolean | null {
  if (!current.leader.ok || neededSegment === null || segmentSize === null) return null;
  const oldest = current.leader.value.oldestSegment;
  if (oldest === null || oldest === undefined) return null;
  return segNo(neededSegment, segmentSize) >= segNo(oldest, segmentSize);
}

/** The servers' WAL segment size (the local server's, else the leader's), null while neither answered. */
export function walSegmentSize(local: Sourced<LocalSample>, leader: Sourced<LeaderSample>): bigint | null {
  return (
    (local.ok ? local.value.walSegmentSizeBytes : null) ??
    (leader.ok ? leader.value.walSegmentSizeBytes : null) ??
    null
  );
}
