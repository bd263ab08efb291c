import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import {
  ARCHIVER_PID_FILE,
  archiveCommandFor,
  FAILED_SUFFIX,
  PUSHED_SUFFIX,
  pushSpoolFor,
  startPushAhead,
  type BacklogAlert,
} from '../../../src/archive/leader/push-ahead.js';
import { editAutoConf } from '../../../src/postgres/standby-config.js';
import { createLeader, makeTempDir, pgbench, pgTools, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { cliPath, requireBuiltCli, testContext, waitArchived } from '../../helpers/archive.js';

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
    expect(command).toMatch(/^d='.*\/pg_wal\/\.pgfollower-pushed\/'; /);
    expect(command).toMatch(/; exec .* wal-push %p$/);
    const spoolDir = pushSpoolFor(ctx.config) as string;
    const store = openArchiveStore(ctx.config);
    await editAutoConf(leader.dataDirectory, { archive_command: command }, tools.exec.runAs);
    await leader.start();
    const pusher = await startPushAhead(ctx, { store, dataDirectory: leader.dataDirectory, spoolDir });
    try {
      await pgbench(leader, ['-i', '-s', '4', '-q']);
      const [last] = await leader.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
      const archived = await waitArchived(leader, last?.name ?? '');
      expect(archived.last).toBe(last?.name);
      expect(archived.failed).toBe(0);
      const inArchive = (await readdir(join(dir, 'archive', 'wal', '00000001'))).filter((f) =>
        /^[0-9A-F]{24}$/.test(f),
      );
      expect(inArchive.length).toBe(archived.archived);
      expect(inArchive).toContain(last?.name);
      // Markers archive_command consumed = segments archived without a Node process.
      const left = (await readdir(spoolDir)).filter((f) => f.endsWith(PUSHED_SUFFIX)).length;
      const consumed = pusher.pushed - left;
      expect(consumed).toBeGreaterThan(0);
      // archive_command waits for the running archiver instead of starting Node: nearly all of them.
      expect(consumed).toBeGreaterThanOrEqual(archived.archived * 0.9);
    } finally {
      await pusher.stop();
      store.close();
      await leader.stop();
    }
  });

  it('alerts on a large backlog and keeps every segment; marks failures; owns its spool while it runs', async () => {
    const dir = await makeTempDir('pgf-push-backlog-');
    const dataDirectory = join(dir, 'data');
    const status = join(dataDirectory, 'pg_wal', 'archive_status');
    await mkdir(status, { recursive: true });
    // Three "segments" of 1 MiB that are not WAL: every push is refused (nothing is archived).
    const names = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003'];
    for (const name of names) {
      await writeFile(join(dataDirectory, 'pg_wal', name), Buffer.alloc(1024 * 1024, 7));
      await writeFile(join(status, `${name}.ready`), '');
    }
    const tree = {
      node: { dataDirectory },
      archive: { type: 'fs', fs: { path: join(dir, 'archive') }, compression: 'none' },
      log: { level: 'silent' },
    };
    const ctx = await testContext(tree);
    const spoolDir = pushSpoolFor(ctx.config) as string;
    await mkdir(spoolDir, { recursive: true });
    await writeFile(join(spoolDir, `${names[0]}${PUSHED_SUFFIX}`), ''); // from an earlier run
    const alerts: BacklogAlert[] = [];
    const store = openArchiveStore(ctx.config);
    const pusher = await startPushAhead(ctx, {
      store,
      dataDirectory,
      spoolDir,
      backlogAlertBytes: 2 * 1024 * 1024,
      onBacklogAlert: (a) => alerts.push(a),
      pollMs: 50,
    });
    try {
      expect(existsSync(join(spoolDir, `${names[0]}${PUSHED_SUFFIX}`))).toBe(false);
      expect((await readdir(spoolDir)).includes(ARCHIVER_PID_FILE)).toBe(true);
      await waitFor('the backlog alert', async () => alerts.length > 0, {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      expect(alerts[0]).toMatchObject({ status: 'firing', segments: 3, bytes: 3 * 1024 * 1024 });
      await waitFor(
        'a failed marker for every segment',
        async () => names.every((n) => existsSync(join(spoolDir, `${n}${FAILED_SUFFIX}`))),
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      expect(pusher.pushed).toBe(0);
      // Nothing was dropped to make room: the segments and their .ready files are all still there.
      expect((await readdir(status)).sort()).toEqual(names.map((n) => `${n}.ready`));
      for (const name of names.slice(0, 2)) await rm(join(status, `${name}.ready`));
      await waitFor('the alert to resolve', async () => alerts.length > 1, {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      expect(alerts[1]).toMatchObject({ status: 'resolved', segments: 1 });
    } finally {
      await pusher.stop();
      store.close();
    }
    expect((await readdir(spoolDir)).includes(ARCHIVER_PID_FILE)).toBe(false);
  });
});
