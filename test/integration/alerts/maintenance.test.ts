import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/alerts/types.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { cloneFollower, createLeader, pgbench, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { startAlertingSupervisor, startChannels } from './setup.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('maintenance mode', () => {
  it('holds alerts (saying so) while on, and sends what still fires when it is switched off', async () => {
    const leader = await createLeader();
    closers.push(() => leader.stop());
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    closers.push(() => follower.stop());
    const channels = await startChannels();
    closers.push(channels.close);
    // The command and the supervisor agree on the file through monitor.stateFile.
    const cli = await writeConfigFile(channels.dir, {
      monitor: { stateFile: join(channels.dir, 'state.json') },
      log: { level: 'warn' },
    });
    const maintenance = async (...args: string[]) => {
      const output = createMemoryOutput();
      const code = await main(['--config', cli, 'maintenance', ...args], { output });
      return { code, text: output.text() };
    };
    const on = await maintenance('on', '--for', '2h', '--reason', 'leader upgrade');
    expect(on.code).toBe(0);
    expect(on.text).toMatch(/^maintenance until .* \(leader upgrade\): alerts and slot repair held for 2h/);

    const { supervisor, notifications } = await startAlertingSupervisor(leader, follower, {
      slot: 'replica_a',
      stateFile: join(channels.dir, 'alerts.json'),
      maintenanceFile: join(channels.dir, 'maintenance.json'),
      alerts: {
        rules: {
          lagBytes: { warning: '8MB', critical: '1GB', for: '500ms', clearFor: '1s' },
          lagSeconds: { enabled: false },
        },
        channels: channels.channels,
      },
    });
    closers.push(() => supervisor.stop('test over'));

    await follower.query('select pg_wal_replay_pause()');
    await pgbench(leader, ['-i', '-s', '2']);
    const held = await waitFor('a held lag-bytes notification', async () =>
      notifications.find((n) => n.alert === 'lag-bytes' && n.status === 'firing'),
    );
    expect(held.held).toMatch(/^maintenance until .* \(leader upgrade\)$/);
    expect(held.message).toMatch(/\[held: maintenance until .* \(leader upgrade\)\]$/);
    // Held means nobody was paged.
    expect(channels.webhook.received).toEqual([]);

    const off = await maintenance('off');
    expect(off.text).toContain('maintenance ended');
    const released = await channels.webhook.waitFor(
      (r) => (r.body as Notification).alert === 'lag-bytes' && (r.body as Notification).status === 'firing',
    );
    expect((released.body as Notification).message).toContain('[maintenance ended; held since');
    expect((released.body as Notification).held).toBeUndefined();

    await follower.query('select pg_wal_replay_resume()');
    await channels.webhook.waitFor((r) => (r.body as Notification).status === 'resolved', 60_000);
    expect((await maintenance('status')).text).toBe('no maintenance window in force');
  });
});
