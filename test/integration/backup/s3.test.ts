import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../../src/backup/list.js';
import { takeBackup } from '../../../src/backup/take.js';
import { verifyBackup } from '../../../src/backup/verify.js';
import {
  requireBuiltCli,
  s3ArchiveConfig,
  s3EnvPrefix,
  setS3Env,
  startS3,
  type TestS3,
} from '../../helpers/archive.js';
import { pgbench } from '../../helpers/cluster.js';
import { createBackupRig, closeRig } from './helpers.js';

/** The same backup, list and verify against a real S3 protocol server (s3rver). */
describe('backups in an S3 archive', () => {
  let s3: TestS3 | undefined;
  let restoreEnv: (() => void) | undefined;
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    restoreEnv?.();
    restoreEnv = undefined;
    await s3?.stop();
    s3 = undefined;
  });

  it('stores the parts, lists the backup complete and verifies it with pg_verifybackup', async () => {
    s3 = await startS3();
    restoreEnv = setS3Env();
    const envPrefix = s3EnvPrefix;
    const rig = await createBackupRig({ archive: s3ArchiveConfig(s3.endpoint), envPrefix });
    try {
      await pgbench(rig.leader, ['-i', '-s', '1', '-q']);
      const backup = await takeBackup(rig.ctx, rig.store);
      expect(backup.parts.length).toBeGreaterThan(1);
      expect(backup.parts.every((p) => p.key.endsWith('.lz4'))).toBe(true);
      const objects = await rig.store.list(`basebackups/${backup.id}/`);
      expect(objects.map((o) => o.key)).toEqual(
        expect.arrayContaining([
          `basebackups/${backup.id}/backup.json`,
          `basebackups/${backup.id}/backup_manifest`,
        ]),
      );
      expect((await listBackups(rig.store)).map((b) => [b.id, b.complete])).toEqual([[backup.id, true]]);
      const verified = await verifyBackup(rig.ctx, rig.store, { id: backup.id });
      expect(verified.checks.filter((c) => !c.ok)).toEqual([]);
      expect(verified.ok).toBe(true);
    } finally {
      await closeRig(rig);
    }
  }, 240_000);
});
