import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startPrefetcher } from '../../../src/archive/follower/prefetch.js';
import { writeRequested } from '../../../src/archive/follower/spool.js';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { parseLsn, walFileName } from '../../../src/postgres/lsn.js';
import { makeTempDir, writeConfigFile } from '../../helpers/cluster.js';
import { createArchivingLeader, testContext, waitArchived } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';

const MiB = 1024n * 1024n;

// Issue 14 defect 9: only 16 MiB WAL segments worked everywhere. A leader made by
// `initdb --wal-segsize=1` names LSN 0/3000000 ...00000030, not ...00000003.
describe('a cluster with 1 MiB WAL segments (initdb --wal-segsize=1)', () => {
  it('names segments as the server does; archive check and the prefetcher find them', async () => {
    const dir = await makeTempDir('pgf-segsize-');
    const archive = { type: 'fs', fs: { path: join(dir, 'archive') } };
    const { leader } = await createArchivingLeader({ dir, archive, walSegmentSizeMb: 1 });
    try {
      const [size] = await leader.query<{ s: string }>(
        "SELECT pg_size_bytes(current_setting('wal_segment_size'))::text AS s",
      );
      expect(BigInt(size?.s ?? 0)).toBe(MiB);
      // A few segments' worth of WAL, each switched and archived.
      await leader.query(
        "CREATE TABLE t AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g",
      );
      await leader.query('SELECT pg_switch_wal()');
      await leader.query("INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g");
      const [end] = await leader.query<{ lsn: string; name: string }>(
        'SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS name',
      );
      await leader.query('SELECT pg_switch_wal()');
      // Our naming agrees with the server's (pg_walfile_name names the segment before a boundary LSN).
      expect(walFileName(1, parseLsn(end?.lsn ?? '0/0') - 1n, MiB)).toBe(end?.name);
      const [fixed] = await leader.query<{ name: string }>("SELECT pg_walfile_name('0/3000010') AS name");
      expect(walFileName(1, parseLsn('0/3000010'), MiB)).toBe(fixed?.name);
      expect(fixed?.name).toBe('000000010000000000000030');
      await waitArchived(leader, end?.name ?? '');
      const segments = [
        ...new Set(
          (await readdir(join(dir, 'archive', 'wal', '00000001')))
            .filter((n) => /^[0-9A-F]{24}/.test(n))
            .map((n) => n.slice(0, 24)),
        ),
      ].sort();
      expect(segments.length).toBeGreaterThan(5);

      // archive check over the whole range: every segment present under its real name.
      const config = await writeConfigFile(dir, {
        archive: { ...archive, prefetch: 0 },
        leader: { conninfo: leader.conninfo },
        log: { level: 'warn' },
      });
      const out = createMemoryOutput();
      const code = await main(
        [
          '--config',
          config,
          'archive',
          'check',
          '--start',
          segments[0] ?? '',
          '--end',
          end?.lsn ?? '',
          '--timeline',
          '1',
        ],
        { output: out, env: {} },
      );
      expect(out.text()).toMatch(/ok: the archive covers the whole range/);
      expect(code).toBe(0);

      // The prefetcher, told nothing about the size, learns it from the first segment and spools the
      // segments that follow under their real names.
      const ctx = await testContext({ archive: { ...archive, prefetch: 3 }, log: { level: 'silent' } });
      const store = openArchiveStore(ctx.config);
      const spool = join(dir, 'spool');
      const prefetcher = await startPrefetcher(ctx, {
        store,
        spoolDir: spool,
        depth: 3,
        concurrency: 2,
        pollMs: 20,
      });
      try {
        const first = segments[1] ?? '';
        await writeRequested(spool, first);
        const expected = segments.slice(2, 5);
        await waitFor('the next three segments in the spool', async () => {
          const spooled = (await readdir(spool)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
          return spooled.join() === expected.join() ? true : undefined;
        });
      } finally {
        await prefetcher.stop();
        store.close();
      }
    } finally {
      await leader.stop();
    }
  });
});
