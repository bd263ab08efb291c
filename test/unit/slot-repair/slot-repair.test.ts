import { describe, expect, it } from 'vitest';
import type { PgClient } from '../../../src/postgres/client.js';
import { repairLostSlot } from '../../../src/slot-repair/slot-repair.js';

/** A leader connection that answers repairLostSlot's statements and records them. */
function fakeLeader(slot: { active: boolean; wal_status: string } | null, maxSlotWalKeepSize: string) {
  const statements: string[] = [];
  const client = {
    query: async (text: string) => {
      statements.push(text);
      if (text.includes('FROM pg_replication_slots WHERE slot_name'))
        return text.includes('pg_drop_replication_slot')
          ? { rows: [{}], rowCount: 1 }
          : { rows: slot ? [{ ...slot, slot_type: 'physical' }] : [], rowCount: slot ? 1 : 0 };
      if (text.includes("current_setting('max_slot_wal_keep_size')"))
        return { rows: [{ v: maxSlotWalKeepSize }], rowCount: 1 };
      if (text.includes('pg_create_physical_replication_slot'))
        return { rows: [{ lsn: '0/5000000' }], rowCount: 1 };
      throw new Error(`unexpected statement ${text}`);
    },
  } as unknown as PgClient;
  return { client, statements };
}

// Issue 14 defect 12: slot repair must never silently recreate a slot on a leader whose
// max_slot_wal_keep_size is -1: a slot there pins WAL without bound.
describe('repairLostSlot', () => {
  it.each([
    ['lost', { active: false, wal_status: 'lost' }],
    ['missing', null],
  ])(
    'refuses a %s slot on a leader with max_slot_wal_keep_size = -1, and says how to proceed',
    async (_what, slot) => {
      const { client, statements } = fakeLeader(slot, '-1');
      const result = await repairLostSlot(client, 'replica_a');
      expect(result.action).toBe('refused');
      expect(result.detail).toMatch(/max_slot_wal_keep_size = -1/);
      expect(result.detail).toMatch(/pg_create_physical_replication_slot\('replica_a', true\)/);
      expect(statements.some((s) => /pg_drop_replication_slot|pg_create_physical/.test(s))).toBe(false);
    },
  );

  it('recreates a lost slot on a leader with a bound', async () => {
    const { client, statements } = fakeLeader({ active: false, wal_status: 'lost' }, '32MB');
    const result = await repairLostSlot(client, 'replica_a');
    expect(result).toMatchObject({ action: 'recreated', restartLsn: '0/5000000' });
    expect(statements.some((s) => s.includes('pg_drop_replication_slot'))).toBe(true);
  });
});
