/**
 * Failover timings on real clusters, side by side with their baselines in the same run.
 *
 * 1. promote: time from starting `pgfollower promote --yes` (the built binary, as an operator runs
 *    it, node start-up included) to the first write a separate client gets committed on the node.
 *    Baseline: a client calling `SELECT pg_promote()` itself (no checks at all). Target <= 3 s.
 * 2. rebuild of an old leader that wrote a few MB after the promotion: `rebuild` (pg_rewind) versus
 *    `rebuild --clone` (pg_basebackup), on two identical copies of the old leader's directory.
 *    Target: rewind >= 5x faster. BENCH_FAILOVER_SCALE sets the pgbench scale (default 10, about
 *    160 MB; 70 is about 1 GB); BENCH_FAILOVER_RUNS the promote repetitions (default 3);
 *    BENCH_FAILOVER_DIVERGE_TX the pgbench transactions the old leader runs after the promotion
 *    (default 300, a few MB of WAL); BENCH_FAILOVER_PARTS=promote,rebuild to run only some.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import getPort from 'get-port';
import { main } from '../src/cli/main.js';
import { createMemoryOutput } from '../src/cli/output.js';
import { connect, sqlState, withClient } from '../src/postgres/client.js';
import {
  clusterHandle,
  cleanupTempDirs,
  cloneFollower,
  createLeader,
  makeTempDir,
  pgTools,
  pgbench,
  writeConfigFile,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { waitFor } from '../test/helpers/wait.js';
import { parseLsn } from '../src/postgres/lsn.js';
import { stopServer } from '../src/postgres/cluster.js';
import { shippedProgram } from '../src/exec/self.js';

/** What ships: the program package.json `bin` names (the bundle). */
const binJs = shippedProgram();
const SCALE = Number(process.env.BENCH_FAILOVER_SCALE ?? 10);
const RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 3);
/** pgbench transactions the old leader runs after the promotion: the divergence to undo. */
const DIVERGE_TX = Number(process.env.BENCH_FAILOVER_DIVERGE_TX ?? 300);

async function configFor(node: TestCluster, name: string, leader: TestCluster): Promise<string> {
  const dir = await makeTempDir('pgf-bench-conf-');
  return writeConfigFile(dir, {
    node: {
      name,
      dataDirectory: node.dataDirectory,
      port: node.port,
      host: node.socketDirectory,
      user: 'postgres',
    },
    leader: { conninfo: leader.conninfo, connectTimeoutMs: 2000 },
    log: { level: 'warn' },
    http: { enabled: false, listen: `127.0.0.1:${await getPort()}` },
  });
}

/** Polls writes on `node` from its own connection; resolves with the time of the first commit. */
async function firstWrite(node: TestCluster, signal: AbortSignal): Promise<number> {
  const client = await connect(node.conninfo, { connectTimeoutMs: 5000 });
  try {
    for (;;) {
      if (signal.aborted) throw new Error('aborted');
      try {
        await client.query('SELECT pg_current_xact_id()');
        return performance.now();
      } catch (error) {
        if (sqlState(error) !== '25006') throw error;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function promoteOnce(kind: 'pgfollower' | 'baseline'): Promise<number> {
  const leader = await createLeader();
  const follower = await cloneFollower(leader);
  try {
    await leader.query('create table t(id int)');
    await waitFor(
      'follower has the table',
      async () => (await follower.query("select 1 from pg_class where relname = 't'")).length === 1,
    );
    await leader.stop();
    const config = await configFor(follower, 'bench_node', leader);
    const abort = new AbortController();
    const start = performance.now();
    const writer = firstWrite(follower, abort.signal);
    if (kind === 'pgfollower') {
      const result = await execa(process.execPath, [binJs, '--config', config, 'promote', '--yes'], {
        reject: false,
      });
      if (result.exitCode !== 0) {
        abort.abort();
        throw new Error(`promote failed (${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
      }
    } else {
      await withClient(follower.conninfo, {}, (c) => c.query('SELECT pg_promote(true, 60)'));
    }
    const at = await writer;
    return at - start;
  } finally {
    await follower.stop().catch(() => undefined);
    await leader.stop().catch(() => undefined);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function benchPromote(): Promise<void> {
  const ours: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(await promoteOnce('pgfollower'));
    base.push(await promoteOnce('baseline'));
  }
  console.log('promote -> first committed write (ms), idle node, no peers, no archive');
  console.log(
    `  pgfollower promote --yes (binary):  ${ours.map((v) => v.toFixed(0)).join(', ')}  median ${median(ours).toFixed(0)}`,
  );
  console.log(
    `  baseline SELECT pg_promote():       ${base.map((v) => v.toFixed(0)).join(', ')}  median ${median(base).toFixed(0)}`,
  );
  console.log(
    `  ratio pgfollower/baseline: ${(median(ours) / median(base)).toFixed(2)}x; target <= 3000 ms: ${median(ours) <= 3000 ? 'met' : 'NOT met'}`,
  );
}

async function benchRebuild(): Promise<void> {
  const tools = await pgTools();
  const leader = await createLeader({ settings: { wal_log_hints: 'on', max_wal_size: '1GB' } });
  console.log(`\nrebuild: pgbench -i -s ${SCALE} on the leader`);
  await pgbench(leader, ['-i', '-s', String(SCALE), '-q']);
  const [size] = await leader.query<{ b: string }>('select pg_database_size(current_database()) as b');
  const a = await cloneFollower(leader, { slot: 'node_a' });
  const nodes: TestCluster[] = [leader, a];
  try {
    await leader.stop();
    await withClient(a.conninfo, {}, async (c) => {
      await c.query('SELECT pg_promote(true, 60)');
      await c.query('CHECKPOINT');
    });
    // The old leader comes back and writes a few MB that the new leader never sees.
    await leader.start();
    const [before] = await leader.query<{ l: string }>('select pg_current_wal_lsn()::text as l');
    await pgbench(leader, ['-N', '-t', String(DIVERGE_TX)]);
    const [after] = await leader.query<{ l: string }>('select pg_current_wal_lsn()::text as l');
    const divergence = parseLsn(after?.l ?? '0/0') - parseLsn(before?.l ?? '0/0');
    await leader.stop();
    // Two identical copies of the diverged old leader: one is rewound, the other cloned.
    const copyRoot = await makeTempDir('pgf-bench-copy-');
    const copyDir = join(copyRoot, 'data');
    await tools.exec.run('cp', ['-a', leader.dataDirectory, copyDir]);
    const copy = clusterHandle('copy', copyRoot, copyDir, await getPort(), tools);
    nodes.push(copy);

    const timeRebuild = async (node: TestCluster, name: string, clone: boolean): Promise<number> => {
      const config = await configFor(node, name, a);
      // Start both from a clean page cache state: the setup (pgbench -i, cp -a) leaves a gigabyte of
      // dirty pages whose writeback would otherwise be charged to whichever rebuild runs first.
      await tools.exec.run('sync', []);
      const output = createMemoryOutput();
      const started = performance.now();
      const code = await main(
        ['--config', config, 'rebuild', '--leader', a.conninfo, '--yes', ...(clone ? ['--clone'] : [])],
        { output },
      );
      const ms = performance.now() - started;
      if (code !== 0)
        throw new Error(`rebuild ${clone ? '--clone' : ''} failed (${code}):\n${output.text()}`);
      if (!output.text().includes(clone ? 'rebuilt by clone' : 'rebuilt by pg_rewind'))
        throw new Error(output.text());
      await stopServer(tools, node.dataDirectory, { mode: 'fast' });
      return ms;
    };
    const rewindMs = await timeRebuild(leader, 'old_a', false);
    const cloneMs = await timeRebuild(copy, 'old_b', true);
    console.log(
      `database ${(Number(size?.b ?? 0) / 1048576).toFixed(0)} MB, divergence ${(Number(divergence) / 1048576).toFixed(1)} MB of WAL on the old leader`,
    );
    console.log(`  rebuild (pg_rewind), to streaming:        ${(rewindMs / 1000).toFixed(2)} s`);
    console.log(`  rebuild --clone (pg_basebackup), streaming: ${(cloneMs / 1000).toFixed(2)} s`);
    console.log(
      `  ratio clone/rewind: ${(cloneMs / rewindMs).toFixed(1)}x; target >= 5x: ${cloneMs / rewindMs >= 5 ? 'met' : 'NOT met'}`,
    );
  } finally {
    for (const n of nodes)
      await stopServer(tools, n.dataDirectory, { mode: 'immediate' }).catch(() => undefined);
  }
}

export async function run(): Promise<void> {
  const parts = (process.env.BENCH_FAILOVER_PARTS ?? 'promote,rebuild').split(',');
  try {
    if (parts.includes('promote')) await benchPromote();
    if (parts.includes('rebuild')) await benchRebuild();
  } finally {
    await cleanupTempDirs();
  }
}
