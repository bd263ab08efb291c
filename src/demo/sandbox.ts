import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { stringify } from 'yaml';
import type { Exec } from '../exec/run.js';
import type { PgBinaries } from '../postgres/binaries.js';
import { initCluster, serverStatus, startServer, stopServer, type PgTools } from '../postgres/cluster.js';
import { mkdirOwned } from '../postgres/fs-as.js';
import { shellQuote } from '../util/shell.js';
import { selfCommand } from '../exec/self.js';

/**
 * The embedded default: a leader cluster, a local WAL archive and a place for a follower, all in
 * one temp directory, on free loopback ports. Everything pgfollower does to the follower goes
 * through the same code a real host uses; only the leader is made up.
 */
export interface Sandbox {
  root: string;
  leaderDirectory: string;
  leaderPort: number;
  leaderConninfo: string;
  archiveDirectory: string;
  followerDirectory: string;
  followerPort: number;
  httpPort: number;
  /** The follower's pgfollower config file (mode 600). */
  configFile: string;
  /** Exec and programs the sandbox's servers run with. */
  tools: PgTools;
  /** More data directories whose servers destroy() stops (a second follower of the failover demo). */
  extraDirectories: string[];
  /** Writes a file in the sandbox owned by the PostgreSQL OS user (mode 600). */
  writeFile(name: string, text: string): Promise<string>;
  /** Stops every server and removes the directory. */
  destroy(options?: { keep?: boolean }): Promise<void>;
}

interface SandboxOptions {
  /** Name of the (first) follower; default demo-follower. */
  followerName?: string;
  /** More leader settings (the failover demo: wal_log_hints for pg_rewind, a small wal_keep_size). */
  leaderSettings?: Record<string, string | number>;
}

export async function createSandbox(
  exec: Exec,
  bin: PgBinaries,
  signal?: AbortSignal,
  options: SandboxOptions = {},
): Promise<Sandbox> {
  const tools: PgTools = { exec, bin, signal };
  const root = await mkdtemp(join(tmpdir(), 'pgfollower-demo-'));
  await chmod(root, 0o755);
  if (exec.runAs) await chown(root, exec.runAs.uid, exec.runAs.gid);
  const leaderDirectory = join(root, 'leader');
  const archiveDirectory = join(root, 'archive');
  const followerDirectory = join(root, 'follower');
  await mkdirOwned(archiveDirectory, exec.runAs, 0o700);
  const [leaderPort, followerPort, httpPort] = [await getPort(), await getPort(), await getPort()];
  const leaderConfigFile = join(root, 'leader-archive.yaml');
  const configFile = join(root, 'pgfollower.yaml');

  // The leader archives with pgfollower's own wal-push into the local archive directory.
  const archive = { type: 'fs', fs: { path: archiveDirectory }, compression: 'lz4' };
  await writeOwned(leaderConfigFile, stringify({ archive, log: { level: 'warn' } }), exec);
  const archiveCommand = `${selfCommand().map(shellQuote).join(' ')} --config ${shellQuote(leaderConfigFile)} wal-push %p`;
  await initCluster(tools, {
    dataDirectory: leaderDirectory,
    port: leaderPort,
    socketDirectory: root,
    settings: {
      archive_mode: 'on',
      archive_command: archiveCommand,
      archive_timeout: 60,
      wal_keep_size: '64MB',
      max_slot_wal_keep_size: '1GB',
      ...options.leaderSettings,
    },
  });
  await startServer(tools, leaderDirectory, { logFile: join(root, 'leader.log') });
  const leaderConninfo = `host=127.0.0.1 port=${leaderPort} user=${exec.runAs?.user ?? 'postgres'} dbname=postgres`;

  await writeOwned(
    configFile,
    stringify({
      node: {
        name: options.followerName ?? 'demo-follower',
        dataDirectory: followerDirectory,
        port: followerPort,
        host: root,
      },
      leader: { conninfo: leaderConninfo },
      archive,
      http: { listen: `127.0.0.1:${httpPort}` },
      monitor: { intervalMs: '1s' },
      log: { level: 'warn' },
    }),
    exec,
  );

  const extraDirectories: string[] = [];
  return {
    root,
    tools,
    extraDirectories,
    writeFile: async (name, text) => {
      const path = join(root, name);
      await writeOwned(path, text, exec);
      return path;
    },
    leaderDirectory,
    leaderPort,
    leaderConninfo,
    archiveDirectory,
    followerDirectory,
    followerPort,
    httpPort,
    configFile,
    async destroy(options = {}) {
      const stopTools: PgTools = { exec, bin };
      try {
        for (const dir of [followerDirectory, ...extraDirectories, leaderDirectory]) {
          if ((await serverStatus(stopTools, dir).catch(() => 'running')) !== 'running') continue;
          // A server busy in recovery may not stop in time: then immediately (it is a sandbox).
          await stopServer(stopTools, dir, { mode: 'fast' }).catch(() =>
            stopServer(stopTools, dir, { mode: 'immediate' }).catch(() => undefined),
          );
        }
      } finally {
        // A sandbox this command made itself: nothing in it is anyone's data.
        if (!options.keep) await rm(root, { recursive: true, force: true });
      }
    },
  };
}

async function writeOwned(path: string, text: string, exec: Exec): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  if (exec.runAs) await chown(path, exec.runAs.uid, exec.runAs.gid);
}
