import { chown } from 'node:fs/promises';
import { join } from 'node:path';
import getPort from 'get-port';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import type { ArchiveStore } from '../../../src/archive/store/store.js';
import type { Context } from '../../../src/context.js';
import { createArchivingLeader, testContext, waitArchived } from '../../helpers/archive.js';
import {
  cloneFollower,
  makeTempDir,
  pgTools,
  writeConfigFile,
  type TestCluster,
  followerNodeSection,
} from '../../helpers/cluster.js';

export const checksumSql =
  "select count(*)::text as n, md5(string_agg(aid::text || ':' || abalance::text, ',' order by aid)) as sum, (select count(*)::text from pgbench_history) as h from pgbench_accounts";

export interface BackupRig {
  archiveDir: string;
  leader: TestCluster;
  follower: TestCluster;
  /** Context of the follower that takes backups. */
  ctx: Context;
  store: ArchiveStore;
  archive: Record<string, unknown>;
  command: string;
  dir: string;
  /** The follower's config file (for CLI runs). */
  file: string;
}

/**
 * A leader archiving into an fs archive with wal-push (the built CLI) and a streaming follower
 * that takes the backups.
 */
export async function createBackupRig(
  options: {
    archive?: Record<string, unknown>;
    envPrefix?: string;
    backup?: Record<string, unknown>;
    /** Runs on the leader before the follower is cloned; returns more pg_basebackup arguments. */
    prepareLeader?: (leader: TestCluster, dir: string) => Promise<string[]>;
  } = {},
): Promise<BackupRig> {
  const dir = await makeTempDir('pgf-bk-');
  const archiveDir = join(dir, 'archive');
  const archive = options.archive ?? { type: 'fs', fs: { path: archiveDir, fsync: false } };
  const { leader, command } = await createArchivingLeader({
    dir,
    archive,
    envPrefix: options.envPrefix,
    settings: { max_wal_size: '64MB', wal_keep_size: '128MB' },
  });
  const follower = await cloneFollower(leader, { args: await options.prepareLeader?.(leader, dir) });
  const tree = {
    node: followerNodeSection(follower),
    leader: { conninfo: leader.conninfo },
    archive,
    backup: { partSize: '4MB', walTimeoutMs: '90s', ...options.backup },
    log: { level: 'warn' },
  };
  const ctx = await testContext(tree);
  const file = await writeConfigFile(dir, tree);
  return {
    archiveDir,
    leader,
    follower,
    ctx,
    store: openArchiveStore(ctx.config),
    archive,
    command,
    dir,
    file,
  };
}

/** A config for a new node (own directory and port) of the same cluster, written to a file. */
export async function newNodeConfig(
  rig: BackupRig,
  name: string,
): Promise<{
  tree: Record<string, unknown>;
  file: string;
  dataDirectory: string;
  port: number;
  socketDirectory: string;
}> {
  const tools = await pgTools();
  const root = await makeTempDir(`pgf-${name}-`);
  const port = await getPort();
  const dataDirectory = join(root, 'data');
  const tree = {
    node: { name, dataDirectory, port, host: root, user: 'postgres' },
    leader: { conninfo: rig.leader.conninfo, connectTimeoutMs: 2000 },
    archive: { ...rig.archive, command: rig.command, prefetch: 0 },
    log: { level: 'warn' },
  };
  const file = await writeConfigFile(root, tree);
  if (tools.exec.runAs) await chown(file, tools.exec.runAs.uid, tools.exec.runAs.gid);
  return { tree, file, dataDirectory, port, socketDirectory: root };
}

/** Switches the leader's WAL and waits until that segment is archived; returns the LSN before the switch. */
export async function archiveEverything(leader: TestCluster): Promise<string> {
  const [row] = await leader.query<{ lsn: string; name: string }>(
    'select pg_current_wal_lsn()::text as lsn, pg_walfile_name(pg_current_wal_lsn()) as name',
  );
  const target = row as { lsn: string; name: string };
  await leader.query('select pg_switch_wal()');
  await waitArchived(leader, target.name);
  return target.lsn;
}

/** Stops the rig's servers and closes its store (a test's `finally`). */
export async function closeRig(rig: BackupRig): Promise<void> {
  await rig.follower.stop();
  await rig.leader.stop();
  rig.store.close();
}
