import { chown } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAlertService } from '../../src/alerts/service.js';
import type { Notification } from '../../src/alerts/types.js';
import { isGap } from '../../src/alerts/rules.js';
import { archivePlugin } from '../../src/archive/follower/plugin.js';
import { collectPlugins } from '../../src/app/plugins.js';
import { startSupervisor } from '../../src/daemon/supervisor.js';
import type { Snapshot } from '../../src/monitor/snapshot.js';
import {
  createArchivingLeader,
  requireBuiltCli,
  testContext,
  supervisedFollowerTree,
} from '../helpers/archive.js';
import { cloneFollower, makeTempDir, pgTools, writeConfigFile } from '../helpers/cluster.js';
import { startReceiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/wait.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * Issue 15, defect 2: `archive-gap` fired on every healthy streaming follower about a second after
 * `run` started: the probe names the leader's current, unfinished segment as the first one the
 * archive lacks, and the rule took any missing segment for a gap. A gap is a segment the archive
 * has moved past or the leader says it archived.
 */
describe('archive-gap on a healthy streaming follower', () => {
  beforeAll(requireBuiltCli);

  it('stays quiet while the follower streams and the archive keeps up', async () => {
    const tools = await pgTools();
    const dir = await makeTempDir('pgf-gap-ok-');
    const archive = { type: 'fs', fs: { path: join(dir, 'archive'), fsync: false } };
    const { leader, command } = await createArchivingLeader({ dir, archive });
    closers.push(() => leader.stop());
    await leader.query('create table t(id int)');
    await leader.query('insert into t select generate_series(1, 1000)');
    await leader.query('select pg_switch_wal()');
    const follower = await cloneFollower(leader);
    closers.push(() => follower.stop());
    const hook = await startReceiver();
    closers.push(hook.close);
    const tree = supervisedFollowerTree(
      leader,
      follower,
      { ...archive, command },
      {
        alerts: { channels: [{ type: 'webhook', url: hook.url }] },
      },
    );
    const configFile = await writeConfigFile(dir, tree);
    if (tools.exec.runAs) await chown(configFile, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const ctx = await testContext(tree);
    const plugins = await collectPlugins(ctx, [(c) => archivePlugin(c, { configFile })]);
    const supervisor = await startSupervisor(ctx, {
      maxBackoffMs: 1000,
      http: false,
      archiveProbe: plugins.archiveProbe,
      services: [...plugins.services, createAlertService({ stateFile: join(dir, 'alerts.json') })],
    });
    closers.push(() => supervisor.stop('test over'));

    // Streaming, and the probe reports the unfinished current segment as the first one missing.
    const samples: Snapshot[] = [];
    supervisor.events.on('lag:sample', ({ snapshot }) => samples.push(snapshot));
    await waitFor(
      'the follower streaming with the archive probed for 12 ticks',
      () =>
        samples.filter((s) => s.archive?.ok && s.archive.value.missingSegment !== null).length >= 12 &&
        supervisor.latest()?.state === 'streaming',
      { timeoutMs: 60_000 },
    );
    // Keep writing and switching while it runs: segments come and go through the archive.
    for (let i = 0; i < 3; i++) {
      await leader.query('insert into t select generate_series(1, 1000)');
      await leader.query('select pg_switch_wal()');
    }
    const seen = samples.length;
    await waitFor('12 more ticks', () => samples.length >= seen + 12, { timeoutMs: 60_000 });
    const gaps = hook.received.filter((r) => (r.body as Notification).alert === 'archive-gap');
    expect(gaps.map((r) => (r.body as Notification).value)).toEqual([]);
  });

  it("a hole behind the archive's newest segment, or at or before the leader's last archived, is a gap", () => {
    const leader = (lastArchivedWal: string | null): Snapshot =>
      ({
        leader: {
          ok: true,
          value: {
            walSegmentSizeBytes: 16n * 1024n * 1024n,
            archiver: lastArchivedWal ? { lastArchivedWal } : null,
          },
        },
      }) as unknown as Snapshot;
    const seg = (n: number): string =>
      `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
    expect(isGap(seg(7), seg(6), leader(seg(6)))).toBe(false); // the current, unfinished one
    expect(isGap(seg(7), seg(9), leader(null))).toBe(true);
    expect(isGap(seg(7), null, leader(seg(7)))).toBe(true);
    expect(isGap(seg(7), seg(5), leader('00000002.history'))).toBe(false);
  });
});
