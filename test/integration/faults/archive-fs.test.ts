import { copyFile, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLeader, makeTempDir, pgTools } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { killAndWait, seededDelays } from '../../helpers/faults/kill.js';
import { injectFault } from '../../helpers/faults/ledger.js';
import { canMount, mountSmallTmpfs } from '../../helpers/faults/tmpfs.js';
import {
  createArchivingLeader,
  requireBuiltCli,
  switchSegments,
  waitArchived,
} from '../../helpers/archive.js';
import { archiveConfig, listFsArchive, markReady, runCli, sha } from './archive-tools.js';
import { faultTestTimeoutMs } from './scaffold.js';

/**
 * wal-push into a directory archive under faults: the archive filesystem fills up (a 40 MB tmpfs
 * for 16 MB segments), and wal-push is killed with SIGKILL at random moments. Invariants: an
 * object under its final name is always whole and never replaced; PostgreSQL keeps every
 * segment wal-push did not confirm, and archives it once space is back.
 */
useFaultCleanup();

describe('faults: wal-push into an fs archive', { timeout: faultTestTimeoutMs }, () => {
  beforeAll(requireBuiltCli);

  it.skipIf(!canMount())(
    'archive filesystem full: failures are reported, nothing partial, all archived after',
    async () => {
      const tools = await pgTools();
      const root = await makeTempDir('pgf-full-');
      const archiveDir = join(root, 'archive');
      const small = await mountSmallTmpfs(archiveDir, 40 * 1024 * 1024, tools.exec.runAs);
      // ENOSPC is retried inside one wal-push until archive.timeoutMs: keep it short here.
      const { leader, leaderConfig: configFile } = await createArchivingLeader({
        dir: root,
        archive: { type: 'fs', fs: { path: archiveDir, fsync: true }, compression: 'none', timeoutMs: 3000 },
        log: { format: 'json' },
      });
      try {
        const fault = injectFault('wal-push', 'archive filesystem full (tmpfs)');
        const last = await switchSegments(leader, 5);
        await waitFor('the archiver to report failures', async () => {
          const [row] = await leader.query<{ failed: number }>(
            'select failed_count::int as failed from pg_stat_archiver',
          );
          return (row?.failed ?? 0) >= 2;
        });
        const whileFull = await listFsArchive(archiveDir);
        // Whole objects only: every final name holds a complete 16 MB segment.
        for (const [key] of whileFull.objects) {
          expect((await readFile(join(archiveDir, 'wal', key))).length, key).toBe(16 * 1024 * 1024);
        }
        expect(whileFull.objects.size).toBeLessThan(5);
        // The segments not archived are still in the leader's pg_wal, marked .ready.
        const ready = (await readdir(join(leader.dataDirectory, 'pg_wal', 'archive_status'))).filter((n) =>
          n.endsWith('.ready'),
        );
        expect(ready.length).toBeGreaterThan(0);

        await small.resize(200 * 1024 * 1024);
        // After three failures the archiver sleeps up to a minute; a new ready segment wakes it,
        // as the next segment would on a busy leader.
        const newest = await switchSegments(leader, 1);
        await waitArchived(leader, newest > last ? newest : last, 90_000);
        const after = await listFsArchive(archiveDir);
        for (const [key, digest] of whileFull.objects)
          expect(after.objects.get(key), `${key} replaced`).toBe(digest);
        expect(after.tempFiles).toEqual([]);
        // Contiguous and whole: every segment up to the last one, 16 MB each, its page header's
        // address matching its name; one of them restored by wal-fetch (which verifies) as well.
        const names = [...after.objects.keys()]
          .map((k) => k.split('/')[1] ?? '')
          .filter((n) => /^[0-9A-F]{24}$/.test(n))
          .sort();
        expect(names.length).toBeGreaterThanOrEqual(5);
        expect(names.includes(last)).toBe(true);
        for (const [i, name] of names.entries()) {
          const data = await readFile(join(archiveDir, 'wal', '00000001', name));
          expect(data.length).toBe(16 * 1024 * 1024);
          const segno = BigInt(`0x${name.slice(8, 16)}`) * 0x100n + BigInt(`0x${name.slice(16)}`);
          expect(data.readBigUInt64LE(8), `${name} page address`).toBe(segno * 16n * 1024n * 1024n);
          if (i > 0) expect(BigInt(`0x${name.slice(16)}`) - BigInt(`0x${names[i - 1]?.slice(16)}`)).toBe(1n);
        }
        const probe = names[names.length - 1] ?? '';
        const dest = join(root, `restored-${probe}`);
        const fetched = await runCli(['--config', configFile, 'wal-fetch', probe, dest]).done;
        expect(fetched.code, fetched.stderr).toBe(0);
        expect(sha(await readFile(dest))).toBe(after.objects.get(`00000001/${probe}`));
        fault.survived(0);
      } finally {
        await leader.stop();
      }
    },
  );

  it('wal-push killed with SIGKILL at random moments: never a partial or replaced object', async () => {
    const root = await makeTempDir('pgf-kill-push-');
    const archiveDir = join(root, 'archive');
    const leader = await createLeader();
    let sources: string[];
    try {
      await switchSegments(leader, 4);
      await leader.query('checkpoint');
      const walDir = join(leader.dataDirectory, 'pg_wal');
      const [current] = await leader.query<{ name: string }>(
        'select pg_walfile_name(pg_current_wal_lsn()) as name',
      );
      sources = (await readdir(walDir))
        .filter((n) => /^[0-9A-F]{24}$/.test(n) && n < (current?.name ?? ''))
        .sort()
        .slice(-2);
      expect(sources.length).toBe(2);
      for (const name of sources) {
        await copyFile(join(walDir, name), join(root, name));
        await markReady(root, name);
      }
    } finally {
      await leader.stop();
    }
    const seed = Number(process.env.PGF_FAULT_SEED ?? Date.now() % 100_000);
    const delay = seededDelays(seed);
    let kills = 0;
    for (const compression of ['none', 'lz4']) {
      const configFile = await archiveConfig(root, {
        type: 'fs',
        fs: { path: join(archiveDir, compression), fsync: true },
        compression,
      });
      for (const name of sources) {
        const original = await readFile(join(root, name));
        for (let attempt = 0; attempt < 2; attempt++) {
          const fault = injectFault('wal-push', `kill -9 wal-push (${compression}, seed ${seed})`);
          const run = runCli(['--config', configFile, 'wal-push', join(root, name)]);
          await new Promise((r) => setTimeout(r, delay(30, 900)));
          await killAndWait(run.pid);
          kills += 1;
          const result = await run.done;
          // Either it finished before the kill (exit 0) or it was killed; never a failure code.
          expect(result.code === 0 || result.signal === 'SIGKILL', `seed ${seed}: ${result.stderr}`).toBe(
            true,
          );
          // Not there, or there and whole: an object under its final name is never partial.
          const stored = await readFile(
            join(archiveDir, compression, 'wal', '00000001', `${name}${compression === 'lz4' ? '.lz4' : ''}`),
          ).catch(() => undefined);
          if (stored && compression === 'none') expect(sha(stored), `seed ${seed}`).toBe(sha(original));
          if (stored && compression === 'lz4') {
            const fetched = await runCli([
              '--config',
              configFile,
              'wal-fetch',
              name,
              join(root, `check-${name}`),
            ]).done;
            expect(fetched.code, `seed ${seed}: ${fetched.stderr}`).toBe(0);
            expect(sha(await readFile(join(root, `check-${name}`)))).toBe(sha(original));
          }
          fault.survived(0);
        }
        // A later push (PostgreSQL retries) completes: identical content is success, not a conflict.
        const final = await runCli(['--config', configFile, 'wal-push', join(root, name)]).done;
        expect(final.code, final.stderr).toBe(0);
      }
      const { objects } = await listFsArchive(join(archiveDir, compression));
      expect(objects.size).toBe(sources.length);
    }
    expect(kills).toBe(8);
  });
});
