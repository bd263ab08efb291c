import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/alerts/types.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import {
  clusterHandle,
  createLeader,
  followerConfig,
  pgTools,
  trackDataDirectory,
  writeConfigFile,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { startAlertingSupervisor, startChannels } from './setup.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const lagAlerts = (n: Notification) => n.alert === 'lag-bytes' || n.alert === 'lag-seconds';

describe('a delayed follower (node.applyDelay)', () => {
  it('bootstrap writes recovery_min_apply_delay; the delay raises no lag alert, receive lag still does', async () => {
    const leader = await createLeader();
    closers.push(() => leader.stop());
    await leader.query('CREATE TABLE t (id serial primary key, pad text)');
    const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader);
    const node = { ...(config.node as Record<string, unknown>), applyDelay: '4s' };
    const file = await writeConfigFile(dirname(dataDirectory), { ...config, node });
    trackDataDirectory(dataDirectory);
    const output = createMemoryOutput();
    expect(await main(['--config', file, 'bootstrap', '--yes'], { output })).toBe(0);
    const follower = clusterHandle('follower', socketDirectory, dataDirectory, port, await pgTools());
    closers.push(() => follower.stop());
    const [guc] = await follower.query<{ d: string }>(
      "SELECT current_setting('recovery_min_apply_delay') AS d",
    );
    expect(guc?.d).toBe('4s');

    const channels = await startChannels();
    closers.push(channels.close);
    const { supervisor, notifications } = await startAlertingSupervisor(leader, follower, {
      slot: 'replica_a',
      stateFile: join(channels.dir, 'alerts.json'),
      node: { applyDelay: '4s' },
      alerts: {
        rules: {
          lagBytes: { warning: '2MB', critical: '1GB', for: '500ms', clearFor: '1s' },
          lagSeconds: { warning: '1500ms', critical: '1h', for: '500ms', clearFor: '1s' },
        },
        channels: channels.channels,
      },
    });
    closers.push(() => supervisor.stop('test over'));

    // Load for 8 s: about 3 MB of WAL every 4 s, all of it held back 4 s on the follower.
    let undelayedBytes = 0n;
    let undelayedSeconds = 0;
    let rows = 0;
    const until = Date.now() + 8000;
    while (Date.now() < until) {
      await leader.query("INSERT INTO t (pad) SELECT repeat('x', 100) FROM generate_series(1, 2000)");
      rows += 2000;
      const lag = supervisor.latest()?.lag;
      if (lag?.delay?.replayLagBytes != null && lag.delay.replayLagBytes > undelayedBytes)
        undelayedBytes = lag.delay.replayLagBytes;
      undelayedSeconds = Math.max(undelayedSeconds, lag?.delay?.replayLagSeconds ?? 0);
      await delay(250); // paces the load; nothing is asserted on time
    }
    await waitFor('every row replayed after the delay', async () => {
      const [r] = await follower.query<{ n: string }>('SELECT count(*) AS n FROM t');
      return Number(r?.n) === rows;
    });
    // The delay was real (undiscounted, both rules would have fired)...
    expect(undelayedBytes).toBeGreaterThan(2n * 1024n * 1024n);
    expect(undelayedSeconds).toBeGreaterThan(2);
    // ...and nobody was paged for it.
    expect(notifications.filter(lagAlerts)).toEqual([]);
    const status = supervisor.latest();
    expect(status?.state).toBe('streaming');

    // WAL that does not arrive is lag whatever the delay: stop the receiver and write on.
    await follower.query("ALTER SYSTEM SET primary_conninfo = ''");
    await follower.query('SELECT pg_reload_conf()');
    await waitFor('the WAL receiver to stop', async () => {
      const r = await follower.query('SELECT 1 FROM pg_stat_wal_receiver');
      return r.length === 0;
    });
    await leader.query("INSERT INTO t (pad) SELECT repeat('x', 100) FROM generate_series(1, 40000)");
    const firing = await channels.webhook.waitFor(
      (r) => (r.body as Notification).alert === 'lag-bytes' && (r.body as Notification).status === 'firing',
      30_000,
    );
    expect((firing.body as Notification).message).toContain('beyond its apply delay of 4s');
    await supervisor.stop('test over');
  });
});
