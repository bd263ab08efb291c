import { chown, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../../src/context.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import { createArchiveProbe } from '../../../src/archive/follower/probe.js';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { parseLsn, walFileName, type Lsn } from '../../../src/postgres/lsn.js';
import type { LocalSample } from '../../../src/monitor/snapshot.js';

/** Test clusters are made by a plain initdb: 16 MiB segments. */
const SEGMENT_SIZE = 16n * 1024n * 1024n;
import { editAutoConf } from '../../../src/postgres/standby-config.js';
import {
  cloneFollower,
  makeTempDir,
  pgTools,
  writeConfigFile,
  followerNodeSection,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { requireBuiltCli, testContext } from '../../helpers/archive.js';
import { createArchivingLeader } from '../../helpers/archive.js';

/**
 * A segment deleted from the archive: the follower replays up to the hole and stops there; the
 * supervisor's archive probe and `archive check` both name the missing segment.
 */
describe('gap in the archive', () => {
  beforeAll(requireBuiltCli);

  it('is identified as missing, by name, by the probe and by archive check', async () => {
    const tools = await pgTools();
    const dir = await makeTempDir('pgf-gap-');
    const archiveDir = await makeTempDir('pgf-wal-');
    const archive = { type: 'fs', fs: { path: archiveDir }, compression: 'gzip' };
    const { leader, command } = await createArchivingLeader({ dir, archive });
    const follower = await cloneFollower(leader, { start: false });
    const tree = {
      node: followerNodeSection(follower),
      leader: { conninfo: leader.conninfo },
      archive: { ...archive, command, prefetch: 4 },
      log: { level: 'warn' },
    };
    const followerConfig = await writeConfigFile(dir, tree);
    if (tools.exec.runAs) await chown(followerConfig, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const ctx = await testContext(tree);
    // No prefetcher here: the Node fallback alone serves restore_command.
    await editAutoConf(
      follower.dataDirectory,
      { restore_command: restoreCommandFor(ctx.config, { configFile: followerConfig }) ?? null },
      tools.exec.runAs,
    );

    await leader.query('create table t(id int, pad text)');
    for (let i = 0; i < 8; i++) {
      await leader.query("insert into t select g, repeat('y', 200) from generate_series(1, 2000) g");
      await leader.query('select pg_switch_wal()');
    }
    const [pos] = await leader.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const end: Lsn = parseLsn(pos?.lsn ?? '0/0');
    const endName = walFileName(1, end, SEGMENT_SIZE);
    const store = openArchiveStore(ctx.config);
    const archived = await waitFor(
      'archiver to archive the segments',
      async () => {
        const names = (await store.list('wal/00000001/')).map(
          (o) => o.key.split('/').pop()?.replace(/\.gz$/, '') ?? '',
        );
        return names.filter((n) => n < endName).length >= 7 ? names.sort() : undefined;
      },
      { timeoutMs: 90_000 },
    );
    // Delete one segment in the middle of the backlog.
    const hole = archived[archived.length - 3] as string;
    await unlink(join(archiveDir, 'wal', '00000001', `${hole}.gz`));
    await waitFor(
      `leader to recycle ${hole}`,
      async () => {
        await leader.query('checkpoint');
        await leader.query('select pg_switch_wal()');
        const rows = await leader.query<{ n: string }>(
          "select count(*)::text as n from pg_ls_waldir() where name ~ '^[0-9A-F]{24}$' and name <= $1",
          [hole],
        );
        return rows[0]?.n === '0';
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );

    try {
      await follower.start();
      // Replay reaches the hole and stays there.
      const stuckAt = await waitFor(
        'follower replay to reach the hole',
        async () => {
          const [row] = await follower.query<{ lsn: string }>('select pg_last_wal_replay_lsn()::text as lsn');
          const lsn = row?.lsn ? parseLsn(row.lsn) : null;
          return lsn !== null && walFileName(1, lsn, SEGMENT_SIZE) >= previous(hole) ? lsn : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      expect(walFileName(1, stuckAt, SEGMENT_SIZE) < hole).toBe(true);

      // The supervisor's probe names the hole.
      const probe = createArchiveProbe(store, { clock: systemClock });
      const sample = await probe(
        {
          takenAt: Date.now(),
          node: 'replica_a',
          // Only the segment size is read from the local sample here.
          local: {
            ok: true,
            value: { walSegmentSizeBytes: SEGMENT_SIZE } as LocalSample,
          },
          leader: { ok: false, error: 'not sampled in this test' },
          lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
          neededSegment: walFileName(1, stuckAt, SEGMENT_SIZE),
        },
        new AbortController().signal,
      );
      expect(sample.missingSegment).toBe(hole);
      expect(sample.newestSegment && sample.newestSegment > hole).toBe(true);

      // archive check from the follower's replay position to the leader: exit 1, names the hole.
      const output = createMemoryOutput();
      const code = await main(['--config', followerConfig, 'archive', 'check', '--json'], {
        output,
        env: {},
      });
      expect(code).toBe(1);
      const report = JSON.parse(output.stdout.join('\n')) as { ok: boolean; missing: string[] };
      expect(report.ok).toBe(false);
      expect(report.missing[0]).toBe(hole);
      // From a start after the hole the archive is complete up to the leader: exit 0.
      const after = createMemoryOutput();
      const okCode = await main(['--config', followerConfig, 'archive', 'check', '--start', next(hole)], {
        output: after,
        env: {},
      });
      expect(after.text(), JSON.stringify(await leader.query('select * from pg_stat_archiver'))).toMatch(
        /ok: the archive covers the whole range/,
      );
      expect(okCode).toBe(0);
    } finally {
      store.close();
      await follower.stop();
      await leader.stop();
    }
  });
});

function previous(name: string): string {
  return `${name.slice(0, 16)}${(BigInt(`0x${name.slice(16)}`) - 1n).toString(16).toUpperCase().padStart(8, '0')}`;
}
function next(name: string): string {
  return `${name.slice(0, 16)}${(BigInt(`0x${name.slice(16)}`) + 1n).toString(16).toUpperCase().padStart(8, '0')}`;
}
