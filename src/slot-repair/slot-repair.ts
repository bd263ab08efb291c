import type { PgClient } from '../postgres/client.js';

interface SlotRepairResult {
  /** `refused`: the leader has no max_slot_wal_keep_size (-1); a new slot could fill its disk. */
  action: 'recreated' | 'created' | 'none' | 'busy' | 'refused';
  restartLsn: string | null;
  detail: string;
}

/**
 * Recreates this follower's physical slot on the leader when it was invalidated (`wal_status =
 * lost`, e.g. by max_slot_wal_keep_size) or is missing. A lost slot never protects WAL again and
 * PostgreSQL will not stream through it ("can no longer get changes from replication slot"), so a
 * follower would stay archive-only forever. The new slot reserves WAL from the leader's current redo
 * point; the follower replays the gap from the archive, then streams through the new slot.
 * A slot still marked active (a walsender holds it) is left alone and retried on the next tick.
 * https://www.postgresql.org/docs/current/view-pg-replication-slots.html
 */
export async function repairLostSlot(leader: PgClient, slotName: string): Promise<SlotRepairResult> {
  const { rows } = await leader.query<{ active: boolean; wal_status: string | null; slot_type: string }>(
    'SELECT active, wal_status, slot_type FROM pg_replication_slots WHERE slot_name = $1',
    [slotName],
  );
  const row = rows[0];
  if (row && row.slot_type !== 'physical') {
    return {
      action: 'none',
      restartLsn: null,
      detail: `slot ${slotName} is a ${row.slot_type} slot; not touching it`,
    };
  }
  if (row && row.wal_status !== 'lost') {
    return {
      action: 'none',
      restartLsn: null,
      detail: `slot ${slotName} is healthy (wal_status=${row.wal_status ?? 'null'})`,
    };
  }
  // A slot on a leader without max_slot_wal_keep_size pins WAL without bound: if this follower stays
  // away, the leader's pg_wal fills and the leader stops. Never create one behind the operator's back.
  const keep = (await leader.query<{ v: string }>("SELECT current_setting('max_slot_wal_keep_size') AS v"))
    .rows[0]?.v;
  if (keep === '-1') {
    return {
      action: 'refused',
      restartLsn: null,
      detail: `slot ${slotName} is ${row ? 'lost' : 'missing'} and the leader has max_slot_wal_keep_size = -1 (unbounded): not recreating it, as it could fill the leader's disk; set max_slot_wal_keep_size on the leader, or create the slot yourself (SELECT pg_create_physical_replication_slot('${slotName}', true))`,
    };
  }
  if (row?.active) {
    return {
      action: 'busy',
      restartLsn: null,
      detail: `slot ${slotName} is lost but still active; retrying when released`,
    };
  }
  if (row) {
    const dropped = await leader.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [slotName],
    );
    if ((dropped.rowCount ?? 0) === 0) {
      return { action: 'busy', restartLsn: null, detail: `slot ${slotName} became active; retrying` };
    }
  }
  const created = await leader.query<{ lsn: string | null }>(
    'SELECT lsn::text AS lsn FROM pg_create_physical_replication_slot($1, true)',
    [slotName],
  );
  const restartLsn = created.rows[0]?.lsn ?? null;
  return {
    action: row ? 'recreated' : 'created',
    restartLsn,
    detail: `${row ? 'recreated lost' : 'created missing'} slot ${slotName} on the leader (reserving WAL from ${restartLsn ?? '?'})`,
  };
}
