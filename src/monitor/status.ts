import { formatBytes, formatDurationMs } from '../config/units.js';
import { formatLsn } from '../postgres/lsn.js';
import { describeCatchUp } from './catchup.js';
import type { CatchUp, FollowerState, Snapshot } from './snapshot.js';

/**
 * The status document: what `status --json` prints, what GET /status serves, what `check` reads.
 * JSON types, the same in every answer: LSNs are strings ("0/3000060"), byte counts and seconds are
 * numbers (bytes exact below 2^53 = 8 PiB), unknown values are null.
 */
export interface StatusDocument {
  /** The node serves its role: a primary, or a replica that is streaming or catching up (as /readiness). */
  ok: boolean;
  node: string;
  role: 'replica' | 'primary' | 'down';
  state: FollowerState;
  reason: string;
  takenAt: string;
  timeline: number | null;
  receiveLsn: string | null;
  replayLsn: string | null;
  leaderLsn: string | null;
  /** The leader's LSN when it last answered (kept while it is unreachable), and when that was. */
  lastLeaderLsn: string | null;
  lastLeaderSeenAt: string | null;
  /**
   * At lastLeaderSeenAt: this node's pg_stat_replication.sync_state on the leader and the leader's
   * synchronous_commit / synchronous_standby_names (promote's zero-loss proof after a crash).
   */
  lastLeaderSync: {
    syncState: string | null;
    synchronousCommit: string | null;
    standbyNames: string | null;
  } | null;
  /** Replay lag in bytes (leader current LSN minus replay LSN). */
  lagBytes: number | null;
  receiveLagBytes: number | null;
  replayLagSeconds: number | null;
  replayPaused: boolean | null;
  walReceiver: { status: string; sender: string | null; slot: string | null } | null;
  neededSegment: string | null;
  /**
   * While catching-up or archive-recovery with rates measured by a running supervisor: the ETA
   * (null when not catching up), what limits it, the rates, and `text` as status prints it.
   * null otherwise (caught up, or unknown: a one-shot status measures no rate).
   */
  catchUp: (CatchUp & { text: string }) | null;
  slot: {
    name: string | null;
    exists: boolean | null;
    active: boolean | null;
    walStatus: string | null;
    safeWalSizeBytes: number | null;
    retainedBytes: number | null;
    growthBytesPerSecond: number | null;
    secondsUntilFull: number | null;
  };
  leader: {
    reachable: boolean;
    error: string | null;
    timeline: number | null;
    pgWalBytes: number | null;
    oldestSegment: string | null;
    archiverFailedCount: number | null;
    lastArchivedAgeSeconds: number | null;
  };
  archive: {
    ok: boolean;
    error: string | null;
    newestSegment: string | null;
    missingSegment: string | null;
    fetchedSegments: number | null;
    spooledSegments: number | null;
  } | null;
  /** node.failoverPriority: peers running promote compare it (0 = never promote without --force). */
  failoverPriority: number | null;
  /** node.applyDelay in ms (a delayed follower); lagBytes and replayLagSeconds discount it. */
  applyDelayMs: number;
  /** A delayed follower's lag without the discount (bytes, seconds); null when applyDelayMs is 0. */
  undelayedLagBytes: number | null;
  undelayedLagSeconds: number | null;
  /**
   * The node leader.conninfo names (no password): a primary, or a standby when this follower
   * replicates in cascade; timeline is the one it is on (a standby's: the one it receives).
   */
  upstream: {
    host: string | null;
    port: number | null;
    isStandby: boolean | null;
    timeline: number | null;
  } | null;
  /**
   * cluster.primary, when configured (a cascaded follower): this node's lag to the primary beside
   * the lag to its upstream above (same units; the apply delay discounted the same way).
   */
  primary: {
    host: string | null;
    port: number | null;
    reachable: boolean;
    error: string | null;
    /** true when cluster.primary names a standby (stale after a failover). */
    isStandby: boolean | null;
    lsn: string | null;
    /** The primary's position when it last answered, and when. */
    lastLsn: string | null;
    lastSeenAt: string | null;
    lagBytes: number | null;
    receiveLagBytes: number | null;
    replayLagSeconds: number | null;
  } | null;
  /** "supervisor" when served by a running daemon, "direct" for a one-shot snapshot. */
  source: 'supervisor' | 'direct';
}

const num = (v: bigint | null | undefined): number | null =>
  v === null || v === undefined ? null : Number(v);
const lsn = (v: bigint | null | undefined): string | null =>
  v === null || v === undefined ? null : formatLsn(v);

/** A primary, or a replica that receives WAL: what /readiness and the status document's `ok` say. */
export function servesItsRole(state: FollowerState): boolean {
  return state === 'primary' || state === 'streaming' || state === 'catching-up';
}

export function buildStatus(snapshot: Snapshot, source: StatusDocument['source']): StatusDocument {
  const local = snapshot.local.ok ? snapshot.local.value : null;
  const leader = snapshot.leader.ok ? snapshot.leader.value : null;
  const slot = leader?.slot ?? null;
  const receiver = local?.walReceiver ?? null;
  const archive = snapshot.archive;
  return {
    ok: servesItsRole(snapshot.state),
    node: snapshot.node,
    role: local === null ? 'down' : local.inRecovery ? 'replica' : 'primary',
    state: snapshot.state,
    reason: snapshot.reason,
    takenAt: new Date(snapshot.takenAt).toISOString(),
    timeline: local?.timeline ?? null,
    receiveLsn: lsn(local?.receiveLsn),
    replayLsn: lsn(local?.replayLsn),
    leaderLsn: lsn(leader?.currentLsn),
    lastLeaderLsn: lsn(snapshot.lastLeader?.lsn),
    lastLeaderSeenAt: snapshot.lastLeader ? new Date(snapshot.lastLeader.seenAt).toISOString() : null,
    lastLeaderSync: snapshot.lastLeader?.sync ?? null,
    lagBytes: num(snapshot.lag.replayLagBytes),
    receiveLagBytes: num(snapshot.lag.receiveLagBytes),
    replayLagSeconds: snapshot.lag.replayLagSeconds,
    replayPaused: local ? local.replayPaused : null,
    walReceiver: receiver
      ? {
          status: receiver.status,
          sender: receiver.senderHost ? `${receiver.senderHost}:${receiver.senderPort ?? ''}` : null,
          slot: receiver.slotName,
        }
      : null,
    neededSegment: snapshot.neededSegment,
    catchUp: snapshot.catchUp ? { ...snapshot.catchUp, text: describeCatchUp(snapshot.catchUp) ?? '' } : null,
    slot: {
      name: slot?.name ?? receiver?.slotName ?? null,
      exists: slot ? slot.exists : null,
      active: slot?.active ?? null,
      walStatus: slot?.walStatus ?? null,
      safeWalSizeBytes: num(slot?.safeWalSizeBytes),
      retainedBytes: num(snapshot.forecast?.retainedBytes),
      growthBytesPerSecond: snapshot.forecast?.growthBytesPerSecond ?? null,
      secondsUntilFull: snapshot.forecast?.secondsUntilFull ?? null,
    },
    leader: {
      reachable: leader !== null,
      error: snapshot.leader.ok ? null : snapshot.leader.error,
      timeline: leader?.timeline ?? null,
      pgWalBytes: num(leader?.pgWalBytes),
      oldestSegment: leader?.oldestSegment ?? null,
      archiverFailedCount: leader?.archiver?.failedCount ?? null,
      lastArchivedAgeSeconds:
        leader?.archiver?.lastArchivedTime != null
          ? Math.max(0, (leader.leaderNow - leader.archiver.lastArchivedTime) / 1000)
          : null,
    },
    archive: archive
      ? archive.ok
        ? { ok: true, error: null, ...archive.value }
        : {
            ok: false,
            error: archive.error,
            newestSegment: null,
            missingSegment: null,
            fetchedSegments: null,
            spooledSegments: null,
          }
      : null,
    upstream: snapshot.topology?.upstream
      ? {
          ...snapshot.topology.upstream,
          isStandby: leader ? leader.inRecovery : null,
          timeline: leader?.timeline ?? null,
        }
      : null,
    primary: buildPrimary(snapshot),
    failoverPriority: snapshot.topology?.failoverPriority ?? null,
    applyDelayMs: snapshot.topology?.applyDelayMs ?? 0,
    undelayedLagBytes: num(snapshot.lag.delay?.replayLagBytes),
    undelayedLagSeconds: snapshot.lag.delay?.replayLagSeconds ?? null,
    source,
  };
}

function buildPrimary(snapshot: Snapshot): StatusDocument['primary'] {
  const primary = snapshot.primary;
  if (!primary) return null;
  const sample = primary.sample.ok ? primary.sample.value : null;
  return {
    host: snapshot.topology?.primary?.host ?? null,
    port: snapshot.topology?.primary?.port ?? null,
    reachable: sample !== null,
    error: primary.sample.ok ? null : primary.sample.error,
    isStandby: sample ? sample.inRecovery : null,
    lsn: lsn(sample?.currentLsn),
    lastLsn: lsn(primary.last?.lsn),
    lastSeenAt: primary.last ? new Date(primary.last.seenAt).toISOString() : null,
    lagBytes: num(primary.lag.replayLagBytes),
    receiveLagBytes: num(primary.lag.receiveLagBytes),
    replayLagSeconds: primary.lag.replayLagSeconds,
  };
}

/** The human summary `pgfollower status` prints: state first, then the numbers, then what to do. */
export function formatStatus(doc: StatusDocument): string {
  const lines: string[] = [];
  lines.push(
    `${doc.node}: ${doc.state} (${doc.role}${doc.timeline !== null ? `, timeline ${doc.timeline}` : ''})`,
  );
  lines.push(`  ${doc.reason}`);
  if (doc.role === 'replica') {
    lines.push(
      `  lag: ${doc.lagBytes === null ? 'unknown' : formatBytes(doc.lagBytes)} replay, ${doc.receiveLagBytes === null ? 'unknown' : formatBytes(doc.receiveLagBytes)} receive, ${doc.replayLagSeconds === null ? 'unknown' : formatDurationMs(doc.replayLagSeconds * 1000)} behind${doc.applyDelayMs > 0 ? ` beyond the apply delay of ${formatDurationMs(doc.applyDelayMs)}` : ''}`,
    );
    if (doc.upstream?.isStandby) {
      lines.push(
        `  upstream ${doc.upstream.host ?? '?'}:${doc.upstream.port ?? '?'} is a standby: this node replicates in cascade${doc.primary ? '' : ' (set cluster.primary to see the lag to the primary too)'}`,
      );
    }
    if (doc.primary) lines.push(`  ${formatPrimaryLag(doc.primary)}`);
    lines.push(
      `  positions: receive ${doc.receiveLsn ?? '-'}, replay ${doc.replayLsn ?? '-'}, leader ${doc.leaderLsn ?? '-'}${doc.replayPaused ? ' (replay paused)' : ''}`,
    );
    if (doc.catchUp) lines.push(`  catch-up: ${doc.catchUp.text}`);
    else if (doc.state === 'catching-up' || doc.state === 'archive-recovery')
      lines.push(
        `  catch-up: no estimate yet${doc.source === 'direct' ? ' (rates are measured by the running supervisor)' : ' (measuring rates)'}`,
      );
  }
  if (doc.slot.name) {
    const s = doc.slot;
    const parts = [
      s.exists === null
        ? 'unknown (leader unreachable)'
        : s.exists
          ? s.active
            ? 'active'
            : 'inactive'
          : 'MISSING',
    ];
    if (s.walStatus) parts.push(`wal_status ${s.walStatus}`);
    if (s.safeWalSizeBytes !== null)
      parts.push(`${formatBytes(s.safeWalSizeBytes)} before it is invalidated`);
    if (s.retainedBytes !== null) parts.push(`retains ${formatBytes(s.retainedBytes)}`);
    if (s.secondsUntilFull !== null)
      parts.push(`limit reached in ~${formatDurationMs(s.secondsUntilFull * 1000)}`);
    lines.push(`  slot ${s.name}: ${parts.join(', ')}`);
  }
  if (!doc.leader.reachable) lines.push(`  leader: unreachable (${doc.leader.error ?? '?'})`);
  else if (doc.leader.pgWalBytes !== null)
    lines.push(
      `  leader pg_wal: ${formatBytes(doc.leader.pgWalBytes)}${doc.leader.archiverFailedCount ? `, archiver failures ${doc.leader.archiverFailedCount}` : ''}`,
    );
  if (doc.neededSegment && (doc.state === 'archive-recovery' || doc.state === 'stalled'))
    lines.push(`  next segment needed: ${doc.neededSegment}`);
  const next = nextStep(doc);
  if (next) lines.push(`next: ${next}`);
  return lines.join('\n');
}

function formatPrimaryLag(p: NonNullable<StatusDocument['primary']>): string {
  const where = `${p.host ?? '?'}:${p.port ?? '?'}`;
  if (!p.reachable) return `lag to the primary ${where}: unknown (${p.error ?? 'unreachable'})`;
  const bytes = (v: number | null): string => (v === null ? 'unknown' : formatBytes(v));
  const seconds = p.replayLagSeconds === null ? 'unknown' : formatDurationMs(p.replayLagSeconds * 1000);
  return `lag to the primary ${where}: ${bytes(p.lagBytes)} replay, ${bytes(p.receiveLagBytes)} receive, ${seconds} behind${p.isStandby ? ' (cluster.primary is a standby now: point it at the new primary)' : ''}`;
}

function nextStep(doc: StatusDocument): string | undefined {
  switch (doc.state) {
    case 'stopped':
      return 'start the local server (systemctl start postgresql) and read its log if it does not come up';
    case 'stalled':
      return 'no source has the next WAL: restore it into the archive, or rebuild this follower (pgfollower rebuild)';
    case 'disconnected':
      return doc.leader.reachable
        ? "the leader answers but this follower does not stream: check primary_conninfo, pg_hba.conf and the follower's log"
        : 'check the leader host and network; the follower replays the archive meanwhile if restore_command is set';
    case 'archive-recovery':
      return 'the follower replays from the archive; it returns to streaming once the leader is reachable';
    case 'catching-up':
      return doc.replayPaused
        ? 'replay is paused: run select pg_wal_replay_resume() when intended'
        : undefined;
    default:
      return doc.slot.exists === false
        ? 'the slot is missing on the leader: recreate it or rebuild'
        : undefined;
  }
}
