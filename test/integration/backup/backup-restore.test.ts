import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { listBackups } from '../../../src/backup/list.js';
import { takeBackup } from '../../../src/backup/take.js';
import { bootstrapFromArchive } from '../../../src/bootstrap/from-archive.js';
import {
  clusterHandle,
  pgbench,
  pgbenchArgs,
  pgTools,
  trackDataDirectory,
  waitForReplay,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { collectPlugins } from '../../../src/app/plugins.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { slotRepairPlugin } from '../../../src/slot-repair/plugin.js';
import { supervisorContext } from '../daemon/context.js';
import { requireBuiltCli, testContext } from '../../helpers/archive.js';
import { archiveEverything, checksumSql, createBackupRig, newNodeConfig } from './helpers.js';

/**
 * A base backup taken on a follower while pgbench writes on the leader, then restored as a new
 * follower with the leader stopped: the restored node replays the archive and holds exactly the
 * leader's data at the leader's last LSN; once the leader is started again it streams.
 */
describe('backup and bootstrap --from-archive', () => {
  beforeAll(requireBuiltCli);

  it('backs up under pgbench load, restores with the leader down (data equal to the leader), streams once it is back', async () => {
    const rig = await createBackupRig();
    const { leader, follower, store } = rig;
    const tools = await pgTools();
    let restored: ReturnType<typeof clusterHandle> | undefined;
    try {
      await pgbench(leader, ['-i', '-s', '4', '-q']);
      await waitFor('the follower to replay the pgbench tables', async () => {
        const [row] = await follower.query<{ n: string }>(
          "select count(*)::text as n from pg_class where relname = 'pgbench_accounts'",
        );
        return row?.n === '1';
      });

      // Load on the leader for the whole backup.
      const { child: load } = await tools.exec.spawn(
        tools.bin.path('pgbench'),
        pgbenchArgs(leader.port, ['-n', '-c', '2', '-T', '15']),
      );
      const backup = await takeBackup(rig.ctx, store);
      const loadResult = await load;
      expect(loadResult.exitCode).toBe(0);
      // The backup overlapped the load: the tar covers the database, several parts, WAL named.
      expect(backup.parts.length).toBeGreaterThan(3);
      expect(backup.rawBytes).toBeGreaterThan(50 * 1024 * 1024);
      expect(backup.backupFrom).toBe('standby');
      expect(backup.walFiles.length).toBeGreaterThan(0);
      expect(backup.walFiles[0]).toMatch(/^00000001[0-9A-F]{16}$/);
      expect(existsSync(join(rig.archiveDir, 'basebackups', backup.id, 'backup.json'))).toBe(true);
      expect(existsSync(join(rig.archiveDir, 'basebackups', backup.id, 'backup_manifest'))).toBe(true);

      const listed = await listBackups(store);
      expect(listed.map((b) => [b.id, b.complete])).toEqual([[backup.id, true]]);

      // Writes after the backup: the restore must replay them from the archive too.
      await pgbench(leader, ['-n', '-c', '1', '-t', '300']);
      const [expected] = await leader.query(checksumSql);
      const finalLsn = await archiveEverything(leader);
      // Slot repair creates a slot only on a leader that bounds slots (max_slot_wal_keep_size).
      await leader.query("alter system set max_slot_wal_keep_size = '1GB'");
      await leader.stop();
      await follower.stop();

      const node = await newNodeConfig(rig, 'replica_b');
      const ctx = await testContext(node.tree);
      trackDataDirectory(node.dataDirectory);
      const result = await bootstrapFromArchive(ctx, store, {
        restoreCommand: restoreCommandFor(ctx.config, { configFile: node.file }),
        timeoutMs: 180_000,
      });
      expect(result.backup.id).toBe(backup.id);
      expect(result.leaderReachable).toBe(false);
      expect(result.state).toBe('archive-recovery');
      expect(result.slot).toBe('leader-unreachable');
      restored = clusterHandle('restored', node.socketDirectory, node.dataDirectory, node.port, tools);
      await waitForReplay(
        restored,
        finalLsn,
        `the restored follower to replay up to the leader's last LSN ${finalLsn}`,
      );
      const [actual] = await restored.query(checksumSql);
      expect(actual).toEqual(expected);
      expect(Number((expected as { h: string }).h)).toBeGreaterThan(300);
      const [recovery] = await restored.query<{ r: boolean }>('select pg_is_in_recovery() as r');
      expect(recovery?.r).toBe(true);
      // The backup manifest is not left in the data directory.
      expect((await readdir(node.dataDirectory)).includes('backup_manifest')).toBe(false);

      // status names the ways back for a follower off the leader: not the leader's, the backup's.
      const output = createMemoryOutput();
      expect(await main(['--config', node.file, 'status', '--json', '--direct'], { output })).toBe(0);
      const status = JSON.parse(output.stdout.join('\n')) as {
        state: string;
        waysBack?: { options: Array<{ way: string; possible: boolean }> };
      };
      expect(
        status.waysBack?.options.map((o) => [o.way, o.possible]),
        output.text(),
      ).toEqual([
        ['stream', false],
        ['archive', true],
        ['backup+archive', true],
        ['re-clone', false],
      ]);

      // The leader comes back: the supervisor's slot repair creates the slot bootstrap could not,
      // and the follower leaves archive-recovery for streaming, with the rows written since.
      await leader.start();
      const supervised = await supervisorContext(leader, restored, {
        slot: 'replica_b',
        extra: { archive: node.tree.archive },
      });
      await using supervisor = await startSupervisor(supervised, {
        services: (await collectPlugins(supervised, [slotRepairPlugin])).services,
        maxBackoffMs: 1000,
        http: false,
      });
      await pgbench(leader, ['-n', '-c', '1', '-t', '200']);
      const [afterRestart] = await leader.query(checksumSql);
      const [{ lsn } = { lsn: '' }] = await leader.query<{ lsn: string }>(
        'select pg_current_wal_lsn()::text as lsn',
      );
      await waitFor(
        'the restored follower to stream from the restarted leader',
        async () => {
          const latest = supervisor.latest();
          const [row] = await restored!.query<{ ok: boolean }>(
            'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
            [lsn],
          );
          return latest?.state === 'streaming' && row?.ok ? latest : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      expect(await restored.query(checksumSql)).toEqual([afterRestart]);
      const [slot] = await leader.query<{ active: boolean }>(
        "select active from pg_replication_slots where slot_name = 'replica_b'",
      );
      expect(slot?.active).toBe(true);
      await supervisor.stop('test over');
    } finally {
      await restored?.stop();
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 300_000);
});
