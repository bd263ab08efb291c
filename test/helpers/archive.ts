import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/schema.js';
import { silentReporter, systemClock, type Context } from '../../src/context.js';
import { createSilentLogger } from '../../src/logging/logger.js';
import {
  createLeader,
  followerNodeSection,
  makeTempDir,
  pgTools,
  writeConfigFile,
  type TestCluster,
} from './cluster.js';
import { waitFor } from './wait.js';
import { shippedProgram } from '../../src/exec/self.js';

/**
 * The built CLI as it ships (package.json `bin`: the esbuild bundle): archive_command and
 * restore_command run it as the postgres OS user.
 */
export const cliPath = shippedProgram();

export function requireBuiltCli(): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
}

/** s3rver's fixed test credentials, for the AWS default credential chain. */
export const s3Env = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

export interface TestS3 {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** A real S3 protocol server on loopback with one bucket "wal". */
export async function startS3(): Promise<TestS3> {
  const port = await getPort();
  const directory = await mkdtemp(join(tmpdir(), 'pgf-s3-'));
  const server = new S3rver({
    port,
    address: '127.0.0.1',
    directory,
    silent: true,
    configureBuckets: [{ name: 'wal' }],
  });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      await server.close().catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export function s3ArchiveConfig(endpoint: string, prefix = 'clusterA/'): Record<string, unknown> {
  return {
    type: 's3',
    s3: { bucket: 'wal', prefix, endpoint, forcePathStyle: true, maxAttempts: 2, checksums: 'when-required' },
    compression: 'lz4',
  };
}

/** A Context for calling domain functions in-process, as root with PG programs as postgres. */
export async function testContext(
  tree: Record<string, unknown>,
  signal = new AbortController().signal,
): Promise<Context> {
  const tools = await pgTools();
  const config: Readonly<Config> = loadConfig({ overrides: tree, env: {} });
  return {
    config,
    logger: createSilentLogger(),
    exec: tools.exec,
    bin: tools.bin,
    clock: systemClock,
    signal,
    reporter: silentReporter,
  };
}

/** The S3 credentials as `VAR=value ` assignments, to put before a command PostgreSQL runs. */
export const s3EnvPrefix = Object.entries(s3Env)
  .map(([k, v]) => `${k}=${v} `)
  .join('');

/** Runs `fn` with the S3 credentials in process.env (the SDK's default chain reads them). */
export function setS3Env(): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(s3Env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

interface ArchivingLeader {
  leader: TestCluster;
  /** The leader's pgfollower config (archive section, prefetch off), readable by the postgres user. */
  leaderConfig: string;
  /** How PostgreSQL runs pgfollower (with `envPrefix`), for archive_command / restore_command. */
  command: string;
}

/**
 * A real leader archiving through `pgfollower wal-push %p` into `archive` (a config `archive:`
 * section), with small WAL settings so segments are recycled soon (`settings` override them).
 */
export async function createArchivingLeader(options: {
  dir: string;
  archive: Record<string, unknown>;
  settings?: Record<string, string | number | boolean>;
  /** Put before the command, e.g. S3 credentials as `VAR=value `. */
  envPrefix?: string;
  /** initdb --wal-segsize in MiB. */
  walSegmentSizeMb?: number;
  /** The config's `log:` section over `{ level: 'warn' }` (what wal-push writes to the server log). */
  log?: Record<string, unknown>;
}): Promise<ArchivingLeader> {
  requireBuiltCli();
  const tools = await pgTools();
  const command = `${options.envPrefix ?? ''}'${process.execPath}' '${cliPath}'`;
  const leaderConfig = await writeConfigFile(options.dir, {
    archive: { ...options.archive, prefetch: 0 },
    log: { level: 'warn', ...options.log },
  });
  if (tools.exec.runAs) await chown(leaderConfig, tools.exec.runAs.uid, tools.exec.runAs.gid);
  const leader = await createLeader({
    walSegmentSizeMb: options.walSegmentSizeMb,
    settings: {
      archive_mode: 'on',
      archive_command: `${command} --config '${leaderConfig}' wal-push %p`,
      wal_keep_size: 0,
      max_wal_size: '32MB',
      min_wal_size: '32MB',
      ...options.settings,
    },
  });
  return { leader, leaderConfig, command };
}

interface FsArchivingLeader extends ArchivingLeader {
  /** A temp directory for the test's own files; the config file is in it. */
  dir: string;
  /** The fs archive: `<dir>/archive`. */
  archiveDir: string;
  /** The config's `archive:` section. */
  archive: Record<string, unknown>;
}

/** `createArchivingLeader` into an fs archive at `<new temp dir>/archive` (uncompressed by default). */
export async function createFsArchivingLeader(
  options: { fsync?: boolean; compression?: string; log?: Record<string, unknown> } = {},
): Promise<FsArchivingLeader> {
  const dir = await makeTempDir('pgf-arch-');
  const archiveDir = join(dir, 'archive');
  const archive: Record<string, unknown> = {
    type: 'fs',
    fs: { path: archiveDir, fsync: options.fsync ?? false },
    prefetch: 0,
  };
  if (options.compression !== undefined) archive.compression = options.compression;
  const started = await createArchivingLeader({ dir, archive, log: options.log });
  return { ...started, dir, archiveDir, archive };
}

/**
 * Commits a few rows and switches WAL `count` times, so `count` segments are complete (and ready
 * for archive_command when archive_mode is on). Returns the name of the last segment switched
 * away from: it stays in pg_wal until a checkpoint (and, archiving, until it is archived).
 */
export async function switchSegments(leader: TestCluster, count: number): Promise<string> {
  await leader.query('create table if not exists pgf_switch_filler(id int, pad text)');
  let last = '';
  for (let i = 0; i < count; i++) {
    await leader.query(
      "insert into pgf_switch_filler select g, repeat('x', 200) from generate_series(1, 1000) g",
    );
    // pg_switch_wal() returns the end of the segment it finished: pg_walfile_name() names that one.
    const [row] = await leader.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
    last = row?.name ?? last;
  }
  return last;
}

/** The leader's pg_stat_archiver row (counts since the server started). */
interface ArchiverStats {
  last: string;
  archived: number;
  failed: number;
  lastFailed: string | null;
}

/**
 * Waits until the leader's archiver has archived `name` (pg_stat_archiver.last_archived_wal at or
 * past it; segments are archived in order) and returns pg_stat_archiver then. Names compare as
 * strings: one timeline only.
 */
export async function waitArchived(
  leader: TestCluster,
  name: string,
  timeoutMs = 90_000,
  intervalMs = 200,
): Promise<ArchiverStats> {
  let seen: unknown;
  return waitFor(
    `the archiver to archive ${name}`,
    async () => {
      const [row] = await leader.query<Omit<ArchiverStats, 'last'> & { last: string | null }>(
        'select last_archived_wal as last, archived_count::int as archived, failed_count::int as failed,' +
          ' last_failed_wal as "lastFailed" from pg_stat_archiver',
      );
      seen = row;
      return row?.last != null && row.last >= name ? { ...row, last: row.last } : undefined;
    },
    { timeoutMs, intervalMs, detail: () => `pg_stat_archiver: ${JSON.stringify(seen)}` },
  );
}

/** `switchSegments` then `waitArchived`: returns the last segment switched away from, archived. */
export async function switchAndArchive(leader: TestCluster, count = 1, timeoutMs = 90_000): Promise<string> {
  const last = await switchSegments(leader, count);
  await waitArchived(leader, last, timeoutMs);
  return last;
}

/**
 * The config tree of a supervisor watching `follower` of `leader` with an archive (as `pgfollower
 * run` has it): no slot, no HTTP, a 250 ms tick, silent logs. `extra` sections are added as given.
 */
export function supervisedFollowerTree(
  leader: TestCluster,
  follower: TestCluster,
  archive: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    node: followerNodeSection(follower),
    leader: { conninfo: leader.conninfo, connectTimeoutMs: 2000 },
    slot: { enabled: false },
    archive: { prefetch: 0, ...archive },
    monitor: { intervalMs: 250, queryTimeoutMs: 2000 },
    http: { enabled: false },
    log: { level: 'silent' },
    ...extra,
  };
}
