import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { takeBackup } from '../../../src/backup/take.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { ExitCode } from '../../../src/errors.js';
import { pgbench, trackDataDirectory } from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';
import { archiveEverything, checksumSql, createBackupRig } from './helpers.js';

async function runCli(args: string[]): Promise<{ code: number; text: string; stdout: string }> {
  const output = createMemoryOutput();
  const code = await main(args, { output });
  return { code, text: output.text(), stdout: output.stdout.join('\n') };
}

/**
 * `rebuild --from-archive` on a running follower, through the CLI as an operator runs it: the
 * server is stopped, the old directory is moved aside and kept (untouched) while the newest backup
 * is restored, and the new follower replays the archive, streams, and holds the leader's rows.
 */
describe('rebuild --from-archive', () => {
  beforeAll(requireBuiltCli);

  it('keeps the old directory aside, restores the backup and ends streaming with the leader rows', async () => {
    const rig = await createBackupRig();
    const { leader, follower, store } = rig;
    trackDataDirectory(follower.dataDirectory);
    try {
      await pgbench(leader, ['-i', '-s', '2', '-q']);
      await archiveEverything(leader);
      const backup = await takeBackup(rig.ctx, store);
      // WAL after the backup: the rebuilt follower replays it from the archive, then streams.
      await pgbench(leader, ['-n', '-c', '1', '-t', '300']);
      await archiveEverything(leader);
      // Something only the old directory has: it must survive, aside and unchanged.
      const marker = join(follower.dataDirectory, 'old-directory-marker');
      await writeFile(marker, 'the old follower\n');
      expect(await follower.isRunning()).toBe(true);

      const run = await runCli(['--config', rig.file, 'rebuild', '--from-archive', '--yes', '--json']);
      expect(run.code, run.text).toBe(0);
      const { result } = JSON.parse(run.stdout) as {
        result: { backup: { id: string }; state: string; movedAside: string; slot: string };
      };
      expect(result.backup.id).toBe(backup.id);
      expect(result.state).toBe('streaming');
      expect(result.slot).toBe('created');
      expect(result.movedAside).toMatch(/\/data\.old-\d{8}T\d{6}Z(-\d+)?$/);
      expect(await readFile(join(result.movedAside, 'old-directory-marker'), 'utf8')).toBe(
        'the old follower\n',
      );
      expect(existsSync(join(result.movedAside, 'PG_VERSION'))).toBe(true);
      expect(existsSync(marker)).toBe(false);
      expect(await follower.isRunning()).toBe(true);

      // Writes after the rebuild arrive by streaming, through the slot rebuild created.
      await pgbench(leader, ['-n', '-c', '1', '-t', '200']);
      const [expected] = await leader.query(checksumSql);
      const [{ lsn } = { lsn: '' }] = await leader.query<{ lsn: string }>(
        'select pg_current_wal_lsn()::text as lsn',
      );
      await waitFor(
        'the rebuilt follower to stream and replay the leader position',
        async () => {
          const [row] = await follower.query<{ ok: boolean; status: string | null }>(
            `select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok,
                    (select status from pg_stat_wal_receiver) as status`,
            [lsn],
          );
          return row?.ok && row.status === 'streaming' ? row : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(await follower.query(checksumSql)).toEqual([expected]);
      const [slot] = await leader.query<{ active: boolean }>(
        "select active from pg_replication_slots where slot_name = 'replica_a'",
      );
      expect(slot?.active).toBe(true);
    } finally {
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 300_000);

  it('puts the old follower directory back when the restore fails (a corrupt part)', async () => {
    const rig = await createBackupRig({ backup: { compression: 'none' } });
    const { leader, follower, store } = rig;
    trackDataDirectory(follower.dataDirectory);
    try {
      await pgbench(leader, ['-i', '-s', '1', '-q']);
      const backup = await takeBackup(rig.ctx, store);
      const part = join(rig.archiveDir, (backup.parts[1] as { key: string }).key);
      const bytes = await readFile(part);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      await writeFile(part, bytes);
      const marker = join(follower.dataDirectory, 'old-directory-marker');
      await writeFile(marker, 'the old follower\n');

      const run = await runCli(['--config', rig.file, 'rebuild', '--from-archive', '--yes']);
      expect(run.code, run.text).toBe(ExitCode.FAILED);
      expect(run.text).toMatch(/corrupt/);
      // The old directory is back in place, untouched; nothing is left beside it.
      expect(await readFile(marker, 'utf8')).toBe('the old follower\n');
      const parent = dirname(follower.dataDirectory);
      expect((await readdir(parent)).filter((n) => n.startsWith('data.'))).toEqual([]);
      // And it is the same follower: it starts and streams again.
      await follower.start();
      await waitFor(
        'the old follower to stream again',
        async () => {
          const [row] = await follower.query<{ status: string | null }>(
            'select (select status from pg_stat_wal_receiver) as status',
          );
          return row?.status === 'streaming' ? row : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    } finally {
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 240_000);
});
