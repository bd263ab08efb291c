import { existsSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { ExitCode } from '../../../src/errors.js';
import { pgTools } from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { createBackupRig } from './helpers.js';

/**
 * Tablespaces are not supported by `backup` yet (one tar stream carries only the main data
 * directory): the command refuses up front, names each tablespace, and writes nothing to the archive.
 */
describe('backup of a cluster with a tablespace', () => {
  beforeAll(requireBuiltCli);

  it('is refused with the tablespaces named, exit 3, nothing in the archive', async () => {
    const rig = await createBackupRig();
    const { leader, follower, store } = rig;
    const tools = await pgTools();
    try {
      // A follower on the same host would replay CREATE TABLESPACE into the leader's directory.
      await follower.stop();
      const location = join(rig.dir, 'tablespace-ts1');
      await mkdir(location, { mode: 0o700 });
      if (tools.exec.runAs) await chown(location, tools.exec.runAs.uid, tools.exec.runAs.gid);
      await leader.query(`create tablespace ts1 location '${location}'`);
      await leader.query('create table in_ts1 (id int) tablespace ts1');

      const output = createMemoryOutput();
      const code = await main(['--config', rig.file, 'backup', '--source', 'leader'], { output });
      expect(code, output.text()).toBe(ExitCode.REFUSED);
      expect(output.text()).toContain('backup does not support tablespaces yet');
      expect(output.text()).toContain(`ts1 (${location})`);
      expect(output.text()).toContain('pgfollower bootstrap');
      expect(await store.list('basebackups/')).toEqual([]);
      expect(existsSync(join(rig.archiveDir, 'basebackups'))).toBe(false);
    } finally {
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 120_000);
});
