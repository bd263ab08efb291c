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
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { openArchiveStore } from '../src/archive/store/open-store.js';
import { startPrefetcher } from '../src/archive/follower/prefetch.js';
import { pushWal } from '../src/archive/leader/push.js';
import { restoreCommandFor } from '../src/archive/follower/restore-command.js';
import { loadConfig } from '../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../src/context.js';
import { createExec, resolveRunAs } from '../src/exec/run.js';
import { createSilentLogger } from '../src/logging/logger.js';
import { S3RVER_ENV, startS3rverProcess } from './s3rver-process.js';
import { findPgBinaries } from '../src/postgres/binaries.js';
import { connect } from '../src/postgres/client.js';
import { initCluster, startServer, stopServer, type PgTools } from '../src/postgres/cluster.js';
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
  const runAs = await resolveRunAs('postgres');
  const exec = createExec(runAs);
  const bin = await findPgBinaries({});
  const tools: PgTools = { exec, bin };
  const root = await mkdtemp(join(tmpdir(), 'pgf-bench-archive-'));
  const own = async (p: string): Promise<void> => {
    if (runAs) await chown(p, runAs.uid, runAs.gid);
  };
  await own(root);
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
  const leaderPort = await getPort();
  const leaderData = join(root, 'leader');
  const psql = (port: number) =>
    connect(`host=127.0.0.1 port=${port} user=postgres dbname=postgres`, { connectTimeoutMs: 10_000 });
  const rows: Row[] = [];
  try {
    console.log(`setting up: leader, base backup, pgbench -i -s ${scale} (this takes a while)`);
    await initCluster(tools, {
      dataDirectory: leaderData,
      port: leaderPort,
      socketDirectory: root,
      settings: {
        archive_mode: 'on',
        archive_command: `cp %p ${dirs.raw}/%f`,
        max_wal_size: '256MB',
        wal_keep_size: 0,
      },
    });
    await startServer(tools, leaderData, { logFile: join(root, 'leader.log'), timeoutS: 120 });
    const base = join(root, 'base');
    await exec.run(bin.path('pg_basebackup'), [
      '-D',
      base,
      '-d',
      `host=127.0.0.1 port=${leaderPort} user=postgres`,
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
    await exec.run(bin.path('pgbench'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(leaderPort),
      '-U',
      'postgres',
      '-i',
      '-q',
      '-s',
      String(scale),
      'postgres',
    ]);
    const leader = await psql(leaderPort);
    await leader.query('select pg_switch_wal()');
    const target =
      (await leader.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]?.lsn ?? '0/0';
    // pg_walfile_name of a segment boundary names the segment that ends there: the last one to archive.
    const lastName =
      (await leader.query<{ n: string }>('select pg_walfile_name(pg_current_wal_lsn()) as n')).rows[0]?.n ??
      '';
    for (;;) {
      const last = (
        await leader.query<{ l: string | null }>('select last_archived_wal as l from pg_stat_archiver')
      ).rows[0]?.l;
      if (last && last >= lastName) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await leader.end();
    const segments = (await readdir(dirs.raw)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    console.log(
      `backlog: ${segments.length} segments (${((segments.length * 16) / 1024).toFixed(2)} GB) up to ${target}`,
    );

    // Push into the pgfollower archives with the real CLI, one process per segment as archive_command does.
    const fsTree = {
      node: { dataDirectory: '/nonexistent' },
      archive: { type: 'fs', fs: { path: dirs.fs }, compression: 'lz4' },
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
    for (const kind of ['fs', 's3'] as const) {
      const started = performance.now();
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
    const pgbackrest = existsSync('/usr/bin/pgbackrest');
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
          `pg1-path=${leaderData}`,
          `pg1-port=${leaderPort}`,
          `pg1-socket-path=${root}`,
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
    await stopServer(tools, leaderData, { mode: 'fast' });

    const ctxFor = (tree: Record<string, unknown>, dataDirectory: string): Context => ({
      config: loadConfig({ overrides: { ...tree, node: { dataDirectory } }, env: {} }),
      logger: createSilentLogger(),
      exec,
      bin,
      clock: systemClock,
      signal: new AbortController().signal,
      reporter: silentReporter,
    });

    /** Restores the base backup, sets restore_command, times replay to `target` with no streaming. */
    const catchUp = async (
      method: string,
      restore: (dataDirectory: string) => string | Promise<string>,
      prefetchTree?: Record<string, unknown>,
    ): Promise<number> => {
      const data = join(root, `follower-${method.replace(/\W+/g, '-')}`);
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
          pollMs: 20,
          dataDirectory: data,
        });
      }
      const started = performance.now();
      await startServer(tools, data, {
        logFile: join(root, `${method.replace(/\W+/g, '-')}.log`),
        timeoutS: 600,
      });
      const client = await psql(port);
      const deadline = Date.now() + 900_000;
      for (;;) {
        if (Date.now() > deadline)
          throw new Error(`${method}: replay did not reach ${target} in 15 minutes; see ${root}`);
        const ok = (
          await client.query<{ ok: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [target])
        ).rows[0]?.ok;
        if (ok) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const secs = (performance.now() - started) / 1000;
      await client.end();
      await stopServer(tools, data, { mode: 'immediate' });
      await prefetcher?.stop();
      store?.close();
      await rm(data, { recursive: true, force: true });
      console.log(`  ${method}: ${secs.toFixed(2)} s`);
      return secs;
    };

    console.log('catch-up from the archive (no streaming):');
    const cpSecs = await catchUp('cp (floor)', () => `cp ${dirs.raw}/%f %p`);
    rows.push({ method: 'cp from a local directory (floor)', seconds: cpSecs });
    const fsConfig = loadConfig({
      overrides: { ...fsTree, archive: { ...fsTree.archive, command: `'${node}' '${cli}'` } },
      env: {},
    });
    const s3Config = loadConfig({
      overrides: {
        ...s3Tree,
        archive: {
          ...s3Tree.archive,
          command: `${Object.entries(S3RVER_ENV)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')} '${node}' '${cli}'`,
        },
      },
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
    rows.push({
      method: 'pgfollower fs (lz4, prefetch 16)',
      seconds: await catchUp('pgfollower fs', (d) => withData(fsConfig, d, configs.fs as string), fsTree),
    });
    // The codec choice: the same fs archive without compression (pushed in-process: only the
    // catch-up is compared here).
    const fsNoneTree = {
      ...fsTree,
      archive: { ...fsTree.archive, fs: { path: join(root, 'fs-none') }, compression: 'none' },
    };
    const fsNoneFile = join(root, 'pgfollower-fs-none.json');
    await writeFile(fsNoneFile, JSON.stringify(fsNoneTree));
    await own(fsNoneFile);
    {
      const ctx = ctxFor(fsNoneTree, '/nonexistent');
      const store = openArchiveStore(ctx.config);
      for (const seg of segments) await pushWal(ctx, store, join(dirs.raw, seg));
      store.close();
      // Pushed as root here; the fallback wal-fetch reads as the PostgreSQL OS user.
      if (runAs) await chownTree(join(root, 'fs-none'), runAs.uid, runAs.gid);
    }
    const fsNoneConfig = loadConfig({
      overrides: { ...fsNoneTree, archive: { ...fsNoneTree.archive, command: `'${node}' '${cli}'` } },
      env: {},
    });
    rows.push({
      method: 'pgfollower fs (no compression, prefetch 16)',
      seconds: await catchUp('pgfollower fs none', (d) => withData(fsNoneConfig, d, fsNoneFile), fsNoneTree),
    });
    rows.push({
      method: 'pgfollower s3 via s3rver (lz4, prefetch 16)',
      seconds: await catchUp('pgfollower s3', (d) => withData(s3Config, d, configs.s3 as string), s3Tree),
    });
    // S3 without compression (the default codec), pushed in-process like fs-none above.
    const s3NoneTree = {
      ...s3Tree,
      archive: {
        ...s3Tree.archive,
        s3: { ...s3Tree.archive.s3, prefix: 'bench-none/' },
        compression: 'none',
      },
    };
    const s3NoneFile = join(root, 'pgfollower-s3-none.json');
    await writeFile(s3NoneFile, JSON.stringify(s3NoneTree));
    await own(s3NoneFile);
    {
      const ctx = ctxFor(s3NoneTree, '/nonexistent');
      const store = openArchiveStore(ctx.config);
      for (const seg of segments) await pushWal(ctx, store, join(dirs.raw, seg));
      store.close();
    }
    const s3NoneConfig = loadConfig({
      overrides: {
        ...s3NoneTree,
        archive: {
          ...s3NoneTree.archive,
          command: `${Object.entries(S3RVER_ENV)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')} '${node}' '${cli}'`,
        },
      },
      env: {},
    });
    rows.push({
      method: 'pgfollower s3 via s3rver (no compression, prefetch 16)',
      seconds: await catchUp('pgfollower s3 none', (d) => withData(s3NoneConfig, d, s3NoneFile), s3NoneTree),
    });
    if (pgbackrest) {
      rows.push({
        method: 'pgBackRest archive-get async (lz4, process-max 2)',
        seconds: await catchUp(
          'pgbackrest async',
          (d) => `pgbackrest --config=${pgbrConf} --stanza=bench --pg1-path=${d} archive-get %f "%p"`,
        ),
      });
    } else {
      console.log('  pgbackrest not installed (apt-get install -y pgbackrest): skipped');
    }
    if (process.env.BENCH_ARCHIVE_NO_PREFETCH === '1') {
      const noPrefetch = loadConfig({
        overrides: { ...fsTree, archive: { ...fsTree.archive, prefetch: 0, command: `'${node}' '${cli}'` } },
        env: {},
      });
      rows.push({
        method: 'pgfollower fs, no prefetch (Node per segment)',
        seconds: await catchUp('pgfollower fs no prefetch', (d) =>
          withData(noPrefetch, d, configs.fs as string),
        ),
      });
    }

    // Per-call latency of restore_command: prefetched (shell mv) vs a spool miss (Node fallback).
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
    console.log('\n| restore_command | seconds | vs cp |');
    console.log('| --- | --- | --- |');
    for (const row of rows)
      console.log(`| ${row.method} | ${row.seconds.toFixed(2)} | ${(row.seconds / cpSecs).toFixed(2)}x |`);
    console.log(
      `\nrestore_command per call, median of 20: prefetched (sh mv) ${median(hit).toFixed(1)} ms; spool miss (Node wal-fetch, fs, lz4) ${median(miss).toFixed(1)} ms`,
    );
    console.log(
      `backlog: ${segments.length} segments; machine: ${process.platform} ${process.arch}, node ${process.version}, PostgreSQL ${bin.major}`,
    );
  } finally {
    await stopServer(tools, leaderData, { mode: 'immediate' }).catch(() => undefined);
    s3.stop();
    if (process.env.BENCH_KEEP !== '1') await rm(root, { recursive: true, force: true });
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
