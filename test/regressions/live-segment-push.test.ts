import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createMemoryOutput } from '../../src/cli/output.js';
import { createFsArchivingLeader, requireBuiltCli, waitArchived } from '../helpers/archive.js';
import { writeConfigFile } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 15, defect 7: `wal-push pg_wal/<current segment>` (the docs' own remedy for a missing
 * segment) archived a segment PostgreSQL was still writing; archive_command then got "REFUSED ...
 * DIFFERENT content" for it forever. A segment without a .ready/.done status that is not older than
 * the server's current one is refused (exit 3) unless --force-partial, which stores `<name>.partial`.
 */
describe('wal-push of the segment PostgreSQL is writing', () => {
  beforeAll(requireBuiltCli);

  it('is refused, and archiving of that segment works once it is finished', async () => {
    const { leader, archiveDir, dir } = await createFsArchivingLeader();
    try {
      const configFile = await writeConfigFile(dir, {
        node: { host: leader.socketDirectory, port: leader.port, user: 'postgres' },
        archive: { type: 'fs', fs: { path: archiveDir, fsync: false }, prefetch: 0 },
        log: { level: 'warn' },
      });
      const push = async (args: string[]): Promise<{ code: number; text: string }> => {
        const output = createMemoryOutput();
        const code = await main(['--config', configFile, 'wal-push', ...args], { output, env: {} });
        return { code, text: output.text() };
      };
      const current = async (): Promise<string> =>
        (
          await leader.query<{ name: string }>('select pg_walfile_name(pg_current_wal_insert_lsn()) as name')
        )[0]?.name ?? '';
      const archived = async (): Promise<string[]> =>
        readdir(join(archiveDir, 'wal', '00000001')).catch(() => [] as string[]);

      await leader.query('create table t(id int)');
      const live = await current();
      const refused = await push([join(leader.dataDirectory, 'pg_wal', live)]);
      expect(refused.code).toBe(3);
      expect(refused.text).toMatch(/not finished/);
      expect(refused.text).toMatch(/--force-partial/);
      expect((await archived()).filter((n) => n.startsWith(live))).toEqual([]);

      // The real archive_command archives it once it is finished, without a conflict.
      await leader.query('insert into t select generate_series(1, 1000)');
      await leader.query('select pg_switch_wal()');
      expect((await waitArchived(leader, live)).failed).toBe(0);
      expect(await archived()).toContain(live);

      // --force-partial keeps a copy of a live segment under .partial and does not block it. A write
      // first: right after pg_switch_wal the position sits on the segment boundary, which
      // pg_walfile_name names as the previous (finished) segment. The insert position, because the
      // test clusters commit asynchronously (the write position lags).
      await leader.query('insert into t values (0)');
      const live2 = await current();
      expect(live2 > live).toBe(true);
      // ... and the WAL writer has created its file (asynchronous commit writes it a moment later).
      await waitFor('the live segment file', async () =>
        existsSync(join(leader.dataDirectory, 'pg_wal', live2)) ? true : undefined,
      );
      const forced = await push(['--force-partial', join(leader.dataDirectory, 'pg_wal', live2)]);
      expect(forced.code, forced.text).toBe(0);
      const names = await archived();
      expect(names).toContain(`${live2}.partial`);
      expect(names).not.toContain(live2);
      await leader.query('insert into t select generate_series(1, 1000)');
      await leader.query('select pg_switch_wal()');
      expect((await waitArchived(leader, live2)).failed).toBe(0);
      expect(await archived()).toContain(live2);
    } finally {
      await leader.stop();
    }
  });
});
