/**
 * Leader-side archiving throughput, side by side in one run: for each method a backlog of ready
 * WAL segments is made (archiving paused with an empty archive_command while the leader switches
 * segments PGF_BENCH_PUSH_SEGMENTS times, default 100), then the method's archive_command is set and
 * the time until `pg_stat_archiver.last_archived_wal` reaches the last segment is measured:
 *   - `cp` + fsync of the file and directory: the floor (no verification, no overwrite check);
 *   - `pgfollower wal-push %p`: synchronous, a Node process per segment;
 *   - pgBackRest `archive-push`, synchronous (`--no-archive-async`);
 *   - pgfollower push-ahead: `pgfollower archive push-ahead` (started with the clock, as its own
 *     process like the systemd unit) + the marker archive_command, archive.pushConcurrency 4;
 *   - pgBackRest `archive-push` asynchronous (`archive-async=y`, `process-max=4`).
 * Same guarantees for all but the floor: no compression (the fs default), every archived file and
 * its directory fsynced (pgfollower's fs store; pgBackRest always syncs its repository), an
 * existing file with other content refused. Segments are made with pg_switch_wal() after a tiny
 * write, so they are mostly zeros; without compression that costs every method the same 16 MB read,
 * checksum, write and fsync. Prints seconds, segments/s and ratios.
 *
 *   npm run bench wal-push          # PGF_BENCH_PUSH_SEGMENTS=100, PGF_BENCH_PUSH_METHODS=cp,wal-push,...
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { waitArchived } from '../test/helpers/archive.js';
import {
  cleanupTempDirs,
  createLeader,
  makeTempDir,
  pgTools,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { waitFor } from '../test/helpers/wait.js';
import { ARCHIVER_PID_FILE, archiveCommandFor, pushSpoolFor } from '../src/archive/leader/push-ahead.js';
import { selfCommand } from '../src/exec/self.js';
import { loadConfig } from '../src/config/index.js';
import { withClient } from '../src/postgres/client.js';

const methods = ['cp+fsync', 'wal-push', 'pgbackrest', 'push-ahead', 'pgbackrest-async'] as const;
type Method = (typeof methods)[number];

export async function run(): Promise<void> {
  const count = Number(process.env.PGF_BENCH_PUSH_SEGMENTS ?? 100);
  const wanted = (process.env.PGF_BENCH_PUSH_METHODS ?? methods.join(','))
    .split(',')
    .filter((m): m is Method => (methods as readonly string[]).includes(m));
  const pgbackrest = existsSync('/usr/bin/pgbackrest');
  const { exec } = await pgTools();
  const runAs = exec.runAs;
  const own = async (p: string): Promise<void> => {
    if (runAs) await chown(p, runAs.uid, runAs.gid);
  };
  const results: Array<{ method: Method; segments: number; seconds: number; archived: number }> = [];
  let leader: TestCluster | undefined;
  try {
    const root = await makeTempDir('pgf-bench-push-');
    leader = await createLeader({
      settings: { archive_mode: 'on', archive_command: '', max_wal_size: '4GB', wal_keep_size: 0 },
    });
    const { conninfo } = leader;
    const leaderDir = leader.dataDirectory;
    const sql = (text: string) => withClient(conninfo, {}, (c) => c.query(text));
    const pgbrConf = join(root, 'pgbackrest.conf');
    await sql('CREATE TABLE tick (i int)');
    if (pgbackrest) {
      for (const d of ['pgbr-repo', 'pgbr-spool', 'pgbr-lock', 'pgbr-log']) {
        await mkdir(join(root, d));
        await own(join(root, d));
      }
      await writeFile(
        pgbrConf,
        [
          '[global]',
          `repo1-path=${join(root, 'pgbr-repo')}`,
          `spool-path=${join(root, 'pgbr-spool')}`,
          `lock-path=${join(root, 'pgbr-lock')}`,
          `log-path=${join(root, 'pgbr-log')}`,
          'log-level-console=warn',
          'log-level-file=off',
          'compress-type=none',
          'process-max=4',
          '[bench]',
          `pg1-path=${leaderDir}`,
          `pg1-port=${leader.port}`,
          `pg1-socket-path=${leader.socketDirectory}`,
          '',
        ].join('\n'),
      );
      await own(pgbrConf);
      await exec.run('pgbackrest', [`--config=${pgbrConf}`, '--stanza=bench', 'stanza-create']);
    } else {
      console.log('pgbackrest not installed (apt-get install -y pgbackrest): its rows are skipped');
    }
    for (const method of wanted) {
      if (method.startsWith('pgbackrest') && !pgbackrest) continue;
      const archiveDir = join(root, `archive-${method}`);
      await mkdir(archiveDir, { mode: 0o755 });
      await own(archiveDir);
      // A backlog: archiving paused (empty archive_command) while the leader fills segments.
      await sql("ALTER SYSTEM SET archive_command = ''");
      await sql('SELECT pg_reload_conf()');
      await withClient(conninfo, {}, async (c) => {
        for (let i = 0; i < count; i++) {
          await c.query('INSERT INTO tick VALUES (1)');
          await c.query('SELECT pg_switch_wal()');
        }
      });
      const ready = (await readdir(join(leaderDir, 'pg_wal', 'archive_status')))
        .filter((f) => f.endsWith('.ready'))
        .map((f) => f.slice(0, -'.ready'.length))
        .sort();
      const lastReady = ready[ready.length - 1] as string;

      const tree = {
        node: { dataDirectory: leaderDir, name: 'bench-leader' },
        archive: {
          type: 'fs',
          fs: { path: archiveDir },
          compression: 'none',
          pushConcurrency: 4,
          command: selfCommand()
            .map((p) => `'${p}'`)
            .join(' '),
        },
        log: { level: 'warn' },
      };
      const configFile = join(root, `pgf-${method}.yaml`);
      await writeFile(configFile, stringify(tree), { mode: 0o600 });
      await own(configFile);
      const config = loadConfig({ overrides: tree, env: {} });
      const pgbr = `pgbackrest --config=${pgbrConf} --stanza=bench`;
      const command: Record<Method, string> = {
        'cp+fsync': `cp %p '${archiveDir}/'%f && sync '${archiveDir}/'%f '${archiveDir}'`,
        'wal-push': `exec ${tree.archive.command} --config '${configFile}' wal-push %p`,
        pgbackrest: `${pgbr} --no-archive-async archive-push %p`,
        'push-ahead': archiveCommandFor(config, { configFile }),
        'pgbackrest-async': `${pgbr} --archive-async archive-push %p`,
      };
      const load = loadavg()[0] ?? 0;
      const started = performance.now();
      let archiver: ChildProcess | undefined;
      let seconds: number;
      try {
        if (method === 'push-ahead') {
          // The archiver as production runs it: its own process, as the PostgreSQL OS user.
          const [node, program] = selfCommand();
          archiver = spawn(node, [program, '--config', configFile, 'archive', 'push-ahead'], {
            stdio: ['ignore', 'ignore', 'inherit'],
            ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
          });
          const pidFile = join(pushSpoolFor(config) as string, ARCHIVER_PID_FILE);
          await waitFor('the push-ahead archiver to write its pid file', () => existsSync(pidFile), {
            timeoutMs: 60_000,
            intervalMs: 10,
          });
        }
        await sql(`ALTER SYSTEM SET archive_command = '${command[method].replace(/'/g, "''")}'`);
        await sql('SELECT pg_reload_conf()');
        // Polled every 20 ms (the timing's resolution); an hour is far beyond any method's backlog.
        await waitArchived(leader, lastReady, 3_600_000, 20);
        seconds = (performance.now() - started) / 1000;
      } finally {
        const child = archiver;
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
      }
      const archived = await countArchived(method, archiveDir, join(root, 'pgbr-repo'));
      results.push({ method, segments: ready.length, seconds, archived });
      console.log(
        `${method}: ${ready.length} segments in ${seconds.toFixed(2)} s (${(ready.length / seconds).toFixed(1)} segments/s; load ${load.toFixed(1)})`,
      );
    }
    const by = (m: Method) => results.find((r) => r.method === m);
    const floor = by('cp+fsync');
    console.log(
      `\nload average now: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log('method | segments | seconds | segments/s | time vs cp+fsync | archived files');
    for (const r of results) {
      console.log(
        `${r.method} | ${r.segments} | ${r.seconds.toFixed(2)} | ${(r.segments / r.seconds).toFixed(1)} | ${floor ? (r.seconds / floor.seconds).toFixed(2) : '-'}x | ${r.archived}`,
      );
    }
    const ratio = (ours: Method, theirs: Method, target: number): void => {
      const a = by(ours);
      const b = by(theirs);
      if (!a || !b) return;
      const speedup = a.segments / a.seconds / (b.segments / b.seconds);
      console.log(
        `${ours} vs ${theirs}: ${speedup.toFixed(2)}x the throughput (target >= ${target.toFixed(2)}x: ${speedup >= target ? 'met' : 'NOT met'})`,
      );
    };
    ratio('push-ahead', 'pgbackrest-async', 1.5);
    ratio('wal-push', 'pgbackrest', 1.0);
  } finally {
    await leader?.stop('immediate').catch(() => undefined);
    await cleanupTempDirs();
  }
}

/** Files the method stored (segments plus any history files), to show nothing was skipped. */
async function countArchived(method: Method, archiveDir: string, pgbrRepo: string): Promise<number> {
  const walk = async (dir: string): Promise<number> => {
    let n = 0;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) n += await walk(join(dir, e.name));
      else if (/^[0-9A-F]{24}/.test(e.name)) n++;
    }
    return n;
  };
  if (method.startsWith('pgbackrest')) {
    // Both pgBackRest rows share one repository: report its running total.
    return walk(join(pgbrRepo, 'archive'));
  }
  return walk(archiveDir);
}
