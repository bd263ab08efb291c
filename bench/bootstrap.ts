/**
 * Bootstrap time next to a raw `pg_basebackup -X stream` of the same pgbench database, in one run,
 * alternating the two so the page cache and machine load treat them alike.
 *
 *   npm run bench bootstrap                 # scale 65, about 1 GB
 *   PGF_BENCH_SCALE=10 npm run bench bootstrap
 *   PGF_BENCH_ROUNDS=3 ...
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import getPort from 'get-port';
import { stringify } from 'yaml';
import {
  cleanupTempDirs,
  createLeader,
  makeTempDir,
  pgTools,
  pgbench,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { stopServer } from '../src/postgres/cluster.js';
import { withClient } from '../src/postgres/client.js';
import { shippedProgram } from '../src/exec/self.js';

/** What ships: the program package.json `bin` names (the bundle). */
const bin_js = shippedProgram();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export async function run(): Promise<void> {
  const scale = Number(process.env.PGF_BENCH_SCALE ?? 65);
  const rounds = Number(process.env.PGF_BENCH_ROUNDS ?? 3);
  const tools = await pgTools();
  const { exec, bin } = tools;
  const raw: number[] = [];
  const copyOnly: number[] = [];
  const full: number[] = [];
  let leader: TestCluster | undefined;
  try {
    const root = await makeTempDir('pgf-bench-bootstrap-');
    // PostgreSQL's default wal_keep_size (0, not the tests' 128MB) and room for pgbench -i in one go.
    leader = await createLeader({ settings: { max_wal_size: '2GB', wal_keep_size: 0 } });
    const { conninfo } = leader;
    console.log(`leader: pgbench -i -s ${scale} ...`);
    await pgbench(leader, ['-i', '-q', '-s', String(scale)]);
    const size = await withClient(
      conninfo,
      {},
      async (c) =>
        (
          await c.query<{ s: string }>(
            'SELECT pg_size_pretty(sum(pg_database_size(oid))) AS s FROM pg_database',
          )
        ).rows[0]?.s,
    );
    console.log(`leader size: ${size}; ${rounds} rounds each, alternating`);

    for (let i = 0; i < rounds; i++) {
      const rawDir = join(root, `raw-${i}`);
      let t = performance.now();
      await exec.run(bin.path('pg_basebackup'), ['-D', rawDir, '-d', conninfo, '-X', 'stream', '-c', 'fast']);
      raw.push((performance.now() - t) / 1000);
      await rm(rawDir, { recursive: true, force: true });

      for (const mode of ['copy', 'full'] as const) {
        const nodeDir = join(root, `node-${mode}-${i}`);
        const nodePort = await getPort();
        const config = join(root, `pgf-${mode}-${i}.yaml`);
        await writeFile(
          config,
          stringify({
            node: { name: `bench_${mode}_${i}`, dataDirectory: nodeDir, port: nodePort, host: root },
            leader: { conninfo },
            log: { level: 'warn' },
          }),
          { mode: 0o600 },
        );
        t = performance.now();
        const args = [bin_js, '--config', config, 'bootstrap', '--yes'];
        if (mode === 'copy') args.push('--no-start');
        const result = await execa(process.execPath, args, { reject: false, all: true });
        const seconds = (performance.now() - t) / 1000;
        if (result.exitCode !== 0) throw new Error(`bootstrap failed:\n${result.all}`);
        (mode === 'copy' ? copyOnly : full).push(seconds);
        if (mode === 'full') await stopServer(tools, nodeDir, { mode: 'immediate' });
        await withClient(conninfo, {}, (c) =>
          c.query('SELECT pg_drop_replication_slot($1)', [`bench_${mode}_${i}`]),
        );
        await rm(nodeDir, { recursive: true, force: true });
      }
      console.log(
        `round ${i + 1}: raw pg_basebackup ${raw[i]?.toFixed(2)} s, pgfollower bootstrap --no-start ${copyOnly[i]?.toFixed(2)} s, bootstrap to streaming ${full[i]?.toFixed(2)} s`,
      );
    }
    const r = median(raw);
    const c = median(copyOnly);
    const f = median(full);
    console.log('\nmedian seconds | ratio to raw pg_basebackup');
    console.log(`raw pg_basebackup -X stream -c fast   ${r.toFixed(2)} | 1.00`);
    console.log(`pgfollower bootstrap --no-start       ${c.toFixed(2)} | ${(c / r).toFixed(3)}`);
    console.log(`pgfollower bootstrap (to streaming)   ${f.toFixed(2)} | ${(f / r).toFixed(3)}`);
  } finally {
    await leader?.stop('immediate').catch(() => undefined);
    await cleanupTempDirs();
  }
}
