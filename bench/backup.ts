/**
 * `bootstrap --from-archive` next to `bootstrap` from the leader for the same pgbench database, in
 * one run, alternating the two, with the CPU the leader spent during each (its postmaster and
 * every child, exited children included through the postmaster's cutime/cstime).
 *
 *   npm run bench backup                   # scale 65, about 1 GB
 *   PGF_BENCH_SCALE=10 PGF_BENCH_ROUNDS=1 npm run bench backup
 */
import { chown, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { cliPath, createArchivingLeader } from '../test/helpers/archive.js';
import { cleanupTempDirs, makeTempDir, pgTools, pgbench, type TestCluster } from '../test/helpers/cluster.js';
import { readPostmasterPid, stopServer } from '../src/postgres/cluster.js';
import { withClient } from '../src/postgres/client.js';

/** What ships (package.json `bin`, the bundle), also what archive_command runs. */
const binJs = cliPath;
const CLK_TCK = 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
}

/** CPU seconds used so far by the postmaster and its live children (with their reaped children). */
async function leaderCpuSeconds(postmaster: number): Promise<number> {
  let ticks = await cpuTicks(postmaster);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) ticks += await cpuTicks(Number(entry));
  }
  return ticks / CLK_TCK;
}

export async function run(): Promise<void> {
  const scale = Number(process.env.PGF_BENCH_SCALE ?? 65);
  const rounds = Number(process.env.PGF_BENCH_ROUNDS ?? 2);
  const tools = await pgTools();
  const { exec } = tools;
  const root = await makeTempDir('pgf-bench-backup-');
  const archive = {
    type: 'fs',
    fs: { path: join(root, 'archive'), fsync: false },
    compression: 'none',
    prefetch: 0,
  };
  const results = {
    leader: [] as number[],
    archive: [] as number[],
    leaderCpu: [] as number[],
    archiveCpu: [] as number[],
  };
  let leader: TestCluster | undefined;
  try {
    // PostgreSQL's default min_wal_size (not the small test one) and room for pgbench -i in one go.
    ({ leader } = await createArchivingLeader({
      dir: root,
      archive,
      settings: { max_wal_size: '2GB', min_wal_size: '80MB' },
    }));
    const { conninfo, dataDirectory } = leader;
    console.log(`leader: pgbench -i -s ${scale} ...`);
    await pgbench(leader, ['-i', '-q', '-s', String(scale)]);
    const size = await withClient(conninfo, {}, async (c) =>
      Number(
        (await c.query<{ s: string }>('SELECT sum(pg_database_size(oid))::text AS s FROM pg_database'))
          .rows[0]?.s,
      ),
    );

    const backupConfig = join(root, 'backup.yaml');
    await writeFile(
      backupConfig,
      stringify({
        leader: { conninfo },
        archive,
        backup: { source: 'leader', compression: 'lz4' },
        log: { level: 'warn' },
      }),
      { mode: 0o600 },
    );
    let t = performance.now();
    const backup = await execa(process.execPath, [binJs, '--config', backupConfig, 'backup', '--json'], {
      reject: false,
      all: true,
    });
    if (backup.exitCode !== 0) throw new Error(`backup failed:\n${backup.all}`);
    const backupSeconds = (performance.now() - t) / 1000;
    const descriptor = JSON.parse(String(backup.stdout)) as {
      rawBytes: number;
      storedBytes: number;
      parts: unknown[];
    };
    console.log(
      `database ${(size / 1048576).toFixed(0)} MB; backup from the leader into the archive: ${backupSeconds.toFixed(1)} s, ` +
        `${(descriptor.rawBytes / 1048576).toFixed(0)} MB stored as ${(descriptor.storedBytes / 1048576).toFixed(0)} MB (lz4) in ${descriptor.parts.length} parts`,
    );
    const postmaster = readPostmasterPid(dataDirectory);
    if (!postmaster) throw new Error('leader postmaster pid not found');

    for (let i = 0; i < rounds; i++) {
      for (const mode of ['leader', 'archive'] as const) {
        const nodeDir = join(root, `node-${mode}-${i}`);
        const config = join(root, `pgf-${mode}-${i}.yaml`);
        await writeFile(
          config,
          stringify({
            node: { name: `bench_${mode}_${i}`, dataDirectory: nodeDir, port: await getPort(), host: root },
            leader: { conninfo },
            archive,
            log: { level: 'warn' },
          }),
          { mode: 0o600 },
        );
        if (exec.runAs) await chown(config, exec.runAs.uid, exec.runAs.gid);
        const cpuBefore = await leaderCpuSeconds(postmaster);
        t = performance.now();
        const args = [binJs, '--config', config, 'bootstrap', '--yes'];
        if (mode === 'archive') args.push('--from-archive');
        const result = await execa(process.execPath, args, { reject: false, all: true });
        const seconds = (performance.now() - t) / 1000;
        const cpu = (await leaderCpuSeconds(postmaster)) - cpuBefore;
        if (result.exitCode !== 0) throw new Error(`bootstrap ${mode} failed:\n${result.all}`);
        results[mode].push(seconds);
        results[mode === 'leader' ? 'leaderCpu' : 'archiveCpu'].push(cpu);
        await stopServer(tools, nodeDir, { mode: 'immediate' });
        await withClient(conninfo, {}, (c) =>
          c.query('SELECT pg_drop_replication_slot($1)', [`bench_${mode}_${i}`]),
        );
        await rm(nodeDir, { recursive: true, force: true });
        console.log(
          `round ${i + 1}: bootstrap ${mode === 'leader' ? 'from the leader' : '--from-archive '} ${seconds.toFixed(2)} s, leader CPU ${cpu.toFixed(2)} s`,
        );
      }
    }
    const l = median(results.leader);
    const a = median(results.archive);
    console.log('\nmedian seconds to streaming | ratio | leader CPU seconds during it');
    console.log(
      `bootstrap (pg_basebackup from the leader)  ${l.toFixed(2)} | 1.00 | ${median(results.leaderCpu).toFixed(2)}`,
    );
    console.log(
      `bootstrap --from-archive (fs, lz4 parts)   ${a.toFixed(2)} | ${(a / l).toFixed(3)} | ${median(results.archiveCpu).toFixed(2)}`,
    );
  } finally {
    await leader?.stop('immediate').catch(() => undefined);
    await cleanupTempDirs();
  }
}
