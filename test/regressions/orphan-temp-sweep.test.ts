import { chown, mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { archivePlugin } from '../../src/archive/follower/plugin.js';
import { collectPlugins } from '../../src/app/plugins.js';
import { startSupervisor } from '../../src/daemon/supervisor.js';
import {
  createArchivingLeader,
  requireBuiltCli,
  testContext,
  supervisedFollowerTree,
} from '../helpers/archive.js';
import { cloneFollower, makeTempDir, pgTools, writeConfigFile } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * Issue 15, defect 11: orphan `.tmp.*` files after a killed push (fs archive) and a killed fetch (in
 * pg_wal) were never swept. The supervisor sweeps those older than a bound (15 min, or 4x
 * archive.timeoutMs) at start and every 10 minutes; fresh ones (a write in progress) stay.
 */
const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('orphan temp files of killed archive writes', () => {
  beforeAll(requireBuiltCli);

  it('are swept by the supervisor from the fs archive, pg_wal and the spool; fresh ones are kept', async () => {
    const tools = await pgTools();
    const dir = await makeTempDir('pgf-sweep-');
    const archiveDir = join(dir, 'archive');
    const archive = { type: 'fs', fs: { path: archiveDir, fsync: false } };
    const { leader, command } = await createArchivingLeader({ dir, archive });
    closers.push(() => leader.stop());
    await leader.query('select pg_switch_wal()');
    const follower = await cloneFollower(leader);
    closers.push(() => follower.stop());

    const spool = join(follower.dataDirectory, 'pg_wal', '.pgfollower-spool');
    await mkdir(join(archiveDir, 'wal', '00000001'), { recursive: true });
    await mkdir(spool, { recursive: true });
    const hourAgo = new Date(Date.now() - 3_600_000);
    const orphan = async (path: string, old: boolean): Promise<string> => {
      await writeFile(path, Buffer.alloc(4096));
      if (tools.exec.runAs) await chown(path, tools.exec.runAs.uid, tools.exec.runAs.gid);
      if (old) await utimes(path, hourAgo, hourAgo);
      return path;
    };
    const stale = [
      await orphan(join(archiveDir, 'wal', '00000001', '.tmp.4242.a1b2c3d4e5f6'), true),
      await orphan(join(archiveDir, 'wal', '00000001', '.tmp.4242.a1b2c3d4e5f6.meta'), true),
      await orphan(join(follower.dataDirectory, 'pg_wal', '.tmp.4343.deadbeef'), true),
      await orphan(join(spool, '.tmp.4444.0badf00d'), true),
    ];
    const fresh = [
      await orphan(join(archiveDir, 'wal', '00000001', '.tmp.4545.feedface0000'), false),
      await orphan(join(follower.dataDirectory, 'pg_wal', '.tmp.4646.cafebabe'), false),
    ];
    const other = await orphan(join(follower.dataDirectory, 'pg_wal', 'xlogtemp.4747'), true);

    const tree = supervisedFollowerTree(leader, follower, { ...archive, command });
    const configFile = await writeConfigFile(dir, tree);
    const ctx = await testContext(tree);
    const plugins = await collectPlugins(ctx, [(c) => archivePlugin(c, { configFile })]);
    const supervisor = await startSupervisor(ctx, {
      maxBackoffMs: 1000,
      http: false,
      archiveProbe: plugins.archiveProbe,
      services: [...plugins.services],
    });
    closers.push(() => supervisor.stop('test over'));

    await waitFor('the stale temp files to be swept', async () => {
      for (const path of stale) if (await exists(path)) return false;
      return true;
    });
    for (const path of fresh) expect(await exists(path), path).toBe(true);
    expect(await exists(other)).toBe(true);
  });
});
