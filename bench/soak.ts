/**
 * Opt-in soak (not in CI, not in `npm run bench`'s default list): pgbench against a leader for
 * --minutes (default 30) while random faults hit it: leader fast restarts, leader kill -9, and
 * cut / reset / blackhole / slow on the link between the follower (WAL receiver and supervisor)
 * and the leader. `pgfollower run` supervises the follower as its own process; its RSS and open
 * descriptors are sampled every 30 s. At the end every acknowledged ledger row must be on the
 * follower. Prints the figures docs/reliability.md quotes.
 *
 *     npm run build && node dist/bench/soak.js --minutes 30 [--seed 42]
 */
import { readFile, readdir, writeFile, chown } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { appendConf } from '../src/postgres/cluster.js';
import {
  cleanupTempDirs,
  cloneFollower,
  createLeader,
  makeTempDir,
  pgTools,
  pgbench,
  pgbenchArgs,
  waitForReplay,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { killPostmaster, seededDelays } from '../test/helpers/faults/kill.js';
import { missingRows, startRowWriter } from '../test/helpers/faults/ledger.js';
import { runFaultCleanups } from '../test/helpers/faults/registry.js';
import { startTcpProxy, type ProxyMode } from '../test/helpers/faults/tcp-proxy.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(value) ? value : fallback;
}

async function processFigures(pid: number): Promise<{ rssKb: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { rssKb, fds };
}

export async function run(): Promise<void> {
  const minutes = arg('minutes', 30);
  const seed = arg('seed', Date.now() % 100_000);
  const delay = seededDelays(seed);
  const tools = await pgTools();
  let leader: TestCluster | undefined;
  let follower: TestCluster | undefined;
  let supervisor: ChildProcess | undefined;
  let writer: Awaited<ReturnType<typeof startRowWriter>> | undefined;
  let bench: Promise<void> | undefined;
  let benchStopped = false;
  try {
    leader = await createLeader({
      settings: { synchronous_commit: 'on', wal_sender_timeout: '5s', wal_keep_size: '512MB' },
    });
    const proxy = await startTcpProxy({ port: leader.port });
    const viaProxy = `host=127.0.0.1 port=${proxy.port} user=postgres dbname=postgres connect_timeout=2`;
    follower = await cloneFollower(leader, {
      settings: { wal_receiver_timeout: '5s', wal_retrieve_retry_interval: '1s' },
      start: false,
    });
    // pg_basebackup -R wrote primary_conninfo here: stream through the proxy instead.
    await appendConf(tools, join(follower.dataDirectory, 'postgresql.auto.conf'), {
      primary_conninfo: `${viaProxy} application_name=soak`,
    });
    await follower.start();
    const dir = await makeTempDir('pgf-soak-');
    const listen = `127.0.0.1:${await getPort()}`;
    const configFile = join(dir, 'pgfollower.yaml');
    await writeFile(
      configFile,
      stringify({
        node: {
          name: 'soak',
          dataDirectory: follower.dataDirectory,
          port: follower.port,
          host: follower.socketDirectory,
          user: 'postgres',
        },
        leader: { conninfo: viaProxy, connectTimeoutMs: 2000 },
        slot: { enabled: false },
        monitor: { intervalMs: 1000 },
        http: { listen },
        log: { level: 'warn', format: 'json' },
        alerts: { enabled: false },
      }),
      { mode: 0o600 },
    );
    if (tools.exec.runAs) await chown(configFile, tools.exec.runAs.uid, tools.exec.runAs.gid);
    supervisor = spawn(process.execPath, [resolve('dist/src/cli/bin.js'), '--config', configFile, 'run'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const pid = supervisor.pid ?? -1;
    await pgbench(leader, ['-i', '-q', '-s', '5']);
    writer = await startRowWriter(leader.conninfo, 'soak_ledger', { pauseMs: 20 });

    const deadline = Date.now() + minutes * 60_000;
    const leaderPort = leader.port;
    // pgbench ends when a connection breaks: run it in short rounds until the end.
    bench = (async () => {
      while (!benchStopped && Date.now() < deadline) {
        await tools.exec.tryRun(
          tools.bin.path('pgbench'),
          pgbenchArgs(leaderPort, ['-n', '-c', '2', '-T', '20']),
        );
        await sleep(500);
      }
    })();

    const samples: Array<{ minute: number; rssKb: number; fds: number }> = [];
    const faults: Record<string, number> = {};
    const started = Date.now();
    let nextSample = Date.now() + 30_000;
    await sleep(10_000);
    samples.push({ minute: 0, ...(await processFigures(pid)) });
    while (Date.now() < deadline) {
      const kind =
        ['leader restart', 'leader kill -9', 'cut', 'reset', 'blackhole', 'slow'][delay(0, 6)] ?? 'cut';
      faults[kind] = (faults[kind] ?? 0) + 1;
      if (kind === 'leader restart') {
        await leader.stop('fast');
        await sleep(delay(1000, 10_000));
        await leader.start();
      } else if (kind === 'leader kill -9') {
        await killPostmaster(leader.dataDirectory);
        await sleep(delay(1000, 10_000));
        await leader.start();
      } else {
        await proxy.setMode(kind as ProxyMode, { delayMs: 300 });
        await sleep(delay(2000, 20_000));
        await proxy.setMode('pass');
      }
      const quiet = Date.now() + delay(10_000, 40_000);
      while (Date.now() < Math.min(quiet, deadline)) {
        if (Date.now() >= nextSample) {
          samples.push({
            minute: Math.round((Date.now() - started) / 60_000),
            ...(await processFigures(pid)),
          });
          nextSample += 30_000;
        }
        await sleep(1000);
      }
    }
    benchStopped = true;
    await bench;
    await proxy.setMode('pass');
    await writer.stop();
    // Catch up, then count. Rows the follower has not replayed yet are not lost: if it does not
    // catch up, say so and count nothing.
    const [end] = await leader.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const target = end?.lsn ?? '0/0';
    let notReplayed: string | undefined;
    try {
      await waitForReplay(
        follower,
        target,
        `the follower to replay up to the leader's last LSN ${target}`,
        300_000,
        1000,
      );
    } catch (error) {
      notReplayed = error instanceof Error ? error.message : String(error);
    }
    const lost =
      notReplayed === undefined
        ? await missingRows(follower.conninfo, 'soak_ledger', writer.acknowledged)
        : undefined;
    samples.push({ minute: Math.round((Date.now() - started) / 60_000), ...(await processFigures(pid)) });

    const first = samples[0];
    const last = samples[samples.length - 1];
    const injected = Object.values(faults).reduce((a, b) => a + b, 0);
    console.log(`soak: ${minutes} min, seed ${seed}`);
    console.log(
      `faults injected: ${injected} (${Object.entries(faults)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );
    console.log(
      lost === undefined
        ? `ledger rows acknowledged: ${writer.acknowledged.length}; NOT COUNTED, the follower did not catch up: ${notReplayed}`
        : `ledger rows acknowledged: ${writer.acknowledged.length}; lost on the follower: ${lost.length}`,
    );
    console.log('minute  rss_kb  fds');
    for (const s of samples)
      console.log(`${String(s.minute).padStart(6)}  ${String(s.rssKb).padStart(6)}  ${s.fds}`);
    if (first && last) {
      console.log(
        `supervisor RSS ${first.rssKb} -> ${last.rssKb} kB (ratio ${(last.rssKb / first.rssKb).toFixed(2)}), fds ${first.fds} -> ${last.fds}`,
      );
    }
    if (lost === undefined || lost.length > 0) process.exitCode = 1;
  } finally {
    benchStopped = true;
    await bench;
    await writer?.stop();
    const child = supervisor;
    if (child && child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await closed;
    }
    await follower?.stop('fast').catch(() => undefined);
    await runFaultCleanups();
    await leader?.stop('immediate').catch(() => undefined);
    await cleanupTempDirs();
  }
}

if (process.argv[1]?.endsWith('soak.js')) await run();
