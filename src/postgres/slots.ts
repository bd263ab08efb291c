import { randomBytes } from 'node:crypto';
import { PgFollowerError, ExitCode } from '../errors.js';
import type { PgClient } from './client.js';

/**
 * Physical replication slots on the leader.
 * https://www.postgresql.org/docs/current/warm-standby.html#STREAMING-REPLICATION-SLOTS
 */

export interface SlotInfo {
  name: string;
  active: boolean;
  temporary: boolean;
  restartLsn: string | null;
  walStatus: string | null;
}

export async function readSlot(leader: PgClient, name: string): Promise<SlotInfo | undefined> {
  const { rows } = await leader.query<{
    slot_name: string;
    active: boolean;
    temporary: boolean;
    restart_lsn: string | null;
    wal_status: string | null;
    slot_type: string;
  }>(
    'SELECT slot_name, slot_type, active, temporary, restart_lsn::text, wal_status FROM pg_replication_slots WHERE slot_name = $1',
    [name],
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.slot_type !== 'physical') {
    throw new PgFollowerError(
      'SLOT_NOT_PHYSICAL',
      `slot "${name}" on the leader is a ${row.slot_type} slot`,
      ExitCode.REFUSED,
      {
        hint: 'choose another slot.name for this follower',
      },
    );
  }
  return {
    name: row.slot_name,
    active: row.active,
    temporary: row.temporary,
    restartLsn: row.restart_lsn,
    walStatus: row.wal_status,
  };
}

export async function createPhysicalSlot(leader: PgClient, name: string): Promise<void> {
  await leader.query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
}

export async function dropSlot(leader: PgClient, name: string): Promise<boolean> {
  const { rowCount } = await leader.query(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
    [name],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Holds WAL on the leader from now on with a TEMPORARY slot on the given replication connection
 * (`connect(conninfo, { replication: 'database' })`), which the reservation then owns.
 * A temporary slot disappears if we or the leader die, so a failed bootstrap cannot leave a slot
 * behind that would fill the leader's pg_wal; `persist` copies it into the follower's permanent
 * slot (same restart_lsn) once the backup succeeded.
 */
export interface WalReservation {
  name: string;
  persist(leader: PgClient, slotName: string): Promise<void>;
  release(): Promise<void>;
}

export async function reserveWal(replication: PgClient): Promise<WalReservation> {
  // Unique, not timed (slot names: lower-case letters, digits, underscores).
  const name = `pgfollower_tmp_${process.pid}_${randomBytes(6).toString('hex')}`;
  try {
    await replication.query(`CREATE_REPLICATION_SLOT ${name} TEMPORARY PHYSICAL RESERVE_WAL`);
  } catch (error) {
    await replication.end().catch(() => undefined);
    throw error;
  }
  return {
    name,
    async persist(leader, slotName) {
      await leader.query('SELECT pg_copy_physical_replication_slot($1, $2, false)', [name, slotName]);
    },
    async release() {
      await replication.end().catch(() => undefined);
    },
  };
}
