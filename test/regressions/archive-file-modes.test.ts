import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createFsArchivingLeader, requireBuiltCli, switchAndArchive } from '../helpers/archive.js';

/**
 * Issue 15, defect 12: archive files came out 0600 and directories 0700 under PostgreSQL's umask
 * 0077 while the docs promise 0640/0750. A real leader archives through wal-push (archive_command
 * inherits the server's umask); modes are set explicitly.
 */
describe('fs archive file modes under the PostgreSQL umask', () => {
  beforeAll(requireBuiltCli);

  it('segments are 0640 and directories 0750', async () => {
    const { leader, archiveDir } = await createFsArchivingLeader();
    try {
      const last = await switchAndArchive(leader, 1);
      const file = await stat(join(archiveDir, 'wal', last.slice(0, 8), last));
      expect((file.mode & 0o777).toString(8)).toBe('640');
      for (const dir of [archiveDir, join(archiveDir, 'wal'), join(archiveDir, 'wal', last.slice(0, 8))]) {
        expect((await stat(dir)).mode & 0o777, dir).toBe(0o750);
      }
    } finally {
      await leader.stop();
    }
  });
});
