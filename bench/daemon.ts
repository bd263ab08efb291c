/**
 * Daemon footprint and detection time, with the built `pgfollower run` (dist/) on real clusters.
 *
 * 1. Footprint at a 1 s interval over BENCH_DAEMON_SECONDS (default 60; the figure is 300),
 *    two daemons side by side on the same streaming follower: one with an fs archive, one with an S3
 *    archive (s3rver in its own process, lz4), as `run` loads them (alerts, archive, HTTP API on).
 *    RSS (max, end, and a coarse curve) and CPU of each daemon process from /proc, and the
 *    statements each sends to the leader per second (its pgfollower_leader_queries_total counter).
 *    Baseline in the same run: an idle `node` process (a timer every second) measured the same way.
 *    Targets (issue 10): RSS <= 60 MB with fs, <= 75 MB with S3; CPU < 0.5 % of a core.
 * 2. Detection, with the fs daemon: time from `pg_ctl stop` of the leader to `/status` saying
 *    `disconnected`, and from the follower's stop to `stopped`, in ms and in intervals (<= 2).
 * BENCH_DAEMON_NODE_ARGS adds Node.js flags to both daemons (e.g. `--cpu-prof`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { shippedProgram } from '../src/exec/self.js';
import { S3RVER_ENV, startS3rverProcess, type S3rverProcess } from './s3rver-process.js';
import {
  cleanupTempDirs,
  cloneFollower,
  createLeader,
  makeTempDir,
  pgTools,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { waitFor } from '../test/helpers/wait.js';

const SECONDS = Number(process.env.BENCH_DAEMON_SECONDS ?? 60);
const INTERVAL_MS = 1000;
const CLK_TCK = 100;
const PAGE = 4096;

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function procStats(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuSeconds: (utime + stime) / CLK_TCK, rssBytes: rssPages * PAGE };
}

async function statusState(port: number): Promise<string | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(500) });
    return ((await r.json()) as { state?: string }).state;
  } catch {
    return undefined;
  }
}

/** Milliseconds until /status says `state` (polled every 20 ms: the figure's resolution). */
async function timeUntilState(port: number, state: string, timeoutMs = 60_000): Promise<number> {
  const start = performance.now();
  await waitFor(`/status to say ${state}`, async () => (await statusState(port)) === state, {
    timeoutMs,
    intervalMs: 20,
  });
  return performance.now() - start;
}

interface Daemon {
  kind: string;
  child: ChildProcess;
  httpPort: number;
  /** RSS sampled every second. */
  curve: number[];
}

const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;

export async function run(): Promise<void> {
  const runAs = (await pgTools()).exec.runAs;
  const daemons: Daemon[] = [];
  let idle: ChildProcess | undefined;
  let s3: S3rverProcess | undefined;
  let leader: TestCluster | undefined;
  let follower: TestCluster | undefined;
  try {
    const root = await makeTempDir('pgf-bench-daemon-');
    // PostgreSQL's default wal_keep_size (0, not the tests' 128MB): the follower has a slot.
    leader = await createLeader({ settings: { wal_keep_size: 0 } });
    follower = await cloneFollower(leader, { slot: 'bench_follower' });
    const leaderConninfo = leader.conninfo;

    s3 = await startS3rverProcess(join(root, 's3'));
    const fsArchive = join(root, 'archive');
    await mkdir(fsArchive);
    if (runAs) await chown(fsArchive, runAs.uid, runAs.gid);
    const archives = {
      fs: { type: 'fs', fs: { path: fsArchive } },
      s3: {
        type: 's3',
        s3: { bucket: 'wal', prefix: 'bench/', endpoint: s3.endpoint, forcePathStyle: true },
      },
    };
    const bin = shippedProgram();
    // Extra node flags for the daemons, e.g. BENCH_DAEMON_NODE_ARGS="--cpu-prof" to see where CPU goes.
    const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
    for (const [kind, archive] of Object.entries(archives)) {
      const configFile = join(root, `pgfollower-${kind}.yaml`);
      const httpPort = await freePort();
      writeFileSync(
        configFile,
        stringify({
          node: {
            name: 'bench_follower',
            port: follower.port,
            host: follower.socketDirectory,
            user: 'postgres',
          },
          leader: { conninfo: leaderConninfo },
          slot: { name: 'bench_follower' },
          monitor: { intervalMs: INTERVAL_MS },
          http: { listen: `127.0.0.1:${httpPort}` },
          log: { level: 'warn', format: 'json' },
          archive,
        }),
        { mode: 0o600 },
      );
      const child = spawn(process.execPath, [...nodeArgs, bin, '--config', configFile, 'run'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        cwd: process.env.BENCH_DAEMON_CWD ?? root,
        env: { ...process.env, ...S3RVER_ENV },
      });
      daemons.push({ kind, child, httpPort, curve: [] });
    }
    idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const startedAt = performance.now();
    for (const d of daemons) {
      await waitFor(
        `the ${d.kind} daemon to report streaming`,
        async () => (await statusState(d.httpPort)) === 'streaming',
        { timeoutMs: Math.max(0, 60_000 - (performance.now() - startedAt)), intervalMs: 100 },
      );
    }
    const readyMs = performance.now() - startedAt;
    await sleep(5000); // warm-up: JIT, first GC

    const leaderQueries = async (port: number): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/^pgfollower_leader_queries_total (\d+)/m.exec(text)?.[1] ?? NaN);
    };
    const before = await Promise.all(
      daemons.map(async (d) => ({ q: await leaderQueries(d.httpPort), p: procStats(d.child.pid ?? 0) })),
    );
    const i0 = procStats(idle.pid ?? 0);
    const t0 = performance.now();
    const rssMax = daemons.map((d) => procStats(d.child.pid ?? 0).rssBytes);
    while (performance.now() - t0 < SECONDS * 1000) {
      await sleep(1000);
      daemons.forEach((d, i) => {
        const rss = procStats(d.child.pid ?? 0).rssBytes;
        rssMax[i] = Math.max(rssMax[i] as number, rss);
        d.curve.push(rss);
      });
    }
    const elapsed = (performance.now() - t0) / 1000;
    const i1 = procStats(idle.pid ?? 0);
    const idleCpuPct = ((i1.cpuSeconds - i0.cpuSeconds) / elapsed) * 100;

    console.log(
      `machine: ${cpus().length} cores, node ${process.version}, load average ${loadavg()[0]?.toFixed(1)}`,
    );
    console.log(
      `footprint of pgfollower run at ${INTERVAL_MS} ms interval over ${elapsed.toFixed(0)} s (both daemons served their first snapshot ${readyMs.toFixed(0)} ms after spawn); baseline idle node: RSS ${mb(i1.rssBytes)}, CPU ${idleCpuPct.toFixed(2)}%`,
    );
    for (const [i, d] of daemons.entries()) {
      const p1 = procStats(d.child.pid ?? 0);
      const q1 = await leaderQueries(d.httpPort);
      const b = before[i] as { q: number; p: { cpuSeconds: number } };
      const cpuPct = ((p1.cpuSeconds - b.p.cpuSeconds) / elapsed) * 100;
      const target = d.kind === 'fs' ? 60 : 75;
      // A coarse curve: the RSS at each tenth of the run.
      const curve = Array.from(
        { length: 10 },
        (_, k) => d.curve[Math.floor(((k + 1) * d.curve.length) / 10) - 1],
      )
        .filter((v): v is number => v !== undefined)
        .map((v) => (v / 1048576).toFixed(1))
        .join(' ');
      console.log(`  ${d.kind} archive:`);
      console.log(
        `    RSS: end ${mb(p1.rssBytes)}, max ${mb(rssMax[i] as number)} (target <= ${target} MB), ${(p1.rssBytes / i1.rssBytes).toFixed(2)}x idle node; each tenth of the run (MB): ${curve}`,
      );
      console.log(`    CPU: ${cpuPct.toFixed(2)}% of one core (target < 0.5%)`);
      console.log(
        `    statements to the leader: ${((q1 - b.q) / elapsed).toFixed(2)}/s (${q1 - b.q} in ${elapsed.toFixed(0)} s, counted by the daemon)`,
      );
    }
    const httpPort = (daemons[0] as Daemon).httpPort;

    // Detection times.
    await leader.stop('fast');
    const disconnectedMs = await timeUntilState(httpPort, 'disconnected');
    console.log(
      `  leader stop -> disconnected reported: ${disconnectedMs.toFixed(0)} ms = ${(disconnectedMs / INTERVAL_MS).toFixed(2)} intervals (target <= 2)`,
    );
    await leader.start();
    const backMs = await timeUntilState(httpPort, 'streaming');
    console.log(
      `  leader start -> streaming reported: ${backMs.toFixed(0)} ms (reconnect backoff bounds it)`,
    );
    await follower.stop('fast');
    const stoppedMs = await timeUntilState(httpPort, 'stopped');
    console.log(
      `  follower stop -> stopped reported: ${stoppedMs.toFixed(0)} ms = ${(stoppedMs / INTERVAL_MS).toFixed(2)} intervals (target <= 2)`,
    );
  } finally {
    for (const d of daemons) d.child.kill('SIGTERM');
    s3?.stop();
    idle?.kill('SIGTERM');
    await follower?.stop('immediate').catch(() => undefined);
    await leader?.stop('immediate').catch(() => undefined);
    await sleep(500);
    await cleanupTempDirs();
  }
}
