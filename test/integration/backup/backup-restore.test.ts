import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { listBackups } from '../../../src/backup/list.js';
import { takeBackup } from '../../../src/backup/take.js';
import { bootstrapFromArchive } from '../../../src/bootstrap/from-archive.js';
import { clusterHandle, pgbench, pgTools, trackDataDirectory } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { requireBuiltCli, testContext } from '../../helpers/archive.js';
import { archiveEverything, checksumSql, createBackupRig, newNodeConfig } from './helpers.js';

/**
 * A base backup taken on a follower while pgbench writes on the leader, then restored as a new
 * follower with the leader stopped: the restored node replays the archive and holds exactly the
 * leader's data at the leader's last LSN.
 */
describe('backup and bootstrap --from-archive', () => {
  beforeAll(requireBuiltCli);

  it('backs up under pgbench load and restores with the leader down, data equal to the leader', async () => {
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
      const { child: load } = await tools.exec.spawn(tools.bin.path('pgbench'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(leader.port),
        '-U',
        'postgres',
        '-n',
        '-c',
        '2',
        '-T',
        '15',
        'postgres',
      ]);
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
      await waitFor(
        `the restored follower to replay up to the leader's last LSN ${finalLsn}`,
        async () => {
          const [row] = await restored!.query<{ ok: boolean }>(
            'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
            [finalLsn],
          );
          return row?.ok;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      const [actual] = await restored.query(checksumSql);
      expect(actual).toEqual(expected);
      expect(Number((expected as { h: string }).h)).toBeGreaterThan(300);
      const [recovery] = await restored.query<{ r: boolean }>('select pg_is_in_recovery() as r');
      expect(recovery?.r).toBe(true);
      // The backup manifest is not left in the data directory.
      expect((await readdir(node.dataDirectory)).includes('backup_manifest')).toBe(false);
    } finally {
      await restored?.stop();
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 300_000);
});
