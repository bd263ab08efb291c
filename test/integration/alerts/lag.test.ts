import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertState, Notification } from '../../../src/alerts/types.js';
import { cloneFollower, createLeader, pgbench } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { bodies, startAlertingSupervisor, startChannels } from './setup.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('lag alerts through a real supervisor', () => {
  it('pages lag-bytes with replay paused under pgbench load, resolves after resume, and does not page the flap again', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const channels = await startChannels();
    closers.push(channels.close);
    const stateFile = join(channels.dir, 'alerts.json');
    const { supervisor, notifications } = await startAlertingSupervisor(leader, follower, {
      slot: 'replica_a',
      stateFile,
      alerts: {
        rateLimitMs: '10m',
        rules: {
          lagBytes: { warning: '8MB', critical: '1GB', for: '1s', clearFor: '2s' },
          lagSeconds: { enabled: false },
        },
        channels: channels.channels,
      },
    });
    closers.push(() => supervisor.stop('test over'));

    await follower.query('select pg_wal_replay_pause()');
    await pgbench(leader, ['-i', '-s', '2']);
    const firing = await channels.webhook.waitFor((r) => (r.body as Notification).alert === 'lag-bytes');
    expect(firing.path).toBe('/alerts');
    expect(firing.body).toMatchObject({
      status: 'firing',
      alert: 'lag-bytes',
      severity: 'warning',
      node: 'replica_a',
      threshold: 8 * 1024 * 1024,
      dedupKey: 'pgfollower/replica_a/lag-bytes',
    });
    const body = firing.body as Notification;
    expect(typeof body.value === 'number' && body.value).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(Number.isNaN(Date.parse(body.startsAt))).toBe(false);
    expect(body.endsAt).toBeUndefined();

    // PagerDuty: a trigger with the stable dedup key.
    const trigger = await channels.pagerduty.waitFor(
      (r) => (r.body as { event_action?: string }).event_action === 'trigger',
    );
    expect(trigger.path).toBe('/v2/enqueue');
    expect(trigger.body).toMatchObject({
      routing_key: 'R0UT1NGKEY',
      dedup_key: 'pgfollower/replica_a/lag-bytes',
      payload: { source: 'replica_a', severity: 'warning', class: 'lag-bytes' },
    });

    // The command channel got the same JSON on stdin.
    const lines = await waitFor('command channel output', async () => {
      const got = await channels.commandLines();
      return got.length > 0 ? got : undefined;
    });
    expect(lines[0]).toEqual(body);

    await follower.query('select pg_wal_replay_resume()');
    const resolved = await channels.webhook.waitFor(
      (r) => (r.body as Notification).status === 'resolved',
      60_000,
    );
    expect(resolved.body).toMatchObject({
      alert: 'lag-bytes',
      dedupKey: body.dedupKey,
      startsAt: body.startsAt,
    });
    expect(typeof (resolved.body as Notification).endsAt).toBe('string');
    const resolve = await channels.pagerduty.waitFor(
      (r) => (r.body as { event_action?: string }).event_action === 'resolve',
    );
    expect(resolve.body).toEqual({
      routing_key: 'R0UT1NGKEY',
      event_action: 'resolve',
      dedup_key: 'pgfollower/replica_a/lag-bytes',
    });

    // Flap: lag again within the rate limit. The engine fires (held: persisted, not sent)...
    await follower.query('select pg_wal_replay_pause()');
    await pgbench(leader, ['-i', '-s', '2']);
    await waitFor('held lag-bytes in the state file', async () => {
      const state = JSON.parse(await readFile(stateFile, 'utf8')) as AlertState;
      const entry = state.alerts['lag-bytes'];
      return entry?.phase === 'firing' && entry.notifiedAt === null;
    });
    await follower.query('select pg_wal_replay_resume()');
    await waitFor('held alert cleared', async () => {
      const state = JSON.parse(await readFile(stateFile, 'utf8')) as AlertState;
      return state.alerts['lag-bytes'] === undefined;
    });
    // ...and nobody was paged twice.
    expect(bodies(channels.webhook).map((b) => `${String(b.status)} ${String(b.alert)}`)).toEqual([
      'firing lag-bytes',
      'resolved lag-bytes',
    ]);
    expect(notifications.map((n) => n.status)).toEqual(['firing', 'resolved']);
    expect(bodies(channels.pagerduty).map((b) => b.dedup_key)).toEqual([
      'pgfollower/replica_a/lag-bytes',
      'pgfollower/replica_a/lag-bytes',
    ]);
    expect((await channels.commandLines()).map((n) => n.status)).toEqual(['firing', 'resolved']);

    // Counted in the supervisor's /metrics registry.
    const metrics = await supervisor.metrics.metrics();
    expect(metrics).toMatch(/pgfollower_alert_notifications_total\{channel="hook",result="sent"\} 2/);
    expect(metrics).toMatch(/pgfollower_alert_firing\{alert="lag-bytes",severity="none"\} 0/);

    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});
