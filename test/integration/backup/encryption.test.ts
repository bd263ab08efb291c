import { chown, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { createFsStore } from '../../../src/archive/store/fs-store.js';
import { withEncryption } from '../../../src/archive/store/encryption.js';
import { takeBackup } from '../../../src/backup/take.js';
import { bootstrapFromArchive } from '../../../src/bootstrap/from-archive.js';
import { requireBuiltCli, testContext } from '../../helpers/archive.js';
import {
  clusterHandle,
  makeTempDir,
  pgbench,
  pgTools,
  trackDataDirectory,
  waitForReplay,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { archiveEverything, createBackupRig, newNodeConfig } from './helpers.js';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/**
 * Encrypted archive end to end: the leader's wal-push and the follower's backup encrypt every
 * object; the stored bytes hold none of the data and cannot be read without the key; a new
 * follower restored from them with the key and the leader down has the data.
 */
describe('archive encryption', () => {
  beforeAll(requireBuiltCli);

  it('stores WAL and base backups unreadable without the key; restore works with it', async () => {
    const tools = await pgTools();
    const keyDir = await makeTempDir('pgf-key-');
    const keyFile = join(keyDir, 'archive.key');
    await writeFile(keyFile, `${'3f'.repeat(32)}\n`, { mode: 0o600 });
    if (tools.exec.runAs) await chown(keyFile, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const dir = await makeTempDir('pgf-enc-');
    const archiveDir = join(dir, 'archive');
    const archive = {
      type: 'fs',
      fs: { path: archiveDir, fsync: false },
      compression: 'none',
      encryption: { keyFile },
    };
    const rig = await createBackupRig({ archive, backup: { compression: 'none' } });
    const { leader, follower, store } = rig;
    let restored: ReturnType<typeof clusterHandle> | undefined;
    try {
      const marker = 'TOP-SECRET-MARKER-7f3a';
      await pgbench(leader, ['-i', '-s', '1', '-q']);
      await leader.query('create table secrets (note text)');
      await leader.query(`insert into secrets select '${marker}-' || g from generate_series(1, 2000) g`);
      await waitFor('the follower to replay the secrets', async () => {
        const [row] = await follower.query<{ n: string }>(
          "select count(*)::text as n from pg_class where relname = 'secrets'",
        );
        return row?.n === '1' ? row : undefined;
      });
      await follower.query('checkpoint').catch(() => undefined);
      const backup = await takeBackup(rig.ctx, store);
      await leader.query(`insert into secrets select '${marker}-after-' || g from generate_series(1, 500) g`);
      const finalLsn = await archiveEverything(leader);

      // Every stored object is ciphertext: no marker, no WAL page magic, the PGFE1 header instead.
      const files = (await filesUnder(archiveDir)).filter((f) => !f.split('/').pop()?.startsWith('.'));
      expect(files.some((f) => f.includes('/basebackups/'))).toBe(true);
      expect(files.filter((f) => f.includes('/wal/')).length).toBeGreaterThan(3);
      for (const file of files) {
        const bytes = await readFile(file);
        expect(bytes.subarray(0, 5).toString(), file).toBe('PGFE1');
        expect(bytes.includes(Buffer.from(marker)), file).toBe(false);
      }
      // ... and the same store opened without the key refuses to hand them out.
      const noKey = withEncryption(createFsStore({ path: archiveDir, fsync: false }), undefined);
      await expect(noKey.get(backup.parts[0]?.key as string)).rejects.toMatchObject({
        code: 'ARCHIVE_KEY_MISSING',
      });
      await expect(noKey.get(`wal/00000001/${backup.walFiles[0]}`)).rejects.toMatchObject({
        code: 'ARCHIVE_KEY_MISSING',
      });

      await leader.stop();
      await follower.stop();
      const node = await newNodeConfig(rig, 'replica_c');
      const ctx = await testContext(node.tree);
      trackDataDirectory(node.dataDirectory);
      const result = await bootstrapFromArchive(ctx, store, {
        restoreCommand: restoreCommandFor(ctx.config, { configFile: node.file }),
        timeoutMs: 180_000,
      });
      expect(result.state).toBe('archive-recovery');
      restored = clusterHandle('restored', node.socketDirectory, node.dataDirectory, node.port, tools);
      await waitForReplay(
        restored,
        finalLsn,
        `the restored follower to replay to ${finalLsn} through the encrypted archive`,
      );
      const [count] = await restored.query<{ n: string }>(
        `select count(*)::text as n from secrets where note like '${marker}%'`,
      );
      expect(count?.n).toBe('2500');
    } finally {
      await restored?.stop();
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 300_000);
});
