import { existsSync, readFileSync } from 'node:fs';
import { appendFile, chown } from 'node:fs/promises';
import { join } from 'node:path';
import type { Exec } from '../exec/run.js';
import type { PgBinaries } from './binaries.js';
import { mkdirOwned } from './fs-as.js';

/** What pg_ctl and friends need: which programs, and how to run them. */
export interface PgTools {
  exec: Exec;
  bin: PgBinaries;
  signal?: AbortSignal | undefined;
}

type ServerStatus = 'running' | 'stopped' | 'no-data-directory';

/** `pg_ctl status`: 0 running, 3 not running, 4 no accessible data directory. */
export async function serverStatus(tools: PgTools, dataDirectory: string): Promise<ServerStatus> {
  const result = await tools.exec.tryRun(tools.bin.path('pg_ctl'), ['status', '-D', dataDirectory], {
    signal: tools.signal,
  });
  if (result.exitCode === 0) return 'running';
  if (result.exitCode === 3) return 'stopped';
  return 'no-data-directory';
}

interface StartOptions {
  logFile?: string;
  timeoutS?: number;
}

/** Starts the server and waits until it accepts connections (or, for a standby, until it is consistent). */
export async function startServer(
  tools: PgTools,
  dataDirectory: string,
  options: StartOptions = {},
): Promise<void> {
  const args = ['start', '-D', dataDirectory, '-w', '-t', String(options.timeoutS ?? 120)];
  args.push('-l', options.logFile ?? join(dataDirectory, 'log', 'startup.log'));
  if (!options.logFile) await mkdirOwned(join(dataDirectory, 'log'), tools.exec.runAs);
  await tools.exec.run(tools.bin.path('pg_ctl'), args, {
    signal: tools.signal,
    hint: `read the server log (${options.logFile ?? join(dataDirectory, 'log')}) for the reason`,
  });
}

export async function stopServer(
  tools: PgTools,
  dataDirectory: string,
  options: { mode?: 'smart' | 'fast' | 'immediate'; timeoutS?: number } = {},
): Promise<void> {
  const status = await serverStatus(tools, dataDirectory);
  if (status !== 'running') return;
  await tools.exec.run(
    tools.bin.path('pg_ctl'),
    ['stop', '-D', dataDirectory, '-m', options.mode ?? 'fast', '-w', '-t', String(options.timeoutS ?? 60)],
    { signal: tools.signal },
  );
}

interface InitClusterOptions {
  dataDirectory: string;
  port: number;
  /** Socket directory; also listen_addresses host. */
  socketDirectory: string;
  superuser?: string;
  dataChecksums?: boolean;
  /** initdb --wal-segsize, in MiB (a power of two, 1 .. 1024); default PostgreSQL's 16. */
  walSegmentSizeMb?: number;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number | boolean>;
}

/**
 * Creates a new cluster with trust auth on loopback and replication allowed: a sandbox or test
 * leader, never a production one.
 */
export async function initCluster(tools: PgTools, options: InitClusterOptions): Promise<void> {
  const args = [
    '-D',
    options.dataDirectory,
    '-U',
    options.superuser ?? 'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C',
  ];
  if (options.dataChecksums) args.push('--data-checksums');
  if (options.walSegmentSizeMb !== undefined) args.push(`--wal-segsize=${options.walSegmentSizeMb}`);
  await tools.exec.run(tools.bin.path('initdb'), args, { signal: tools.signal });
  const settings: Record<string, string | number | boolean> = {
    port: options.port,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: options.socketDirectory,
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    hot_standby: 'on',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'on',
    shared_buffers: '32MB',
    logging_collector: 'off',
    ...options.settings,
  };
  await appendConf(tools, join(options.dataDirectory, 'postgresql.conf'), settings);
  const hba = join(options.dataDirectory, 'pg_hba.conf');
  await appendFile(
    hba,
    '\n# pgfollower sandbox: replication over loopback\nhost replication all 127.0.0.1/32 trust\nlocal replication all trust\n',
  );
  if (tools.exec.runAs) await chown(hba, tools.exec.runAs.uid, tools.exec.runAs.gid);
}

export async function appendConf(
  tools: PgTools,
  file: string,
  settings: Record<string, string | number | boolean>,
): Promise<void> {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${formatGucValue(v)}`);
  await appendFile(file, `\n${lines.join('\n')}\n`);
  if (tools.exec.runAs) await chown(file, tools.exec.runAs.uid, tools.exec.runAs.gid);
}

export function formatGucValue(value: string | number | boolean): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  // PostgreSQL's configuration-file parser reads backslash escapes inside quotes (\\b, \\n, \\'),
  // so a backslash must be doubled as well (as ALTER SYSTEM writes it) or the value changes.
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The postmaster's pid from postmaster.pid, if the file exists. */
export function readPostmasterPid(dataDirectory: string): number | undefined {
  const file = join(dataDirectory, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** `pg_controldata` as a key → value map ("Database cluster state", "Latest checkpoint's TimeLineID", ...). */
export async function readControlData(
  tools: PgTools,
  dataDirectory: string,
): Promise<Record<string, string>> {
  const result = await tools.exec.run(tools.bin.path('pg_controldata'), ['-D', dataDirectory], {
    signal: tools.signal,
    env: { LC_ALL: 'C' },
  });
  const out: Record<string, string> = {};
  for (const line of result.stdout.split('\n')) {
    const idx = line.indexOf(':');
    if (idx > 0) out[line.slice(0, idx).trim()] = line.slice(idx + 1).trim();
  }
  return out;
}
