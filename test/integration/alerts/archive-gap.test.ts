import { chown, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { archivePlugin } from '../../../src/archive/follower/plugin.js';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { createAlertService } from '../../../src/alerts/service.js';
import type { Notification } from '../../../src/alerts/types.js';
import { collectPlugins } from '../../../src/app/plugins.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { parseLsn, walFileName } from '../../../src/postgres/lsn.js';
import { editAutoConf } from '../../../src/postgres/standby-config.js';
import { cloneFollower, makeTempDir, pgTools, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { requireBuiltCli, testContext, supervisedFollowerTree } from '../../helpers/archive.js';
import { createArchivingLeader } from '../../helpers/archive.js';
import { startReceiver } from '../../helpers/receiver.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * A segment missing from the archive that the leader has recycled too: the follower can get it
 * from nowhere. The supervisor (with the archive plug-in's probe, as `pgfollower run` has it) says
 * `stalled`, and on-call gets `archive-gap` and the critical `stalled`, both naming the segment.
 */
describe('archive gap alerts through a real supervisor', () => {
  beforeAll(requireBuiltCli);

  it('pages archive-gap and stalled (critical) naming the missing segment', async () => {
    const tools = await pgTools();
    const dir = await makeTempDir('pgf-alert-gap-');
    const archiveDir = await makeTempDir('pgf-alert-wal-');
    const archive = { type: 'fs', fs: { path: archiveDir } };
    const { leader, command } = await createArchivingLeader({ dir, archive });
    const follower = await cloneFollower(leader, { start: false });
    const hook = await startReceiver();
    closers.push(hook.close);
    const tree = supervisedFollowerTree(
      leader,
      follower,
      { ...archive, command },
      {
        alerts: {
          rules: {
            lagBytes: { enabled: false },
            lagSeconds: { enabled: false },
            disconnected: { enabled: false },
          },
          channels: [{ type: 'webhook', url: hook.url }],
        },
      },
    );
    const followerConfig = await writeConfigFile(dir, tree);
    if (tools.exec.runAs) await chown(followerConfig, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const ctx = await testContext(tree);
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
    const endName = walFileName(1, parseLsn(pos?.lsn ?? '0/0'), 16n * 1024n * 1024n);
    // await: works whether openArchiveStore returns the store or a promise of it.
    const store = await openArchiveStore(ctx.config);
    closers.push(async () => store.close());
    const archived = await waitFor(
      'archiver to archive the segments',
      async () => {
        const keys = (await store.list('wal/00000001/')).map((o) => o.key);
        const segment = (key: string): string => (key.split('/').pop() ?? '').slice(0, 24);
        return keys.filter((k) => segment(k) < endName).length >= 7
          ? keys.sort().map((key) => ({ key, name: segment(key) }))
          : undefined;
      },
      { timeoutMs: 90_000 },
    );
    const victim = archived[archived.length - 3];
    if (!victim) throw new Error('no segment to delete');
    const hole = victim.name;
    await unlink(join(archiveDir, victim.key));
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

    await follower.start();
    const plugins = await collectPlugins(ctx, [(c) => archivePlugin(c, { configFile: followerConfig })]);
    const supervisor = await startSupervisor(ctx, {
      maxBackoffMs: 1000,
      http: false,
      archiveProbe: plugins.archiveProbe,
      services: [...plugins.services, createAlertService({ stateFile: join(dir, 'alerts.json') })],
    });
    closers.push(() => supervisor.stop('test over'));

    const gap = await hook.waitFor((r) => (r.body as Notification).alert === 'archive-gap', 90_000);
    expect(gap.body).toMatchObject({ status: 'firing', severity: 'warning', value: hole });
    const stalled = await hook.waitFor((r) => (r.body as Notification).alert === 'stalled', 90_000);
    expect(stalled.body).toMatchObject({ status: 'firing', severity: 'critical', value: 'stalled' });
    expect((stalled.body as Notification).message).toContain(hole);

    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});
