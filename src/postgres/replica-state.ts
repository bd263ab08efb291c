import type { PgClient } from './client.js';
import { parseLsnOrNull, type Lsn } from './lsn.js';

/**
 * Where a node stands, read in one round trip: what failover decisions are made of.
 * https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-RECOVERY-CONTROL
 * https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-WAL-RECEIVER-VIEW
 */
export interface NodePosition {
  systemId: string;
  inRecovery: boolean;
  /** Newest timeline this node knows it is on (see readNodePosition). */
  timeline: number;
  /** Standby: last WAL received and flushed by streaming (null if it never streamed since start). */
  receiveLsn: Lsn | null;
  /** Standby: last WAL replayed. */
  replayLsn: Lsn | null;
  /** Primary: pg_current_wal_lsn(). */
  currentLsn: Lsn | null;
  replayPaused: boolean;
  receiver: {
    status: string;
    receivedTimeline: number | null;
    flushedLsn: Lsn | null;
    /** End of the leader's WAL as its walsender last reported it: the best guess of where the leader was. */
    latestEndLsn: Lsn | null;
    senderHost: string | null;
    senderPort: number | null;
    slotName: string | null;
  } | null;
  serverVersionNum: number;
  /** wal_segment_size, fixed at initdb (1 MiB .. 1 GiB): names and numbers this node's segments. */
  walSegmentSizeBytes: bigint;
}

/** The furthest WAL position a node holds: a standby's received or replayed LSN, a primary's current. */
export function furthestLsn(position: NodePosition): Lsn {
  let best = 0n;
  for (const v of [position.receiveLsn, position.replayLsn, position.currentLsn])
    if (v !== null && v > best) best = v;
  return best;
}

export async function readNodePosition(client: PgClient): Promise<NodePosition> {
  // pg_is_wal_replay_paused() and pg_last_* raise or return null on a primary; CASE keeps one query
  // valid on both. A standby's replay timeline has no SQL function: the highest of the receiver's
  // timeline, the last restartpoint's and the minimum-recovery-point's is the newest one it reached.
  const { rows } = await client.query<{
    in_recovery: boolean;
    receive_lsn: string | null;
    replay_lsn: string | null;
    current_lsn: string | null;
    paused: boolean;
    checkpoint_tli: number;
    min_recovery_tli: number;
    primary_tli: string | null;
    system_id: string;
    version_num: number;
    segment_size: string;
  }>(`SELECT pg_is_in_recovery() AS in_recovery,
            pg_last_wal_receive_lsn()::text AS receive_lsn,
            pg_last_wal_replay_lsn()::text AS replay_lsn,
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
            CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,
            (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
            (SELECT min_recovery_end_timeline FROM pg_control_recovery()) AS min_recovery_tli,
            CASE WHEN pg_is_in_recovery() THEN NULL
                 ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END AS primary_tli,
            (SELECT system_identifier FROM pg_control_system())::text AS system_id,
            current_setting('server_version_num')::int AS version_num,
            pg_size_bytes(current_setting('wal_segment_size'))::text AS segment_size`);
  const row = rows[0];
  if (!row) throw new Error('position query returned no row');
  const receiverRows = row.in_recovery
    ? (
        await client.query<{
          status: string;
          received_tli: number | null;
          flushed_lsn: string | null;
          latest_end_lsn: string | null;
          sender_host: string | null;
          sender_port: number | null;
          slot_name: string | null;
        }>(
          `SELECT status, received_tli, flushed_lsn::text, latest_end_lsn::text, sender_host, sender_port, slot_name
             FROM pg_stat_wal_receiver`,
        )
      ).rows
    : [];
  const r = receiverRows[0];
  const receiver = r
    ? {
        status: r.status,
        receivedTimeline: r.received_tli,
        flushedLsn: parseLsnOrNull(r.flushed_lsn),
        latestEndLsn: parseLsnOrNull(r.latest_end_lsn),
        senderHost: r.sender_host,
        senderPort: r.sender_port,
        slotName: r.slot_name,
      }
    : null;
  const timeline =
    row.primary_tli !== null
      ? Number.parseInt(row.primary_tli, 16)
      : Math.max(
          Number(row.checkpoint_tli),
          Number(row.min_recovery_tli),
          Number(receiver?.receivedTimeline ?? 0),
        );
  return {
    systemId: row.system_id,
    inRecovery: row.in_recovery,
    timeline,
    receiveLsn: parseLsnOrNull(row.receive_lsn),
    replayLsn: parseLsnOrNull(row.replay_lsn),
    currentLsn: parseLsnOrNull(row.current_lsn),
    replayPaused: row.paused,
    receiver,
    serverVersionNum: Number(row.version_num),
    walSegmentSizeBytes: BigInt(row.segment_size),
  };
}
