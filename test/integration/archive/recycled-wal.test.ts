import { readFileSync } from 'node:fs';
import { chown, readFile } from 'node:fs/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import { startPrefetcher } from '../../../src/archive/follower/prefetch.js';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { spoolDirectoryFor } from '../../../src/archive/follower/spool.js';
import { readControlData } from '../../../src/postgres/cluster.js';
import { editAutoConf } from '../../../src/postgres/standby-config.js';
import { cloneFollower, makeTempDir, pgbench, pgTools, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import {
  requireBuiltCli,
  s3ArchiveConfig,
  s3EnvPrefix,
  setS3Env,
  startS3,
  testContext,
  type TestS3,
} from '../../helpers/archive.js';
import { createArchivingLeader, waitArchived } from '../../helpers/archive.js';

/**
 * The leader recycled the WAL a stopped follower needs; the follower, started with the generated
 * restore_command and the prefetcher running, catches up from the archive (fast path: `mv` out of
 * the spool), then streams again. Data checked row for row.
 */

const checksumSql =
  "select count(*)::text as n, md5(string_agg(aid::text || ':' || abalance::text, ',' order by aid)) as sum from pgbench_accounts";

async function runScenario(archive: Record<string, unknown>, envPrefix: string): Promise<void> {
  const tools = await pgTools();
  const dir = await makeTempDir('pgf-rec-');
  const { leader, command } = await createArchivingLeader({
    dir,
    archive,
    envPrefix,
    settings: { max_wal_size: '48MB' },
  });
  const follower = await cloneFollower(leader, { start: false });
  const tree = {
    node: { name: 'replica_a', dataDirectory: follower.dataDirectory },
    archive: { ...archive, command, prefetch: 8, prefetchConcurrency: 2 },
    log: { level: 'warn' },
  };
  const followerConfig = await writeConfigFile(dir, tree);
  if (tools.exec.runAs) await chown(followerConfig, tools.exec.runAs.uid, tools.exec.runAs.gid);
  const ctx = await testContext(tree);
  const restore = restoreCommandFor(ctx.config, { configFile: followerConfig });
  expect(restore).toMatch(/^mv -f '.*\.pgfollower-spool\/'%f %p 2>\/dev\/null \|\| /);
  await editAutoConf(follower.dataDirectory, { restore_command: restore ?? null }, tools.exec.runAs);

  // The leader moves on and recycles what the stopped follower needs.
  const control = await readControlData(tools, follower.dataDirectory);
  const needed = String(control["Latest checkpoint's REDO WAL file"] ?? '');
  expect(needed).toMatch(/^[0-9A-F]{24}$/);
  await pgbench(leader, ['-i', '-s', '6', '-q']);
  await pgbench(leader, ['-c', '2', '-t', '1500', '-n']);
  await waitFor(
    `leader to recycle ${needed}`,
    async () => {
      await leader.query('checkpoint');
      await leader.query('select pg_switch_wal()');
      const rows = await leader.query<{ n: string }>(
        "select count(*)::text as n from pg_ls_waldir() where name ~ '^[0-9A-F]{24}$' and name <= $1",
        [needed],
      );
      return rows[0]?.n === '0';
    },
    { timeoutMs: 90_000, intervalMs: 1000 },
  );
  await leader.query('select pg_switch_wal()');
  const [target] = await leader.query<{ lsn: string; name: string }>(
    'select pg_current_wal_lsn()::text as lsn, pg_walfile_name(pg_current_wal_lsn()) as name',
  );
  await waitArchived(leader, prevSegment(target?.name ?? ''));

  const store = openArchiveStore(ctx.config);
  const spoolDir = spoolDirectoryFor(ctx.config) as string;
  const prefetcher = await startPrefetcher(ctx, { store, spoolDir, depth: 8, concurrency: 2 });
  try {
    await follower.start();
    await waitFor(
      'follower to replay past the leader position of the backlog',
      async () => {
        const [row] = await follower.query<{ ok: boolean }>(
          'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
          [target?.lsn],
        );
        return row?.ok;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        detail: () =>
          `prefetch ${JSON.stringify(prefetcher.stats())}; follower log: ${tailOf(follower.logFile)}`,
      },
    );
    const [a] = await leader.query(checksumSql);
    const [b] = await follower.query(checksumSql);
    expect(b).toEqual(a);
    expect(Number(a?.n)).toBe(600_000);
    const stats = prefetcher.stats();
    // The fast path served segments (consumed from the spool), not only the Node fallback.
    expect(stats.consumed).toBeGreaterThan(0);
    const log = await readFile(follower.logFile, 'utf8');
    expect(log).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
    // ... and then streams again from the leader.
    await waitFor(
      'follower streaming again',
      async () => {
        const [row] = await follower.query<{ status: string }>('select status from pg_stat_wal_receiver');
        return row?.status === 'streaming';
      },
      { timeoutMs: 60_000 },
    );
  } finally {
    await prefetcher.stop();
    store.close();
    await follower.stop();
    await leader.stop();
  }
}

/** The last lines of a server log, for a failure message. */
function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-25).join('\n');
  } catch (error) {
    return String(error);
  }
}

function prevSegment(name: string): string {
  const seg = BigInt(`0x${name.slice(16)}`) - 1n;
  return `${name.slice(0, 16)}${seg.toString(16).toUpperCase().padStart(8, '0')}`;
}

describe('recycled WAL: a follower catches up from the archive', () => {
  let s3: TestS3 | undefined;
  let restoreEnv: (() => void) | undefined;
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    restoreEnv?.();
    restoreEnv = undefined;
    await s3?.stop();
    s3 = undefined;
  });

  it('from an fs archive', async () => {
    const archiveDir = await makeTempDir('pgf-wal-');
    await runScenario({ type: 'fs', fs: { path: archiveDir } }, '');
  });

  it('from an S3 archive (s3rver)', async () => {
    s3 = await startS3();
    restoreEnv = setS3Env();
    const envPrefix = s3EnvPrefix;
    await runScenario(s3ArchiveConfig(s3.endpoint), envPrefix);
    // Each wal-push and wal-fetch on S3 starts Node and the AWS SDK (about 1 s of CPU): on a loaded
    // 2-core machine the scenario needs more than the default 120 s (about 35 s when quiet).
  }, 300_000);
});
