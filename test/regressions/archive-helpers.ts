import { join } from 'node:path';
import { createArchivingLeader } from '../helpers/archive.js';
import { makeTempDir, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/** A real leader whose archive_command is the built CLI pushing into an fs archive (uncompressed). */
interface FsArchivingLeader {
  leader: TestCluster;
  archiveDir: string;
  configFile: string;
  dir: string;
}

export async function archivingLeader(archive: Record<string, unknown> = {}): Promise<FsArchivingLeader> {
  const dir = await makeTempDir('pgf-reg-');
  const archiveDir = join(dir, 'archive');
  const { leader, leaderConfig } = await createArchivingLeader({
    dir,
    archive: { type: 'fs', fs: { path: archiveDir, fsync: false }, ...archive },
  });
  return { leader, archiveDir, configFile: leaderConfig, dir };
}

/** Writes a little, switches segments `count` times and waits until the archiver is caught up. */
export async function switchAndArchive(leader: TestCluster, count = 1): Promise<string> {
  await leader.query('create table if not exists t(id int, pad text)');
  for (let i = 0; i < count; i++) {
    await leader.query("insert into t select g, repeat('x', 100) from generate_series(1, 100) g");
    await leader.query('select pg_switch_wal()');
  }
  const [row] = await leader.query<{ name: string }>('select pg_walfile_name(pg_current_wal_lsn()) as name');
  const current = row?.name ?? '';
  return waitFor(
    'the archiver to archive the switched segments',
    async () => {
      const [s] = await leader.query<{ last: string | null }>(
        'select last_archived_wal as last from pg_stat_archiver',
      );
      return s?.last && s.last.slice(8) >= previous(current).slice(8) ? s.last : undefined;
    },
    { timeoutMs: 90_000 },
  );
}

/** The segment before `name` on its timeline (16 MiB segments: tests only). */
function previous(name: string): string {
  const seg = BigInt(`0x${name.slice(8)}`) - 1n;
  return `${name.slice(0, 8)}${seg.toString(16).toUpperCase().padStart(16, '0')}`;
}
