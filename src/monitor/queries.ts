import type { PgClient } from '../postgres/client.js';
import { sqlState } from '../postgres/client.js';
import { parseLsnOrNull } from '../postgres/lsn.js';
import type { LeaderSample, LocalSample, PrimarySample, SlotRow } from './snapshot.js';

/**
 * The SQL of one monitor tick: one query on the local server, one on the leader. Both are cheap
 * (no table scans; pg_ls_waldir lists one directory) and bounded by statement_timeout.
 * https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-RECOVERY-CONTROL
 */

// Functions that raise outside recovery (pg_is_wal_replay_paused) or inside it (pg_current_wal_lsn)
// sit behind CASE so one statement works on a standby and on a promoted node.
const localSql = `
select pg_is_in_recovery() as in_recovery,
  case when pg_is_in_recovery() then pg_last_wal_receive_lsn()::text end as receive_lsn,
  case when pg_is_in_recovery() then pg_last_wal_replay_lsn()::text end as replay_lsn,
  case when not pg_is_in_recovery() then pg_current_wal_lsn()::text end as current_lsn,
  case when not pg_is_in_recovery()
    then ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end as current_tli,
  (select timeline_id from pg_control_checkpoint()) as checkpoint_tli,
  (extract(epoch from pg_last_xact_replay_timestamp()) * 1000)::float8 as last_replay_ms,
  case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end as replay_paused,
  current_setting('server_version_num')::int as version_num,
  pg_size_bytes(current_setting('wal_segment_size'))::text as wal_segment_size,
  r.pid as wr_pid, r.status as wr_status, r.received_tli as wr_tli, r.flushed_lsn::text as wr_flushed_lsn,
  r.latest_end_lsn::text as wr_latest_end_lsn,
  (extract(epoch from r.latest_end_time) * 1000)::float8 as wr_latest_end_ms,
  (extract(epoch from r.last_msg_receipt_time) * 1000)::float8 as wr_last_msg_ms,
  r.slot_name as wr_slot, r.sender_host as wr_host, r.sender_port as wr_port
from (select 1) as one left join pg_stat_wal_receiver as r on true`;

interface LocalRow {
  in_recovery: boolean;
  receive_lsn: string | null;
  replay_lsn: string | null;
  current_lsn: string | null;
  current_tli: number | null;
  checkpoint_tli: number | null;
  last_replay_ms: number | null;
  replay_paused: boolean;
  version_num: number;
  wal_segment_size?: string | null;
  wr_pid: number | null;
  wr_status: string | null;
  wr_tli: number | null;
  wr_flushed_lsn: string | null;
  wr_latest_end_lsn: string | null;
  wr_latest_end_ms: number | null;
  wr_last_msg_ms: number | null;
  wr_slot: string | null;
  wr_host: string | null;
  wr_port: number | null;
}

/** Receiver status when the local role may not read pg_stat_wal_receiver's details. */
export const HIDDEN_RECEIVER_STATUS = 'hidden';

export async function queryLocal(client: PgClient): Promise<LocalSample> {
  // Named: parsed and planned once per connection, not every tick.
  const { rows } = await client.query<LocalRow>({ name: 'pgfollower_local', text: localSql });
  const row = rows[0];
  if (!row) throw new Error('local monitor query returned no row');
  return parseLocalRow(row);
}

function parseLocalRow(row: LocalRow): LocalSample {
  const receiverTli = row.wr_status ? row.wr_tli : null;
  // Without pg_read_all_stats (pg_monitor) the view shows the receiver's pid and nothing else.
  const hidden = row.wr_pid !== null && row.wr_status === null;
  return {
    inRecovery: row.in_recovery,
    // A standby's replay timeline is best known from the receiver; the last restartpoint's is the fallback.
    timeline: row.current_tli ?? receiverTli ?? row.checkpoint_tli,
    receiveLsn: parseLsnOrNull(row.receive_lsn),
    replayLsn: parseLsnOrNull(row.replay_lsn),
    currentLsn: parseLsnOrNull(row.current_lsn),
    lastReplayTimestamp: row.last_replay_ms === null ? null : Math.round(row.last_replay_ms),
    replayPaused: row.replay_paused,
    walReceiver: hidden
      ? {
          status: HIDDEN_RECEIVER_STATUS,
          receivedTimeline: null,
          flushedLsn: null,
          latestEndLsn: null,
          latestEndTime: null,
          lastMsgReceiptTime: null,
          slotName: null,
          senderHost: null,
          senderPort: null,
        }
      : row.wr_status
        ? {
            status: row.wr_status,
            receivedTimeline: row.wr_tli,
            flushedLsn: parseLsnOrNull(row.wr_flushed_lsn),
            latestEndLsn: parseLsnOrNull(row.wr_latest_end_lsn),
            latestEndTime: row.wr_latest_end_ms === null ? null : Math.round(row.wr_latest_end_ms),
            lastMsgReceiptTime: row.wr_last_msg_ms === null ? null : Math.round(row.wr_last_msg_ms),
            slotName: row.wr_slot,
            senderHost: row.wr_host,
            senderPort: row.wr_port,
          }
        : null,
    serverVersionNum: row.version_num,
    walSegmentSizeBytes: row.wal_segment_size ? BigInt(row.wal_segment_size) : null,
  };
}

/**
 * Leader: position, this follower's replication row (matched by the slot's active pid, else by
 * application_name), its slot, the archiver, settings that bound slot retention, and pg_wal size.
 * `$1` = slot name (may be null), `$2` = application name of the follower (node name).
 */
// A standby upstream (cascading) sends what it has received, replayed or not (a cascading
// walsender streams up to its flush position): that is the position a cascaded follower chases.
const standbyLsn = 'greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())';

const leaderCore = `
  pg_is_in_recovery() as in_recovery,
  (case when pg_is_in_recovery() then ${standbyLsn} else pg_current_wal_lsn() end)::text as current_lsn,
  case when not pg_is_in_recovery()
    then ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
    else (select received_tli from pg_stat_wal_receiver) end as tli,
  (extract(epoch from now()) * 1000)::float8 as now_ms,
  pg_size_bytes(current_setting('wal_segment_size'))::text as wal_segment_size,
  case when current_setting('max_slot_wal_keep_size') = '-1' then null
    else pg_size_bytes(current_setting('max_slot_wal_keep_size'))::text end as max_slot_wal_keep_size,
  s.slot_name as slot_name, s.active as slot_active, s.wal_status as slot_wal_status,
  s.safe_wal_size::text as slot_safe_wal_size, s.restart_lsn::text as slot_restart_lsn,
  r.application_name as r_app, r.state as r_state, r.sent_lsn::text as r_sent, r.write_lsn::text as r_write,
  r.flush_lsn::text as r_flush, r.replay_lsn::text as r_replay,
  extract(epoch from r.write_lag)::float8 as r_write_lag, extract(epoch from r.flush_lag)::float8 as r_flush_lag,
  extract(epoch from r.replay_lag)::float8 as r_replay_lag, r.sync_state as r_sync_state,
  current_setting('synchronous_commit') as sync_commit,
  current_setting('synchronous_standby_names') as sync_names,
  a.archived_count::int as a_archived, a.failed_count::int as a_failed, a.last_archived_wal as a_last_wal,
  (extract(epoch from a.last_archived_time) * 1000)::float8 as a_last_ms, a.last_failed_wal as a_failed_wal,
  (extract(epoch from a.last_failed_time) * 1000)::float8 as a_failed_ms`;

const leaderFrom = `
from (select 1) as one
  left join pg_replication_slots as s on s.slot_name = $1
  left join lateral (
    select * from pg_stat_replication as x
    where x.pid = s.active_pid or x.application_name = $2
    order by (x.pid = s.active_pid) desc nulls last limit 1
  ) as r on true
  left join pg_stat_archiver as a on true`;

// pg_ls_waldir needs superuser or pg_monitor; without it the same query runs without the pg_wal facts.
const leaderWal = `,
  (select sum(size)::text from pg_ls_waldir()) as pg_wal_bytes,
  (select min(name) from pg_ls_waldir() where name ~ '^[0-9A-F]{24}$') as oldest_segment`;

const leaderSqlWithWal = `select ${leaderCore}${leaderWal}${leaderFrom}`;
const leaderSqlWithoutWal = `select ${leaderCore}, null::text as pg_wal_bytes, null::text as oldest_segment${leaderFrom}`;

interface LeaderRow {
  in_recovery: boolean;
  current_lsn: string;
  tli: number | null;
  now_ms: number;
  wal_segment_size: string | null;
  max_slot_wal_keep_size: string | null;
  slot_name: string | null;
  slot_active: boolean | null;
  slot_wal_status: string | null;
  slot_safe_wal_size: string | null;
  slot_restart_lsn: string | null;
  r_app: string | null;
  r_state: string | null;
  r_sent: string | null;
  r_write: string | null;
  r_flush: string | null;
  r_replay: string | null;
  r_write_lag: number | null;
  r_flush_lag: number | null;
  r_replay_lag: number | null;
  r_sync_state?: string | null;
  sync_commit?: string | null;
  sync_names?: string | null;
  a_archived: number | null;
  a_failed: number | null;
  a_last_wal: string | null;
  a_last_ms: number | null;
  a_failed_wal: string | null;
  a_failed_ms: number | null;
  pg_wal_bytes: string | null;
  oldest_segment: string | null;
}

const INSUFFICIENT_PRIVILEGE = '42501';

/** Leader reader that remembers whether pg_ls_waldir is allowed, so each tick stays one query. */
export class LeaderQuery {
  private walListingAllowed = true;
  /** Statements sent to the leader, for the footprint benchmark and metrics. */
  queries = 0;

  async run(client: PgClient, slotName: string | null, applicationName: string): Promise<LeaderSample> {
    const sql = this.walListingAllowed ? leaderSqlWithWal : leaderSqlWithoutWal;
    try {
      this.queries++;
      const { rows } = await client.query<LeaderRow>({
        name: this.walListingAllowed ? 'pgfollower_leader_wal' : 'pgfollower_leader',
        text: sql,
        values: [slotName, applicationName],
      });
      const row = rows[0];
      if (!row) throw new Error('leader monitor query returned no row');
      return parseLeaderRow(row, slotName);
    } catch (error) {
      if (this.walListingAllowed && sqlState(error) === INSUFFICIENT_PRIVILEGE) {
        this.walListingAllowed = false;
        return this.run(client, slotName, applicationName);
      }
      throw error;
    }
  }
}

function big(text: string | null): bigint | null {
  return text === null ? null : BigInt(text);
}

function parseLeaderRow(row: LeaderRow, slotName: string | null): LeaderSample {
  const slot: SlotRow | null =
    slotName === null
      ? null
      : {
          name: slotName,
          exists: row.slot_name !== null,
          active: row.slot_active,
          walStatus: row.slot_wal_status,
          safeWalSizeBytes: big(row.slot_safe_wal_size),
          restartLsn: parseLsnOrNull(row.slot_restart_lsn),
        };
  return {
    inRecovery: row.in_recovery,
    currentLsn: parseLsnOrNull(row.current_lsn) ?? 0n,
    timeline: row.tli,
    replication: row.r_app
      ? {
          applicationName: row.r_app,
          state: row.r_state ?? 'unknown',
          sentLsn: parseLsnOrNull(row.r_sent),
          writeLsn: parseLsnOrNull(row.r_write),
          flushLsn: parseLsnOrNull(row.r_flush),
          replayLsn: parseLsnOrNull(row.r_replay),
          writeLagSeconds: row.r_write_lag,
          flushLagSeconds: row.r_flush_lag,
          replayLagSeconds: row.r_replay_lag,
          syncState: row.r_sync_state ?? null,
        }
      : null,
    slot,
    archiver:
      row.a_archived === null
        ? null
        : {
            archivedCount: row.a_archived,
            failedCount: row.a_failed ?? 0,
            lastArchivedWal: row.a_last_wal,
            lastArchivedTime: row.a_last_ms === null ? null : Math.round(row.a_last_ms),
            lastFailedWal: row.a_failed_wal,
            lastFailedTime: row.a_failed_ms === null ? null : Math.round(row.a_failed_ms),
          },
    pgWalBytes: big(row.pg_wal_bytes),
    leaderNow: Math.round(row.now_ms),
    oldestSegment: row.oldest_segment,
    maxSlotWalKeepSizeBytes: big(row.max_slot_wal_keep_size),
    walSegmentSizeBytes: big(row.wal_segment_size),
    synchronousCommit: row.sync_commit ?? null,
    synchronousStandbyNames: row.sync_names ?? null,
  };
}

/**
 * cluster.primary, for a cascaded follower: its position only (no slot, no archiver: those live on
 * the upstream, which the leader query asks). A standby here reports its replay position.
 */
const primarySql = `
select pg_is_in_recovery() as in_recovery,
  (case when pg_is_in_recovery() then ${standbyLsn} else pg_current_wal_lsn() end)::text as lsn,
  case when not pg_is_in_recovery()
    then ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
    else (select received_tli from pg_stat_wal_receiver) end as tli,
  (extract(epoch from now()) * 1000)::float8 as now_ms`;

export async function queryPrimary(client: PgClient): Promise<PrimarySample> {
  const { rows } = await client.query<{
    in_recovery: boolean;
    lsn: string | null;
    tli: number | null;
    now_ms: number;
  }>({ name: 'pgfollower_primary', text: primarySql });
  const row = rows[0];
  if (!row) throw new Error('primary monitor query returned no row');
  return {
    inRecovery: row.in_recovery,
    currentLsn: parseLsnOrNull(row.lsn) ?? 0n,
    timeline: row.tli,
    primaryNow: Math.round(row.now_ms),
  };
}

/** The primary's sample in the shape the lag maths reads (a leader with no slot or archiver rows). */
export function primaryAsLeader(sample: PrimarySample): LeaderSample {
  return {
    inRecovery: sample.inRecovery,
    currentLsn: sample.currentLsn,
    timeline: sample.timeline,
    replication: null,
    slot: null,
    archiver: null,
    pgWalBytes: null,
    leaderNow: sample.primaryNow,
  };
}
