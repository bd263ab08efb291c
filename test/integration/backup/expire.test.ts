import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { metadataPath } from '../../../src/archive/store/fs-store.js';
import { fileNameOfKey } from '../../../src/archive/store/layout.js';
import { executeExpire, planExpire } from '../../../src/backup/expire.js';
import { listBackups } from '../../../src/backup/list.js';
import { takeBackup } from '../../../src/backup/take.js';
import { pgbench } from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { archiveEverything, createBackupRig } from './helpers.js';

async function archivedSegments(store: {
  list(p: string): Promise<Array<{ key: string }>>;
}): Promise<string[]> {
  return (await store.list('wal/'))
    .map((o) => fileNameOfKey(o.key))
    .filter((n): n is string => n !== undefined && !n.endsWith('.history'))
    .sort();
}

describe('backup expire', () => {
  beforeAll(requireBuiltCli);

  // Regression: the fs store's delete left each object's metadata sidecar (.<name>.meta) behind, so
  // the folder of a removed backup stayed and `backup list` still showed it (as incomplete).
  it('keeps the newest backups, the WAL they, the follower and slots need, and every .history file', async () => {
    const rig = await createBackupRig({ backup: { keep: 1 } });
    const { leader, follower, store, ctx } = rig;
    try {
      await pgbench(leader, ['-i', '-s', '1', '-q']);
      const first = await takeBackup(ctx, store);
      // A follower that is down keeps a slot on the leader: its position pins WAL after the first backup.
      await pgbench(leader, ['-n', '-c', '1', '-t', '500']);
      await archiveEverything(leader);
      await leader.query("select pg_create_physical_replication_slot('replica_down', true)");
      await pgbench(leader, ['-n', '-c', '1', '-t', '1500']);
      await archiveEverything(leader);
      const second = await takeBackup(ctx, store);
      await archiveEverything(leader);
      await leader.query('checkpoint');
      await follower.query('checkpoint');
      // A timeline history file of another timeline: never removed.
      await store.put(
        'wal/00000002/00000002.history',
        Buffer.from('1\t0/3000000\tno recovery target specified\n'),
        {},
      );

      const [slot] = await leader.query<{ seg: string }>(
        "select pg_walfile_name(restart_lsn) as seg from pg_replication_slots where slot_name = 'replica_down'",
      );
      const withSlot = await planExpire(ctx, store);
      expect(withSlot.kept).toEqual([second.id]);
      expect(withSlot.removeBackups.map((b) => b.id)).toEqual([first.id]);
      expect(withSlot.protections.map((p) => p.by)).toEqual(
        expect.arrayContaining([
          `backup ${second.id}`,
          'slot replica_down on the leader',
          "replica_a's restart point",
        ]),
      );
      expect(withSlot.oldestNeededSegment).toBe(slot?.seg);
      const beforeSlotSegments = withSlot.removeWal.map((k) => fileNameOfKey(k) as string);
      expect(beforeSlotSegments.every((n) => n < (slot?.seg as string))).toBe(true);

      // Without the slot, the second backup's start (or the follower's restart point) is the limit.
      await leader.query("select pg_drop_replication_slot('replica_down')");
      const plan = await planExpire(ctx, store);
      const cutoff = plan.oldestNeededSegment as string;
      expect(cutoff <= (second.walFiles[0] as string)).toBe(true);
      expect(cutoff > (first.walFiles.at(-1) as string)).toBe(true);
      const before = await archivedSegments(store);
      const expectedGone = before.filter((n) => n < cutoff);
      expect(expectedGone.length).toBeGreaterThan(2);
      expect(plan.removeWal.map((k) => fileNameOfKey(k)).sort()).toEqual(expectedGone);
      expect(plan.removeWal.some((k) => k.endsWith('.history'))).toBe(false);

      const result = await executeExpire(ctx, store, plan);
      expect(result).toEqual({
        removedBackups: [first.id],
        removedWal: expectedGone.length,
        removedLeftovers: [],
      });
      const after = await archivedSegments(store);
      expect(after).toEqual(before.filter((n) => n >= cutoff));
      for (const name of second.walFiles) expect(after).toContain(name);
      expect((await listBackups(store)).map((b) => b.id)).toEqual([second.id]);
      expect(existsSync(join(rig.archiveDir, 'basebackups', first.id))).toBe(false);
      // No metadata sidecar of a removed WAL file is left behind.
      for (const key of plan.removeWal)
        expect(existsSync(metadataPath(join(rig.archiveDir, key)))).toBe(false);
      expect(await store.head('wal/00000002/00000002.history')).toBeDefined();

      // Idempotent: nothing more to remove.
      const again = await planExpire(ctx, store);
      expect(again.removeBackups).toEqual([]);
      expect(again.removeWal).toEqual([]);
    } finally {
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 240_000);
});
