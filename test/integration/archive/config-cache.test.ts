import { chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createArchivingLeader, switchAndArchive } from '../../helpers/archive.js';
import { makeTempDir, pgTools, type TestCluster } from '../../helpers/cluster.js';

/**
 * The per-segment config cache (src/config/cache.ts) in the real archive_command: PostgreSQL runs
 * `pgfollower wal-push` as its OS user; the first call validates and stores the config, later
 * calls are served from the entry (shown by redirecting the entry's archive path), and editing the
 * config file is never answered from the old entry.
 */
describe('config cache in the archive_command', () => {
  let leader: TestCluster | undefined;
  afterEach(async () => {
    await leader?.stop();
    leader = undefined;
  });

  const segmentsIn = async (archive: string): Promise<string[]> =>
    (await readdir(join(archive, 'wal', '00000001')).catch(() => [] as string[])).filter((n) =>
      /^[0-9A-F]{24}$/.test(n),
    );

  it('is filled by the first wal-push, serves the next ones, and follows an edited file', async () => {
    const dir = await makeTempDir('pgf-cfgcache-');
    const tools = await pgTools();
    const own = async (path: string): Promise<void> => {
      if (tools.exec.runAs) await chown(path, tools.exec.runAs.uid, tools.exec.runAs.gid);
    };
    const archiveA = join(dir, 'archive-a');
    const archiveB = join(dir, 'archive-b');
    const archiveC = join(dir, 'archive-c');
    for (const a of [archiveA, archiveB, archiveC]) {
      await mkdir(a);
      await own(a);
    }
    const cacheDir = join(dir, 'cache');
    const started = await createArchivingLeader({
      dir,
      archive: { type: 'fs', fs: { path: archiveA }, compression: 'none' },
      envPrefix: `PGFOLLOWER_CACHE_DIR='${cacheDir}' `,
    });
    leader = started.leader;

    const first = await switchAndArchive(leader);
    expect(await segmentsIn(archiveA)).toContain(first);
    const entries = (await readdir(cacheDir)).filter((n) => n.endsWith('.json'));
    expect(entries).toHaveLength(1);
    const entryPath = join(cacheDir, entries[0] as string);
    const entryStat = await stat(entryPath);
    expect(entryStat.mode & 0o777).toBe(0o600);
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    if (tools.exec.runAs) expect(entryStat.uid).toBe(tools.exec.runAs.uid);

    // Redirect the entry: a push that lands in archive-b was served from the cache.
    const entry = JSON.parse(await readFile(entryPath, 'utf8')) as {
      config: { archive: { fs: { path: string } } };
    };
    entry.config.archive.fs.path = archiveB;
    await writeFile(entryPath, JSON.stringify(entry), { mode: 0o600 });
    await own(entryPath);
    const second = await switchAndArchive(leader);
    expect(await segmentsIn(archiveB)).toContain(second);
    expect(await segmentsIn(archiveA)).not.toContain(second);

    // Editing the config file is a new entry: the push goes where the file now says.
    await writeFile(
      started.leaderConfig,
      `archive:\n  type: fs\n  fs: { path: ${archiveC} }\n  compression: none\n  prefetch: 0\nlog: { level: warn }\n`,
      { mode: 0o600 },
    );
    await own(started.leaderConfig);
    const third = await switchAndArchive(leader);
    expect(await segmentsIn(archiveC)).toContain(third);
    expect((await readdir(cacheDir)).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });
});
