/**
 * Leader-side archiving throughput, side by side in one run: a backlog of ready WAL segments
 * (archiving paused with an empty archive_command while pgbench writes) is drained by
 *   1. `cp %p <dir>/%f` (the baseline: no verification, no durability, no overwrite check),
 *   2. `pgfollower wal-push %p` (a Node process per segment),
 *   3. the push-ahead fast path (`pgfollower archive push-ahead` + the marker archive_command).
 * Prints seconds, segments/s and the ratio to cp.
 *
 *   npm run bench wal-push              # PGF_BENCH_PUSH_SCALE=30 (about 30 segments)
 */
import { chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startBenchLeader } from './leader.js';
import { openArchiveStore } from '../src/archive/store/open-store.js';
import { archiveCommandFor, pushSpoolFor, startPushAhead } from '../src/archive/leader/push-ahead.js';
import { selfCommand } from '../src/exec/self.js';
import { loadConfig } from '../src/config/index.js';
import { silentReporter, systemClock } from '../src/context.js';
import { createSilentLogger } from '../src/logging/logger.js';
import { withClient } from '../src/postgres/client.js';

type Mode = 'cp' | 'wal-push' | 'push-ahead';

export async function run(): Promise<void> {
  const scale = Number(process.env.PGF_BENCH_PUSH_SCALE ?? 30);
  const leader = await startBenchLeader('pgf-bench-push-', {
    archive_mode: 'on',
    archive_command: '',
    max_wal_size: '4GB',
    wal_keep_size: 0,
  });
  const { exec, bin, root, conninfo } = leader;
  const leaderDir = leader.dataDirectory;
  const sql = (text: string) => withClient(conninfo, {}, (c) => c.query(text));
  const results: Array<{ mode: Mode; segments: number; seconds: number }> = [];
  try {
    for (const mode of ['cp', 'wal-push', 'push-ahead'] as Mode[]) {
      const archiveDir = join(root, `archive-${mode}`);
      await mkdir(archiveDir, { mode: 0o755 });
      if (exec.runAs) await chown(archiveDir, exec.runAs.uid, exec.runAs.gid);
      // A backlog: archiving paused (empty archive_command) while pgbench writes.
      await sql("ALTER SYSTEM SET archive_command = ''");
      await sql('SELECT pg_reload_conf()');
      await leader.pgbenchInit(scale);
      const last = (await sql('SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]?.name as string;
      const ready = (await readdir(join(leaderDir, 'pg_wal', 'archive_status'))).filter((f) =>
        f.endsWith('.ready'),
      ).length;

      const tree = {
        node: { dataDirectory: leaderDir },
        archive: {
          type: 'fs',
          fs: { path: archiveDir },
          compression: 'none',
          command: selfCommand()
            .map((p) => `'${p}'`)
            .join(' '),
        },
        log: { level: 'warn' },
      };
      const configFile = join(root, `pgf-${mode}.yaml`);
      await writeFile(configFile, stringify(tree), { mode: 0o600 });
      if (exec.runAs) await chown(configFile, exec.runAs.uid, exec.runAs.gid);
      const config = loadConfig({ overrides: tree, env: {} });
      const command =
        mode === 'cp'
          ? `cp %p '${archiveDir}/'%f`
          : mode === 'wal-push'
            ? `exec ${tree.archive.command} --config '${configFile}' wal-push %p`
            : archiveCommandFor(config, { configFile });
      const controller = new AbortController();
      const ctx = {
        config,
        logger: createSilentLogger(),
        exec,
        bin,
        clock: systemClock,
        signal: controller.signal,
        reporter: silentReporter,
      };
      const store = openArchiveStore(config);
      const started = performance.now();
      const pusher =
        mode === 'push-ahead'
          ? await startPushAhead(ctx, {
              store,
              dataDirectory: leaderDir,
              spoolDir: pushSpoolFor(config) as string,
              concurrency: config.archive.pushConcurrency,
            })
          : undefined;
      await sql(`ALTER SYSTEM SET archive_command = '${command.replace(/'/g, "''")}'`);
      await sql('SELECT pg_reload_conf()');
      for (;;) {
        const row = (await sql('SELECT last_archived_wal AS last FROM pg_stat_archiver')).rows[0] as {
          last: string | null;
        };
        if (row.last === last) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const seconds = (performance.now() - started) / 1000;
      await pusher?.stop();
      store.close();
      results.push({ mode, segments: ready, seconds });
      console.log(
        `${mode}: ${ready} segments in ${seconds.toFixed(2)} s (${(ready / seconds).toFixed(1)} segments/s)`,
      );
    }
    const cp = results.find((r) => r.mode === 'cp');
    console.log('\nmode | segments | seconds | segments/s | time vs cp');
    for (const r of results) {
      console.log(
        `${r.mode} | ${r.segments} | ${r.seconds.toFixed(2)} | ${(r.segments / r.seconds).toFixed(1)} | ${cp ? (r.seconds / cp.seconds).toFixed(2) : '-'}x`,
      );
    }
  } finally {
    await leader.destroy();
  }
}
