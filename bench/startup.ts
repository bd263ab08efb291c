/**
 * `npm run bench startup`: what one pgfollower process costs to start, side by side in one run.
 *
 * Rows, each a fresh process, run round-robin (so load on the shared machine hits all alike),
 * medians of PGF_BENCH_STARTUP_RUNS (default 10), whole-process wall, CPU (user + sys) and peak RSS
 * from GNU time:
 *   - `node -e 0`: the floor (starting Node.js at all);
 *   - a bare `node -e` that reads the segment, SHA-256s it and writes and fsyncs a copy: what any
 *     Node.js archive_command must do, the floor under the wal-push CPU figures;
 *   - the shipped program's wal-push/wal-fetch twice: with the per-user config cache (every call
 *     after the first, src/config/cache.ts) and with it off (each call parses and validates);
 *   - `--version`, `wal-push` of one segment and `wal-fetch` of one segment, fs archive (no
 *     compression, the fs default) and S3 (s3rver on loopback in its own process, lz4, the S3 default),
 *     with the program package.json `bin` names (what ships: the esbuild bundle) and, for comparison,
 *     the unbundled tsc output `dist/src/cli/bin.js` of the same sources (what bundling buys);
 *   - with PGF_BENCH_STARTUP_BASELINE=/path/to/program, the same rows for another build (an older
 *     checkout: `git archive <rev> | tar -x -C /tmp/base`, node_modules linked, `npx tsc`), to show
 *     what every change together bought. A row the other program cannot run (no --version) is left out.
 * Commands run as the `postgres` OS user when started as root, as PostgreSQL runs archive_command.
 * Ratios are wall against `node -e 0`; targets from issue 10: --version <= 2.0x, wal-push and
 * wal-fetch <= 3.0x and <= 0.25 s CPU.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createExec, resolveRunAs, type RunAs } from '../src/exec/run.js';
import { findPgBinaries } from '../src/postgres/binaries.js';
import { S3RVER_ENV, startS3rverProcess } from './s3rver-process.js';

/** dist/bench -> repository root. */
const repoRoot = resolve(fileURLToPath(new URL('../../', import.meta.url)));

interface Sample {
  wallS: number;
  cpuS: number;
  rssMB: number;
}

interface Row {
  name: string;
  argv: string[];
  /** Run before each sample, outside the timing (undo what the previous sample did). */
  reset?: () => Promise<void>;
  env?: Record<string, string>;
  samples: Sample[];
  /** Wall target against node -e 0, and CPU target, when the issue sets one. */
  wallTarget?: number;
  cpuTarget?: number;
}

function shippedBin(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  return resolve(repoRoot, pkg.bin.pgfollower as string);
}

async function measure(row: Row, runAs: RunAs | undefined, scratch: string): Promise<Sample> {
  const out = join(scratch, 'time.out');
  await rm(out, { force: true });
  const started = process.hrtime.bigint();
  await new Promise<void>((done, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', out, ...row.argv], {
      cwd: scratch,
      env: { ...process.env, ...row.env },
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (c) => {
      if (c !== 0) reject(new Error(`${row.name} exited with ${c}: ${stderr.slice(-2000)}`));
      else done();
    });
  });
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  // GNU time appends its line after anything the program printed to the same file (nothing here).
  const last = (await readFile(out, 'utf8')).trim().split('\n').pop() ?? '';
  const [user, sys, rssKB] = last.split(' ').map(Number);
  return { wallS, cpuS: (user ?? 0) + (sys ?? 0), rssMB: (rssKB ?? 0) / 1024 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export async function run(): Promise<void> {
  if (!existsSync('/usr/bin/time')) throw new Error('this benchmark needs GNU time (apt-get install time)');
  const runs = Number(process.env.PGF_BENCH_STARTUP_RUNS ?? 10);
  const runAs = await resolveRunAs('postgres');
  const exec = createExec(runAs);
  const bin = await findPgBinaries({});
  const root = await mkdtemp(join(tmpdir(), 'pgf-bench-startup-'));
  const own = async (p: string): Promise<void> => {
    if (runAs) await chown(p, runAs.uid, runAs.gid);
  };
  let s3: { endpoint: string; stop(): void } | undefined;
  try {
    await own(root);
    // A real WAL segment: the first one initdb writes.
    const data = join(root, 'data');
    await exec.run(bin.path('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--locale=C']);
    const walDir = join(data, 'pg_wal');
    const segment = (await readdir(walDir)).find((f) => /^[0-9A-F]{24}$/.test(f));
    if (!segment) throw new Error(`initdb left no WAL segment in ${walDir}`);
    const pgWal = join(root, 'pg_wal');
    await mkdir(pgWal);
    copyFileSync(join(walDir, segment), join(pgWal, segment));
    await own(pgWal);
    await own(join(pgWal, segment));
    const segmentPath = join(pgWal, segment);
    const restored = join(root, 'restored');
    await mkdir(restored);
    await own(restored);

    s3 = await startS3rverProcess(join(root, 's3'));
    const configs: Record<string, string> = {};
    for (const [name, archive] of Object.entries({
      'fs-push': { type: 'fs', fs: { path: join(root, 'archive-push') }, compression: 'none' },
      'fs-fetch': { type: 'fs', fs: { path: join(root, 'archive-fetch') }, compression: 'none' },
      's3-push': {
        type: 's3',
        s3: { bucket: 'wal', prefix: 'push/', endpoint: s3.endpoint, forcePathStyle: true },
        compression: 'lz4',
      },
      's3-fetch': {
        type: 's3',
        s3: { bucket: 'wal', prefix: 'fetch/', endpoint: s3.endpoint, forcePathStyle: true },
        compression: 'lz4',
      },
    })) {
      const fsPath = 'fs' in archive ? archive.fs?.path : undefined;
      if (fsPath) {
        await mkdir(fsPath);
        await own(fsPath);
      }
      const file = join(root, `${name}.yaml`);
      await writeFile(file, stringify({ archive, log: { level: 'warn' } }), { mode: 0o600 });
      await own(file);
      configs[name] = file;
    }

    const node = process.execPath;
    const shipped = shippedBin();
    const unbundled = join(repoRoot, 'dist/src/cli/bin.js');
    const programs: Array<[label: string, path: string]> = [['', shipped]];
    if (unbundled !== shipped && existsSync(unbundled)) programs.push([' (unbundled tsc output)', unbundled]);
    const baseline = process.env.PGF_BENCH_STARTUP_BASELINE;
    if (baseline) programs.push([' (baseline)', resolve(baseline)]);
    const rows: Row[] = [{ name: 'node -e 0', argv: [node, '-e', '0'], samples: [] }];
    for (const [label, program] of programs) {
      const row: Row = {
        name: `--version${label}`,
        argv: [node, program, '--version'],
        samples: [],
        wallTarget: 2.0,
      };
      if (
        await measure(row, runAs, root).then(
          () => true,
          () => false,
        )
      )
        rows.push(row);
    }
    // Fill the fetch archives once with the shipped wal-push.
    for (const kind of ['fs', 's3'] as const) {
      const env = kind === 's3' ? S3RVER_ENV : {};
      await measure(
        {
          name: 'fill',
          argv: [node, shipped, '--config', configs[`${kind}-fetch`] as string, 'wal-push', segmentPath],
          env,
          samples: [],
        },
        runAs,
        root,
      );
    }
    // What any Node.js archive_command must do with a segment, and nothing else: read it, SHA-256 it,
    // write and fsync a copy. Its CPU is the floor under the wal-push rows.
    const floorCopy = join(root, 'floor-copy');
    rows.push({
      name: 'node: read + SHA-256 + write + fsync of the segment',
      argv: [
        node,
        '-e',
        `const fs=require('node:fs');const b=fs.readFileSync(${JSON.stringify(segmentPath)});require('node:crypto').createHash('sha256').update(b).digest();const fd=fs.openSync(${JSON.stringify(floorCopy)},'w');fs.writeSync(fd,b);fs.fsyncSync(fd);fs.closeSync(fd);`,
      ],
      samples: [],
      reset: () => rm(floorCopy, { force: true }),
    });
    // The per-segment commands keep the validated config in a per-user cache (src/config/cache.ts):
    // the shipped program runs with it (every call after the first) and without it (`off`).
    const cacheDir = join(root, 'config-cache');
    await mkdir(cacheDir, { mode: 0o700 });
    await own(cacheDir);
    const variants: Array<[label: string, program: string, cache: string]> = [];
    for (const [label, program] of programs) {
      if (program === shipped) {
        variants.push([' (config cached)', program, cacheDir]);
        variants.push([' (config validated)', program, 'off']);
      } else variants.push([label, program, 'off']);
    }
    for (const [label, program, cache] of variants) {
      for (const kind of ['fs', 's3'] as const) {
        const env = { ...(kind === 's3' ? S3RVER_ENV : {}), PGFOLLOWER_CACHE_DIR: cache };
        const pushConfig = configs[`${kind}-push`] as string;
        rows.push({
          name: `wal-push ${kind}${label}`,
          argv: [node, program, '--config', pushConfig, 'wal-push', segmentPath],
          env,
          samples: [],
          wallTarget: 3.0,
          cpuTarget: 0.25,
          // Each sample stores the segment anew: remove what the previous one stored.
          reset: async () => {
            if (kind === 'fs') {
              await rm(join(root, 'archive-push'), { recursive: true, force: true });
              await mkdir(join(root, 'archive-push'));
              await own(join(root, 'archive-push'));
            } else {
              await rm(join(root, 's3', 'wal', 'push'), { recursive: true, force: true });
            }
          },
        });
        rows.push({
          name: `wal-fetch ${kind}${label}`,
          argv: [
            node,
            program,
            '--config',
            configs[`${kind}-fetch`] as string,
            'wal-fetch',
            '--no-spool',
            segment,
            join(restored, 'RECOVERYXLOG'),
          ],
          env,
          samples: [],
          wallTarget: 3.0,
          cpuTarget: 0.25,
          reset: () => rm(join(restored, 'RECOVERYXLOG'), { force: true }),
        });
      }
    }

    console.log(
      `load average before: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    for (let i = 0; i < runs; i++) {
      for (const row of rows) {
        await row.reset?.();
        row.samples.push(await measure(row, runAs, root));
      }
    }
    const floor = median((rows[0] as Row).samples.map((s) => s.wallS));
    console.log(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `medians of ${runs}, ${process.version}, program ${shipped}${baseline ? `, baseline ${baseline}` : ''}`,
    );
    console.log('\ncommand | wall | vs node -e 0 | CPU | peak RSS | target');
    for (const row of rows) {
      const wall = median(row.samples.map((s) => s.wallS));
      const cpu = median(row.samples.map((s) => s.cpuS));
      const rss = median(row.samples.map((s) => s.rssMB));
      const targets: string[] = [];
      if (row.wallTarget)
        targets.push(
          `<= ${row.wallTarget.toFixed(1)}x: ${wall / floor <= row.wallTarget ? 'met' : 'NOT met'}`,
        );
      if (row.cpuTarget)
        targets.push(`CPU <= ${row.cpuTarget} s: ${cpu <= row.cpuTarget ? 'met' : 'NOT met'}`);
      console.log(
        `${row.name} | ${wall.toFixed(3)} s | ${(wall / floor).toFixed(2)}x | ${cpu.toFixed(2)} s | ${rss.toFixed(0)} MB | ${targets.join(', ')}`,
      );
    }
  } finally {
    s3?.stop();
    await rm(root, { recursive: true, force: true });
  }
}
