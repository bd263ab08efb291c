import { chown, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import {
  archiveCommandFor,
  PUSHED_SUFFIX,
  pushSpoolFor,
  startPushAhead,
} from '../../../src/archive/leader/push-ahead.js';
import { editAutoConf } from '../../../src/postgres/standby-config.js';
import { createLeader, makeTempDir, pgbench, pgTools, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { cliPath, requireBuiltCli, testContext } from '../../helpers/archive.js';

/**
 * The leader's archive_command takes the push-ahead fast path: `archive push-ahead` has stored each
 * ready segment before PostgreSQL asks, and archive_command only consumes the marker.
 */
describe('archive push-ahead on the leader', () => {
  it('archives every segment, most of them without starting Node per segment', async () => {
    requireBuiltCli();
    const tools = await pgTools();
    const dir = await makeTempDir('pgf-push-');
    const leader = await createLeader({ settings: { archive_mode: 'on' }, start: false });
    const tree = {
      node: { dataDirectory: leader.dataDirectory },
      archive: {
        type: 'fs',
        fs: { path: join(dir, 'archive') },
        compression: 'none',
        command: `'${process.execPath}' '${cliPath}'`,
      },
      log: { level: 'warn' },
    };
    const configFile = await writeConfigFile(dir, tree);
    if (tools.exec.runAs) await chown(configFile, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const ctx = await testContext(tree);
    const command = archiveCommandFor(ctx.config, { configFile });
    expect(command).toMatch(/^rm '.*\/pg_wal\/\.pgfollower-pushed\/'%f\.pushed 2>\/dev\/null \|\| exec /);
    const spoolDir = pushSpoolFor(ctx.config) as string;
    const store = openArchiveStore(ctx.config);
    await editAutoConf(leader.dataDirectory, { archive_command: command }, tools.exec.runAs);
    await leader.start();
    const pusher = await startPushAhead(ctx, { store, dataDirectory: leader.dataDirectory, spoolDir });
    try {
      await pgbench(leader, ['-i', '-s', '4', '-q']);
      const [last] = await leader.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
      const archived = await waitFor(
        `the archiver to reach ${last?.name}`,
        async () => {
          const [row] = await leader.query<{ last: string | null; n: string; failed: string }>(
            'SELECT last_archived_wal AS last, archived_count::text AS n, failed_count::text AS failed FROM pg_stat_archiver',
          );
          return row?.last === last?.name ? row : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 250 },
      );
      expect(archived.failed).toBe('0');
      const inArchive = (await readdir(join(dir, 'archive', 'wal', '00000001'))).filter((f) =>
        /^[0-9A-F]{24}$/.test(f),
      );
      expect(inArchive.length).toBe(Number(archived.n));
      expect(inArchive).toContain(last?.name);
      // Markers archive_command consumed = segments archived without a Node process.
      const left = (await readdir(spoolDir)).filter((f) => f.endsWith(PUSHED_SUFFIX)).length;
      const consumed = pusher.pushed - left;
      expect(consumed).toBeGreaterThan(0);
      expect(consumed).toBeGreaterThanOrEqual(Number(archived.n) / 2);
    } finally {
      await pusher.stop();
      store.close();
      await leader.stop();
    }
  });
});
