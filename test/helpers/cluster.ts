import { mkdtemp, rm, chown, chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { createExec, resolveRunAs, type Exec } from '../../src/exec/run.js';
import { findPgBinaries, type PgBinaries } from '../../src/postgres/binaries.js';
import {
  initCluster,
  serverStatus,
  startServer,
  stopServer,
  type PgTools,
} from '../../src/postgres/cluster.js';
import { connect, type PgClient } from '../../src/postgres/client.js';
import { waitFor } from './wait.js';

/**
 * Real PostgreSQL clusters for integration tests: initdb in temp dirs on free ports. When the
 * tests run as root (CI does), servers and PostgreSQL programs run as the `postgres` OS user
 * through the same Exec that pgfollower itself uses.
 */

let toolsPromise: Promise<PgTools> | undefined;

export function pgTools(): Promise<PgTools> {
  toolsPromise ??= (async () => {
    const runAs = await resolveRunAs(process.env.PGFOLLOWER_TEST_OS_USER ?? 'postgres');
    const exec: Exec = createExec(runAs);
    const bin: PgBinaries = await findPgBinaries({ binDir: process.env.PGFOLLOWER_TEST_BIN_DIR });
    return { exec, bin };
  })();
  return toolsPromise;
}

/** Every data directory a test started a server on; setup.ts fails a test that leaves one running. */
export const startedDataDirectories = new Set<string>();
const tempDirs = new Set<string>();

/** A temp dir owned by the PostgreSQL OS user. Removed by cleanupTempDirs after each test. */
export async function makeTempDir(prefix = 'pgf-'): Promise<string> {
  const tools = await pgTools();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  if (tools.exec.runAs) await chown(dir, tools.exec.runAs.uid, tools.exec.runAs.gid);
  tempDirs.add(dir);
  return dir;
}

export async function cleanupTempDirs(): Promise<void> {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export interface TestCluster {
  name: string;
  dataDirectory: string;
  port: number;
  socketDirectory: string;
  /** libpq conninfo over TCP loopback, as a remote follower would use. */
  conninfo: string;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  isRunning(): Promise<boolean>;
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<T[]>;
  client(): Promise<PgClient>;
  logFile: string;
}

interface LeaderOptions {
  settings?: Record<string, string | number | boolean>;
  dataChecksums?: boolean;
  /** initdb --wal-segsize in MiB. */
  walSegmentSizeMb?: number;
  start?: boolean;
}

export async function createLeader(options: LeaderOptions = {}): Promise<TestCluster> {
  const tools = await pgTools();
  const root = await makeTempDir('pgf-leader-');
  const port = await getPort();
  const dataDirectory = join(root, 'data');
  await initCluster(tools, {
    dataDirectory,
    port,
    socketDirectory: root,
    dataChecksums: options.dataChecksums,
    walSegmentSizeMb: options.walSegmentSizeMb,
    settings: { wal_keep_size: '128MB', ...options.settings },
  });
  const cluster = clusterHandle('leader', root, dataDirectory, port, tools);
  if (options.start !== false) await cluster.start();
  return cluster;
}

export function clusterHandle(
  name: string,
  socketDirectory: string,
  dataDirectory: string,
  port: number,
  tools: PgTools,
): TestCluster {
  const conninfo = `host=127.0.0.1 port=${port} user=postgres dbname=postgres`;
  const logFile = join(socketDirectory, `${name}-${port}.log`);
  return {
    name,
    dataDirectory,
    port,
    socketDirectory,
    conninfo,
    logFile,
    async start() {
      startedDataDirectories.add(dataDirectory);
      await startServer(tools, dataDirectory, { logFile, timeoutS: 120 });
    },
    async stop(mode = 'fast') {
      await stopServer(tools, dataDirectory, { mode });
    },
    async isRunning() {
      return (await serverStatus(tools, dataDirectory)) === 'running';
    },
    async query(sql, params) {
      const client = await connect(conninfo, { connectTimeoutMs: 10_000 });
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    client: () => connect(conninfo, { connectTimeoutMs: 10_000 }),
  };
}

/** Registers a data directory whose server some code under test starts (bootstrap, rebuild). */
export function trackDataDirectory(dataDirectory: string): void {
  startedDataDirectories.add(dataDirectory);
}

/** A plain follower made with raw pg_basebackup -R: for tests of anything but bootstrap itself. */
export async function cloneFollower(
  leader: TestCluster,
  options: {
    slot?: string;
    settings?: Record<string, string | number | boolean>;
    start?: boolean;
    /** More pg_basebackup arguments (e.g. ['-T', 'OLD=NEW'] for a tablespace on the same host). */
    args?: string[];
  } = {},
): Promise<TestCluster> {
  const tools = await pgTools();
  const root = await makeTempDir('pgf-follower-');
  const port = await getPort();
  const dataDirectory = join(root, 'data');
  const args = ['-D', dataDirectory, '-d', leader.conninfo, '-X', 'stream', '-R', '-c', 'fast'];
  if (options.slot) args.push('-C', '-S', options.slot);
  args.push(...(options.args ?? []));
  await tools.exec.run(tools.bin.path('pg_basebackup'), args);
  const { appendConf } = await import('../../src/postgres/cluster.js');
  await appendConf(tools, join(dataDirectory, 'postgresql.conf'), {
    port,
    unix_socket_directories: root,
    ...options.settings,
  });
  const cluster = clusterHandle('follower', root, dataDirectory, port, tools);
  if (options.start !== false) await cluster.start();
  return cluster;
}

/** pgbench against a cluster, run as the PostgreSQL OS user. */
/** pgbench's command line against the server on loopback `port`, as postgres, database postgres. */
export function pgbenchArgs(port: number, args: string[]): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args, 'postgres'];
}

export async function pgbench(cluster: TestCluster, args: string[]): Promise<string> {
  const tools = await pgTools();
  const result = await tools.exec.run(tools.bin.path('pgbench'), pgbenchArgs(cluster.port, args));
  return result.stdout + result.stderr;
}

/** Writes a pgfollower config file (mode 600) and returns its path. */
export async function writeConfigFile(dir: string, config: Record<string, unknown>): Promise<string> {
  const file = join(dir, `pgfollower-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, stringify(config), { mode: 0o600 });
  return file;
}

/** Config for a follower of `leader` in a fresh dir: the sections bootstrap and status need. */
export async function followerConfig(
  leader: TestCluster,
  extra: Record<string, unknown> = {},
): Promise<{
  config: Record<string, unknown>;
  dataDirectory: string;
  port: number;
  socketDirectory: string;
}> {
  const root = await makeTempDir('pgf-node-');
  const port = await getPort();
  const dataDirectory = join(root, 'data');
  const config = {
    node: { name: 'replica-a', dataDirectory, port, host: root },
    leader: { conninfo: leader.conninfo },
    log: { level: 'warn' },
    http: { listen: `127.0.0.1:${await getPort()}` },
    ...extra,
  };
  return { config, dataDirectory, port, socketDirectory: root };
}

/**
 * Waits (with a deadline) until `cluster` has replayed up to `lsn`. Anything with `query` will do:
 * a bench polling often passes one over a single open connection rather than one per poll.
 */
export async function waitForReplay(
  cluster: Pick<TestCluster, 'query'>,
  lsn: string,
  what = `replay to reach ${lsn}`,
  timeoutMs = 120_000,
  intervalMs = 500,
): Promise<void> {
  await waitFor(
    what,
    async () => {
      const [row] = await cluster.query<{ ok: boolean }>(
        'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
        [lsn],
      );
      return row?.ok;
    },
    { timeoutMs, intervalMs },
  );
}

/** The `node:` config section of a supervisor watching `follower` (as the postgres role). */
export function followerNodeSection(follower: TestCluster, name = 'replica_a'): Record<string, unknown> {
  return {
    name,
    dataDirectory: follower.dataDirectory,
    host: follower.socketDirectory,
    port: follower.port,
    user: 'postgres',
  };
}
