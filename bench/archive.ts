/**
 * `npm run bench archive`: archive-only catch-up of a follower, side by side in one run.
 *
 * A leader archives a pgbench backlog (>= 90 segments: BENCH_ARCHIVE_SCALE, default 120) with
 * `cp` into a plain directory; the same segments are then pushed into a pgfollower fs archive and a
 * pgfollower S3 archive (s3rver on loopback) with the real `wal-push` CLI (segments/s), and into a
 * pgBackRest repo when `pgbackrest` is installed. A follower restored from one base backup then
 * replays the whole backlog from each archive with no streaming; we time from start until replay
 * reaches the end of the backlog. Printed: seconds and ratio against `cp` (the floor), plus the
 * per-call latency of restore_command for a prefetched segment (shell fast path) and for a miss
 * (Node fallback).
 *
 * Knobs for iterating (the published figures use the defaults):
 * - BENCH_ARCHIVE_ONLY=fs-lz4,s3-lz4,...: only these rows besides `cp` (fs-lz4, fs-none, s3-lz4,
 *   s3-none, pgbackrest, no-prefetch, latency: the per-call restore_command figures);
 * - BENCH_ARCHIVE_PUSH=inprocess: fill the archives in-process instead of timing the `wal-push` CLI;
 * - BENCH_ARCHIVE_ROUNDS=n: run every row n times, interleaved, and report the median;
 * - BENCH_ARCHIVE_PREFETCH=n, BENCH_ARCHIVE_CONCURRENCY=n: other archive.prefetch and
 *   archive.prefetchConcurrency ceilings than the defaults;
 * - BENCH_ARCHIVE_CPU_PROF=dir: a V8 CPU profile of this process (where the prefetcher runs) per
 *   catch-up, written to dir/<method>.cpuprofile.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { chown, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { openArchiveStore } from '../src/archive/store/open-store.js';
import { startPrefetcher } from '../src/archive/follower/prefetch.js';
import { pushWal } from '../src/archive/leader/push.js';
import { restoreCommandFor } from '../src/archive/follower/restore-command.js';
import { loadConfig } from '../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../src/context.js';
import { createSilentLogger } from '../src/logging/logger.js';
import { S3RVER_ENV, startS3rverProcess } from './s3rver-process.js';
import { connect } from '../src/postgres/client.js';
import { startServer, stopServer } from '../src/postgres/cluster.js';
import { waitArchived } from '../test/helpers/archive.js';
import {
  cleanupTempDirs,
  createLeader,
  makeTempDir,
  pgTools,
  pgbench,
  waitForReplay,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { shippedProgram } from '../src/exec/self.js';
import { editAutoConf } from '../src/postgres/standby-config.js';

/** What ships: the program package.json `bin` names (the bundle). */
const cli = shippedProgram();
/** Where node_modules is (dist/bench -> repo root). */
const node = process.execPath;

interface Row {
  method: string;
  seconds: number;
  note?: string;
}

export async function run(): Promise<void> {
  const scale = Number(process.env.BENCH_ARCHIVE_SCALE ?? 120);
  const tools = await pgTools();
  const { exec, bin } = tools;
  const runAs = exec.runAs;
  const root = await makeTempDir('pgf-bench-archive-');
  const own = async (p: string): Promise<void> => {
    if (runAs) await chown(p, runAs.uid, runAs.gid);
  };
  const dirs = {
    raw: join(root, 'raw'),
    fs: join(root, 'fs'),
    pgbr: join(root, 'pgbackrest'),
    s3: join(root, 's3'),
  };
  for (const d of Object.values(dirs)) {
    await mkdir(d, { recursive: true });
    await own(d);
  }
  for (const [k, v] of Object.entries(S3RVER_ENV)) process.env[k] = v;
  const s3 = await startS3rverProcess(dirs.s3);
  let leader: TestCluster | undefined;
  const psql = (port: number) =>
    connect(`host=127.0.0.1 port=${port} user=postgres dbname=postgres`, { connectTimeoutMs: 10_000 });
  const rows: Row[] = [];
  const only = process.env.BENCH_ARCHIVE_ONLY?.split(',').map((k) => k.trim());
  /** Whether a row (fs-lz4, fs-none, s3-lz4, s3-none, pgbackrest, no-prefetch) is to be run. */
  const want = (key: string): boolean => !only || only.includes(key);
  const rounds = Math.max(1, Number(process.env.BENCH_ARCHIVE_ROUNDS ?? 1));
  const profileDir = process.env.BENCH_ARCHIVE_CPU_PROF;
  try {
    console.log(`setting up: leader, base backup, pgbench -i -s ${scale} (this takes a while)`);
    leader = await createLeader({
      settings: {
        archive_mode: 'on',
        archive_command: `cp %p ${dirs.raw}/%f`,
        max_wal_size: '256MB',
        wal_keep_size: 0,
      },
    });
    const base = join(root, 'base');
    await exec.run(bin.path('pg_basebackup'), [
      '-D',
      base,
      '-d',
      leader.conninfo,
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
    await pgbench(leader, ['-i', '-q', '-s', String(scale)]);
    await leader.query('select pg_switch_wal()');
    const [end] = await leader.query<{ lsn: string; n: string }>(
      // pg_walfile_name of a segment boundary names the segment that ends there: the last one to archive.
      'select pg_current_wal_lsn()::text as lsn, pg_walfile_name(pg_current_wal_lsn()) as n',
    );
    const target = end?.lsn ?? '0/0';
    // A generous deadline: cp archives the whole pgbench backlog (about 2 GB at the default scale).
    await waitArchived(leader, end?.n ?? '', 1_800_000, 500);
    const segments = (await readdir(dirs.raw)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    console.log(
      `backlog: ${segments.length} segments (${((segments.length * 16) / 1024).toFixed(2)} GB) up to ${target}`,
    );

    // Push into the pgfollower archives with the real CLI, one process per segment as archive_command does.
    // BENCH_ARCHIVE_PREFETCH=n / BENCH_ARCHIVE_CONCURRENCY=n: other ceilings than the defaults.
    const prefetchKnobs = {
      ...(process.env.BENCH_ARCHIVE_PREFETCH ? { prefetch: Number(process.env.BENCH_ARCHIVE_PREFETCH) } : {}),
      ...(process.env.BENCH_ARCHIVE_CONCURRENCY
        ? { prefetchConcurrency: Number(process.env.BENCH_ARCHIVE_CONCURRENCY) }
        : {}),
    };
    const fsTree = {
      node: { dataDirectory: '/nonexistent' },
      archive: { type: 'fs', fs: { path: dirs.fs }, compression: 'lz4', ...prefetchKnobs },
      log: { level: 'warn' },
    };
    const s3Tree = {
      node: { dataDirectory: '/nonexistent' },
      archive: {
        type: 's3',
        s3: {
          bucket: 'wal',
          prefix: 'bench/',
          endpoint: s3.endpoint,
          forcePathStyle: true,
          checksums: 'when-required',
        },
        compression: 'lz4',
        ...prefetchKnobs,
      },
      log: { level: 'warn' },
    };
    const configs: Record<string, string> = {};
    for (const [name, tree] of Object.entries({ fs: fsTree, s3: s3Tree })) {
      const file = join(root, `pgfollower-${name}.json`);
      await writeFile(file, JSON.stringify(tree));
      await own(file);
      configs[name] = file;
    }
    const ctxFor = (tree: Record<string, unknown>, dataDirectory: string): Context => ({
      config: loadConfig({ overrides: { ...tree, node: { dataDirectory } }, env: {} }),
      logger: createSilentLogger(),
      exec,
      bin,
      clock: systemClock,
      signal: new AbortController().signal,
      reporter: silentReporter,
    });

    const inProcessPush = process.env.BENCH_ARCHIVE_PUSH === 'inprocess';
    for (const kind of ['fs', 's3'] as const) {
      const started = performance.now();
      if (inProcessPush) {
        const ctx = ctxFor(kind === 'fs' ? fsTree : s3Tree, '/nonexistent');
        const store = openArchiveStore(ctx.config);
        for (const seg of segments) await pushWal(ctx, store, join(dirs.raw, seg));
        store.close();
        if (kind === 'fs' && runAs) await chownTree(dirs.fs, runAs.uid, runAs.gid);
        continue;
      }
      for (const seg of segments) {
        await exec.run(node, [cli, '--config', configs[kind] as string, 'wal-push', join(dirs.raw, seg)], {
          env: S3RVER_ENV,
        });
      }
      const secs = (performance.now() - started) / 1000;
      console.log(
        `wal-push ${kind}: ${segments.length} segments in ${secs.toFixed(1)} s = ${(segments.length / secs).toFixed(1)} segments/s (${((secs / segments.length) * 1000).toFixed(0)} ms per call, lz4)`,
      );
    }
    const pgbackrest = existsSync('/usr/bin/pgbackrest') && want('pgbackrest');
    const pgbrConf = join(root, 'pgbackrest.conf');
    if (pgbackrest) {
      await writeFile(
        pgbrConf,
        [
          '[global]',
          `repo1-path=${dirs.pgbr}`,
          `spool-path=${join(root, 'pgbr-spool')}`,
          `lock-path=${join(root, 'pgbr-lock')}`,
          `log-path=${join(root, 'pgbr-log')}`,
          'log-level-console=warn',
          'compress-type=lz4',
          'archive-async=y',
          'process-max=2',
          'start-fast=y',
          '[bench]',
          `pg1-path=${leader.dataDirectory}`,
          `pg1-port=${leader.port}`,
          `pg1-socket-path=${leader.socketDirectory}`,
          '',
        ].join('\n'),
      );
      await own(pgbrConf);
      await exec.run('pgbackrest', [`--config=${pgbrConf}`, '--stanza=bench', 'stanza-create']);
      const started = performance.now();
      for (const seg of segments) {
        await exec.run('pgbackrest', [
          `--config=${pgbrConf}`,
          '--stanza=bench',
          '--no-archive-async',
          'archive-push',
          join(dirs.raw, seg),
        ]);
      }
      const secs = (performance.now() - started) / 1000;
      console.log(`pgbackrest archive-push (sync): ${(segments.length / secs).toFixed(1)} segments/s`);
    }
    await leader.stop('fast');

    /** Restores the base backup, sets restore_command, times replay to `target` with no streaming. */
    const catchUp = async (
      method: string,
      restore: (dataDirectory: string) => string | Promise<string>,
      prefetchTree?: Record<string, unknown>,
    ): Promise<number> => {
      const slug = method.replace(/\W+/g, '-');
      const data = join(root, `follower-${slug}`);
      await exec.run('cp', ['-a', base, data]);
      const port = await getPort();
      await editAutoConf(
        data,
        { restore_command: await restore(data), port, unix_socket_directories: root, primary_conninfo: null },
        runAs,
      );
      await writeFile(join(data, 'standby.signal'), '');
      await own(join(data, 'standby.signal'));
      let prefetcher: Awaited<ReturnType<typeof startPrefetcher>> | undefined;
      let store: ReturnType<typeof openArchiveStore> | undefined;
      if (prefetchTree) {
        const ctx = ctxFor(prefetchTree, data);
        store = openArchiveStore(ctx.config);
        prefetcher = await startPrefetcher(ctx, {
          store,
          spoolDir: join(data, 'pg_wal', '.pgfollower-spool'),
          depth: ctx.config.archive.prefetch,
          concurrency: ctx.config.archive.prefetchConcurrency,
          dataDirectory: data,
        });
      }
      const session = profileDir ? new Session() : undefined;
      if (session) {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
      }
      // How long the prefetcher's event loop (the daemon's, in production) is blocked at a time.
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      const cpuBefore = process.cpuUsage();
      const s3Before = processTicks(s3.pid);
      const started = performance.now();
      await startServer(tools, data, { logFile: join(root, `${slug}.log`), timeoutS: 600 });
      const client = await psql(port);
      // Polled every 20 ms (the timing's resolution) over one connection, not one per poll.
      await waitForReplay(
        {
          query: async <T extends Record<string, unknown>>(sql: string, params?: unknown[]) =>
            (await client.query<T>(sql, params)).rows,
        },
        target,
        `${method}: replay to reach ${target} (server logs in ${root})`,
        900_000,
        20,
      );
      const secs = (performance.now() - started) / 1000;
      // Where the time went: the startup process's own CPU (replay) and its children's
      // (restore_command: sh, mv, sleep, the Node fallback), this process (prefetcher), s3rver.
      const startup = await startupProcessTicks(data);
      const cpu = process.cpuUsage(cpuBefore);
      loopDelay.disable();
      const s3Ticks = processTicks(s3.pid) - s3Before;
      if (session) {
        const { profile } = await session.post('Profiler.stop');
        await mkdir(profileDir as string, { recursive: true });
        await writeFile(join(profileDir as string, `${slug}.cpuprofile`), JSON.stringify(profile));
        session.disconnect();
      }
      const stats = prefetcher?.stats();
      await client.end();
      await stopServer(tools, data, { mode: 'immediate' });
      await prefetcher?.stop();
      store?.close();
      await rm(data, { recursive: true, force: true });
      const detail = [
        `replay CPU ${(startup.own / TICKS).toFixed(2)} s`,
        `restore_command CPU ${(startup.children / TICKS).toFixed(2)} s`,
        `bench+prefetcher CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
        `event loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
        ...(method.includes('s3') ? [`s3rver CPU ${(s3Ticks / TICKS).toFixed(2)} s`] : []),
        ...(stats
          ? [
              `spool: fetched ${stats.fetched}, consumed ${stats.consumed}`,
              `window ${stats.window} (${stats.concurrency} at once) for ${stats.replayRate} segments/s, p90 fetch ${stats.fetchLatencyMs} ms`,
            ]
          : []),
        `load ${loadavg()[0]?.toFixed(1)}`,
      ];
      console.log(`  ${method}: ${secs.toFixed(2)} s (${detail.join('; ')})`);
      return secs;
    };

    console.log('catch-up from the archive (no streaming):');
    const fsConfig = loadConfig({
      overrides: { ...fsTree, archive: { ...fsTree.archive, command: `'${node}' '${cli}'` } },
      env: {},
    });
    const s3Command = `${Object.entries(S3RVER_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} '${node}' '${cli}'`;
    const s3Config = loadConfig({
      overrides: { ...s3Tree, archive: { ...s3Tree.archive, command: s3Command } },
      env: {},
    });
    // Each follower gets its own config file: the fallback wal-fetch must see the same spool
    // (under its data directory) as the prefetcher, to tell it where replay is.
    const withData = async (config: typeof fsConfig, data: string, file: string): Promise<string> => {
      const tree = JSON.parse(await readFile(file, 'utf8')) as { node: Record<string, unknown> };
      const ownFile = `${data}.pgfollower.json`;
      await writeFile(ownFile, JSON.stringify({ ...tree, node: { ...tree.node, dataDirectory: data } }));
      await own(ownFile);
      return (
        restoreCommandFor(
          { ...config, node: { ...config.node, dataDirectory: data } },
          { configFile: ownFile },
        ) ?? ''
      );
    };
    // The codec choice: the same archives without compression (pushed in-process: only the
    // catch-up is compared here).
    const fsNoneTree = {
      ...fsTree,
      archive: { ...fsTree.archive, fs: { path: join(root, 'fs-none') }, compression: 'none' },
    };
    const fsNoneFile = join(root, 'pgfollower-fs-none.json');
    const s3NoneTree = {
      ...s3Tree,
      archive: {
        ...s3Tree.archive,
        s3: { ...s3Tree.archive.s3, prefix: 'bench-none/' },
        compression: 'none',
      },
    };
    const s3NoneFile = join(root, 'pgfollower-s3-none.json');
    for (const [key, tree, file] of [
      ['fs-none', fsNoneTree, fsNoneFile],
      ['s3-none', s3NoneTree, s3NoneFile],
    ] as const) {
      if (!want(key)) continue;
      await writeFile(file, JSON.stringify(tree));
      await own(file);
      const ctx = ctxFor(tree, '/nonexistent');
      const store = openArchiveStore(ctx.config);
      for (const seg of segments) await pushWal(ctx, store, join(dirs.raw, seg));
      store.close();
      // Pushed as root here; the fallback wal-fetch reads as the PostgreSQL OS user.
      if (key === 'fs-none' && runAs) await chownTree(join(root, 'fs-none'), runAs.uid, runAs.gid);
    }
    const fsNoneConfig = loadConfig({
      overrides: { ...fsNoneTree, archive: { ...fsNoneTree.archive, command: `'${node}' '${cli}'` } },
      env: {},
    });
    const s3NoneConfig = loadConfig({
      overrides: { ...s3NoneTree, archive: { ...s3NoneTree.archive, command: s3Command } },
      env: {},
    });
    const prefetchNote = `prefetch up to ${fsConfig.archive.prefetch}, ${fsConfig.archive.prefetchConcurrency} at once`;
    const methods: Array<{ key: string; method: string; run: () => Promise<number> }> = [
      {
        key: 'cp',
        method: 'cp from a local directory (floor)',
        run: () => catchUp('cp (floor)', () => `cp ${dirs.raw}/%f %p`),
      },
      {
        key: 'fs-lz4',
        method: `pgfollower fs (lz4, ${prefetchNote})`,
        run: () => catchUp('pgfollower fs', (d) => withData(fsConfig, d, configs.fs as string), fsTree),
      },
      {
        key: 'fs-none',
        method: `pgfollower fs (no compression, ${prefetchNote})`,
        run: () => catchUp('pgfollower fs none', (d) => withData(fsNoneConfig, d, fsNoneFile), fsNoneTree),
      },
      {
        key: 's3-lz4',
        method: `pgfollower s3 via s3rver (lz4, ${prefetchNote})`,
        run: () => catchUp('pgfollower s3', (d) => withData(s3Config, d, configs.s3 as string), s3Tree),
      },
      {
        key: 's3-none',
        method: `pgfollower s3 via s3rver (no compression, ${prefetchNote})`,
        run: () => catchUp('pgfollower s3 none', (d) => withData(s3NoneConfig, d, s3NoneFile), s3NoneTree),
      },
    ];
    if (pgbackrest) {
      methods.push({
        key: 'pgbackrest',
        method: 'pgBackRest archive-get async (lz4, process-max 2)',
        run: () =>
          catchUp(
            'pgbackrest async',
            (d) => `pgbackrest --config=${pgbrConf} --stanza=bench --pg1-path=${d} archive-get %f "%p"`,
          ),
      });
    } else if (want('pgbackrest')) {
      console.log('  pgbackrest not installed (apt-get install -y pgbackrest): skipped');
    }
    if (process.env.BENCH_ARCHIVE_NO_PREFETCH === '1' || only?.includes('no-prefetch')) {
      const noPrefetch = loadConfig({
        overrides: { ...fsTree, archive: { ...fsTree.archive, prefetch: 0, command: `'${node}' '${cli}'` } },
        env: {},
      });
      methods.push({
        key: 'no-prefetch',
        method: 'pgfollower fs, no prefetch (Node per segment)',
        run: () => catchUp('pgfollower fs no prefetch', (d) => withData(noPrefetch, d, configs.fs as string)),
      });
    }
    const chosen = methods.filter((m) => m.key === 'cp' || want(m.key));
    const times = new Map<string, number[]>(chosen.map((m) => [m.key, []]));
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) console.log(` round ${round} of ${rounds}`);
      for (const m of chosen) times.get(m.key)?.push(await m.run());
    }
    for (const m of chosen) rows.push({ method: m.method, seconds: median(times.get(m.key) ?? []) });
    const cpSecs = rows[0]?.seconds ?? Number.NaN;

    // Per-call latency of restore_command: prefetched (shell mv) vs a spool miss (Node fallback).
    if (only && !only.includes('latency')) {
      printRows(rows, cpSecs);
      return;
    }
    const latData = join(root, 'latency');
    await mkdir(join(latData, 'pg_wal', '.pgfollower-spool'), { recursive: true });
    for (const d of [latData, join(latData, 'pg_wal'), join(latData, 'pg_wal', '.pgfollower-spool')])
      await own(d);
    const latCommand = await withData(fsConfig, latData, configs.fs as string);
    const spool = join(latData, 'pg_wal', '.pgfollower-spool');
    const hit: number[] = [];
    const miss: number[] = [];
    for (const seg of segments.slice(0, 20)) {
      await exec.run('cp', [join(dirs.raw, seg), join(spool, seg)]);
      const cmd = latCommand
        .replaceAll('%f', seg)
        .replaceAll('%p', join(latData, 'pg_wal', 'RECOVERYXLOG'))
        .replaceAll('%%', '%');
      let t = performance.now();
      await exec.run('sh', ['-c', cmd]);
      hit.push(performance.now() - t);
      t = performance.now();
      await exec.run('sh', ['-c', cmd]);
      miss.push(performance.now() - t);
    }
    printRows(rows, cpSecs);
    console.log(
      `\nrestore_command per call, median of 20: prefetched (sh mv) ${median(hit).toFixed(1)} ms; spool miss (Node wal-fetch, fs, lz4) ${median(miss).toFixed(1)} ms`,
    );
    console.log(
      `backlog: ${segments.length} segments; machine: ${process.platform} ${process.arch}, node ${process.version}, PostgreSQL ${bin.major}`,
    );
  } finally {
    await leader?.stop('immediate').catch(() => undefined);
    s3.stop();
    if (process.env.BENCH_KEEP !== '1') await cleanupTempDirs();
  }
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid, gid);
    else await chown(child, uid, gid);
  }
}

function printRows(rows: Row[], cpSecs: number): void {
  console.log('\n| restore_command | seconds | vs cp |');
  console.log('| --- | --- | --- |');
  for (const row of rows)
    console.log(`| ${row.method} | ${row.seconds.toFixed(2)} | ${(row.seconds / cpSecs).toFixed(2)}x |`);
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** utime + stime of a process, in clock ticks (0 when unknown). */
function processTicks(pid: number | undefined): number {
  return pid === undefined ? 0 : (readStatTicks(pid)?.own ?? 0);
}

function readStatTicks(pid: number): { own: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14 .. cstime 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = (i: number): number => Number(fields[i - 3] ?? 0);
    return { own: n(14) + n(15), children: n(16) + n(17) };
  } catch {
    return undefined;
  }
}

/** CPU of the startup process (replay) and of its waited-for children (restore_command). */
async function startupProcessTicks(data: string): Promise<{ own: number; children: number }> {
  const postmaster = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== postmaster) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes('startup')) return readStatTicks(pid) ?? { own: 0, children: 0 };
    } catch {
      // Gone meanwhile.
    }
  }
  return { own: 0, children: 0 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid] ?? Number.NaN;
  return ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}
