import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { createExec, resolveRunAs, type Exec } from '../src/exec/run.js';
import { findPgBinaries, type PgBinaries } from '../src/postgres/binaries.js';
import { initCluster, startServer, stopServer, type PgTools } from '../src/postgres/cluster.js';

/** A running leader in a temp directory for a benchmark (PostgreSQL as `postgres` when root). */
interface BenchLeader {
  exec: Exec;
  bin: PgBinaries;
  tools: PgTools;
  root: string;
  dataDirectory: string;
  port: number;
  conninfo: string;
  /** `pgbench -i -q -s scale` against the leader. */
  pgbenchInit(scale: number): Promise<void>;
  /** Stops the leader and removes the temp directory. */
  destroy(): Promise<void>;
}

export async function startBenchLeader(
  prefix: string,
  settings: Record<string, string | number | boolean>,
): Promise<BenchLeader> {
  const exec = createExec(await resolveRunAs('postgres'));
  const bin = await findPgBinaries({});
  const tools: PgTools = { exec, bin };
  const root = await mkdtemp(join(tmpdir(), prefix));
  const dataDirectory = join(root, 'leader');
  const port = await getPort();
  const destroy = async (): Promise<void> => {
    await stopServer(tools, dataDirectory, { mode: 'immediate' }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };
  try {
    await chmod(root, 0o755);
    if (exec.runAs) await chown(root, exec.runAs.uid, exec.runAs.gid);
    await initCluster(tools, { dataDirectory, port, socketDirectory: root, settings });
    await startServer(tools, dataDirectory, { logFile: join(root, 'leader.log') });
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    exec,
    bin,
    tools,
    root,
    dataDirectory,
    port,
    conninfo: `host=127.0.0.1 port=${port} user=postgres dbname=postgres`,
    async pgbenchInit(scale) {
      await exec.run(bin.path('pgbench'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-i',
        '-q',
        '-s',
        String(scale),
        'postgres',
      ]);
    },
    destroy,
  };
}
