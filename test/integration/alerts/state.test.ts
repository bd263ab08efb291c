import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/alerts/types.js';
import type { SupervisorHandle } from '../../../src/daemon/types.js';
import type { FollowerState } from '../../../src/monitor/snapshot.js';
import { cloneFollower, createLeader, pgbench } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { bodies, startAlertingSupervisor, startChannels } from './setup.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Counts snapshots in `state` from now on. */
function countState(supervisor: SupervisorHandle, state: FollowerState): () => number {
  let n = 0;
  supervisor.events.on('snapshot', (s) => {
    if (s.state === state) n += 1;
  });
  return () => n;
}

describe('state alerts through a real supervisor', () => {
  it('pages disconnected when the leader stops; a supervisor restart neither pages again nor loses the resolve', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const channels = await startChannels();
    closers.push(channels.close);
    const stateFile = join(channels.dir, 'state', 'alerts.json');
    const alerts = {
      rules: { disconnected: { for: '1s', clearFor: '1s' }, lagSeconds: { enabled: false } },
      channels: channels.channels,
    };
    const first = await startAlertingSupervisor(leader, follower, { slot: 'replica_a', stateFile, alerts });
    closers.push(() => first.supervisor.stop('test over'));
    await waitFor('streaming', async () => first.supervisor.latest()?.state === 'streaming');

    await leader.stop();
    const page = await channels.webhook.waitFor(
      (r) => (r.body as Notification).alert === 'disconnected',
      30_000,
    );
    expect(page.body).toMatchObject({
      status: 'firing',
      severity: 'critical',
      value: 'disconnected',
      node: 'replica_a',
    });
    expect((page.body as Notification).message).toMatch(/check the leader/);
    await first.supervisor.stop('restart');

    // Restart while the leader is still down: the persisted alert is still firing, no new page.
    const second = await startAlertingSupervisor(leader, follower, { slot: 'replica_a', stateFile, alerts });
    closers.push(() => second.supervisor.stop('test over'));
    const disconnectedTicks = countState(second.supervisor, 'disconnected');
    // Far past `for` (1 s at 200 ms a tick): a fresh engine would have paged by now.
    await waitFor('10 disconnected ticks after the restart', async () => disconnectedTicks() >= 10, {
      timeoutMs: 60_000,
    });
    expect(second.notifications).toEqual([]);
    expect(bodies(channels.webhook).filter((b) => b.alert === 'disconnected')).toHaveLength(1);

    await leader.start();
    const resolved = await channels.webhook.waitFor(
      (r) => (r.body as Notification).status === 'resolved',
      60_000,
    );
    expect(resolved.body).toMatchObject({
      alert: 'disconnected',
      startsAt: (page.body as Notification).startsAt,
    });
    // Each channel has its own queue: wait for PagerDuty's copy too.
    await channels.pagerduty.waitFor((r) => (r.body as { event_action?: string }).event_action === 'resolve');
    const pd = bodies(channels.pagerduty).filter((b) => b.dedup_key === 'pgfollower/replica_a/disconnected');
    expect(pd.map((b) => b.event_action)).toEqual(['trigger', 'resolve']);
    expect(second.notifications.map((n) => `${n.status} ${n.alert}`)).toEqual(['resolved disconnected']);

    await second.supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });

  it('pages slot lost and stalled (critical) when the leader removed WAL the follower needs', async () => {
    const leader = await createLeader({ settings: { wal_keep_size: 0, max_slot_wal_keep_size: '32MB' } });
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const channels = await startChannels();
    closers.push(channels.close);
    const { supervisor } = await startAlertingSupervisor(leader, follower, {
      slot: 'replica_a',
      stateFile: join(channels.dir, 'alerts.json'),
      alerts: {
        rules: {
          localUnreachable: { for: '1m' },
          lagBytes: { enabled: false },
          lagSeconds: { enabled: false },
        },
        channels: [{ ...channels.channels[0], minSeverity: 'critical' }],
      },
    });
    closers.push(() => supervisor.stop('test over'));
    await waitFor('streaming', async () => supervisor.latest()?.state === 'streaming');

    await follower.stop();
    await pgbench(leader, ['-i', '-s', '6']);
    await waitFor(
      'slot invalidated',
      async () => {
        await leader.query('select pg_switch_wal()');
        await leader.query('checkpoint');
        const [row] = await leader.query<{ wal_status: string }>(
          "select wal_status from pg_replication_slots where slot_name = 'replica_a'",
        );
        return row?.wal_status === 'lost';
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const slot = await channels.webhook.waitFor((r) => (r.body as Notification).alert === 'slot-wal-status');
    expect(slot.body).toMatchObject({ status: 'firing', severity: 'critical', value: 'lost' });

    await follower.start();
    const stalled = await channels.webhook.waitFor(
      (r) => (r.body as Notification).alert === 'stalled',
      60_000,
    );
    expect(stalled.body).toMatchObject({ status: 'firing', severity: 'critical', value: 'stalled' });
    expect((stalled.body as Notification).message).toMatch(
      /needs WAL 00000001[0-9A-F]{16}.*pgfollower rebuild/,
    );
    // Warnings were filtered by minSeverity; nothing else reached this channel.
    expect(bodies(channels.webhook).every((b) => b.severity === 'critical')).toBe(true);

    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});
