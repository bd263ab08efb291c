import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { SupervisorHandle } from '../../../src/daemon/types.js';
import type { FollowerState, Snapshot } from '../../../src/monitor/snapshot.js';
import { cloneFollower, createLeader, makeTempDir, pgbench } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from './context.js';

/** Resolves with the first snapshot in `state` (the latest one, or a later one) within the deadline. */
function waitForState(s: SupervisorHandle, state: FollowerState, timeoutMs = 30_000): Promise<Snapshot> {
  const latest = s.latest();
  if (latest?.state === state) return Promise.resolve(latest);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.events.off('snapshot', onSnapshot);
      const last = s.latest();
      reject(new Error(`no "${state}" within ${timeoutMs} ms; last: ${last?.state} (${last?.reason})`));
    }, timeoutMs);
    const onSnapshot = (snapshot: Snapshot): void => {
      if (snapshot.state !== state) return;
      clearTimeout(timer);
      s.events.off('snapshot', onSnapshot);
      resolve(snapshot);
    };
    s.events.on('snapshot', onSnapshot);
  });
}

describe('supervisor states against real clusters', () => {
  it('streaming at rest, catching-up while replay lags, disconnected and back, stopped, primary', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const ctx = await supervisorContext(leader, follower, { slot: 'replica_a' });
    await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 1000, http: false });
    const changes: string[] = [];
    supervisor.events.on('state:change', ({ to }) => changes.push(to));

    const streaming = await waitForState(supervisor, 'streaming');
    expect(streaming.lag.replayLagBytes).toBe(0n);
    expect(streaming.lag.replayLagSeconds).toBe(0);
    expect(streaming.leader.ok && streaming.leader.value.slot).toMatchObject({
      name: 'replica_a',
      exists: true,
      active: true,
    });
    expect(streaming.leader.ok && streaming.leader.value.replication?.state).toBe('streaming');

    // An idle leader is not lag: seconds stay 0 although the last replayed commit grows old.
    await leader.query('create table idle_marker as select 1 as id');
    const idle = await waitFor(
      'an idle leader with a replayed commit older than 2 s',
      async () => {
        const s = supervisor.latest();
        if (!s?.local.ok || !s.leader.ok || s.local.value.lastReplayTimestamp === null) return undefined;
        return s.leader.value.leaderNow - s.local.value.lastReplayTimestamp > 2000 ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(idle.state).toBe('streaming');
    expect(idle.lag.replayLagSeconds).toBe(0);

    // Catching up: pause replay so the follower falls behind deterministically, then write > 16MB.
    await follower.query('select pg_wal_replay_pause()');
    await pgbench(leader, ['-i', '-s', '3']);
    const behind = await waitForState(supervisor, 'catching-up');
    expect(behind.lag.replayLagBytes ?? 0n).toBeGreaterThan(16n * 1024n * 1024n);
    expect(behind.lag.replayLagSeconds ?? 0).toBeGreaterThan(0);
    await follower.query('select pg_wal_replay_resume()');
    await waitForState(supervisor, 'streaming', 60_000);

    // Leader goes away: disconnected within a few ticks; back to streaming once it returns.
    await leader.stop();
    const stoppedAt = Date.now();
    const down = await waitForState(supervisor, 'disconnected');
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(down.leader.ok).toBe(false);
    // The leader's last known position survives its loss (promote estimates data loss from it).
    expect(down.lastLeader?.lsn).toBeGreaterThanOrEqual(
      behind.local.ok ? (behind.local.value.replayLsn ?? 0n) : 0n,
    );
    expect(down.lastLeader?.seenAt).toBeLessThan(down.takenAt);
    await leader.start();
    await waitForState(supervisor, 'streaming', 60_000);

    // Local server stops: stopped.
    await follower.stop();
    const stopped = await waitForState(supervisor, 'stopped');
    expect(stopped.local.ok).toBe(false);
    await follower.start();
    await waitForState(supervisor, 'streaming', 60_000);

    // Promotion: primary.
    await follower.query('select pg_promote(true, 60)');
    const primary = await waitForState(supervisor, 'primary');
    expect(primary.local.ok && primary.local.value.timeline).toBe(2);

    expect(changes).toEqual(
      expect.arrayContaining(['catching-up', 'disconnected', 'stopped', 'primary', 'streaming']),
    );
    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });

  it('reports a lost slot, and stalled once the follower needs WAL the leader removed', async () => {
    const leader = await createLeader({
      settings: { wal_keep_size: 0, max_slot_wal_keep_size: '32MB' },
    });
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const ctx = await supervisorContext(leader, follower, { slot: 'replica_a' });
    await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 1000, http: false });
    await waitForState(supervisor, 'streaming');
    const lost = new Promise<string>((resolve) =>
      supervisor.events.once('slot:lost', ({ slot }) => resolve(slot)),
    );
    const stalledEvent = new Promise<string | null>((resolve) =>
      supervisor.events.once('wal:stalled', ({ segment }) => resolve(segment)),
    );

    await follower.stop();
    await waitForState(supervisor, 'stopped');
    const forecasts: NonNullable<Snapshot['forecast']>[] = [];
    supervisor.events.on('snapshot', (s) => {
      if (s.forecast) forecasts.push(s.forecast);
    });
    // Write well past max_slot_wal_keep_size, then checkpoint so the leader removes the old WAL.
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
    expect(await lost).toBe('replica_a');
    // While the slot still held WAL, the forecast saw it grow toward max_slot_wal_keep_size.
    const growing = forecasts.find((f) => (f.growthBytesPerSecond ?? 0) > 0 && f.secondsUntilFull !== null);
    expect(growing, 'a forecast with growth and a time to the limit').toBeDefined();
    expect(growing?.limit).toBe('max_slot_wal_keep_size');
    expect(growing?.retainedBytes ?? 0n).toBeGreaterThan(0n);
    const snap = supervisor.latest();
    expect(snap?.leader.ok && snap.leader.value.slot?.walStatus).toBe('lost');
    // The leader drops out and comes back: the loss is old news, not a second 'slot:lost'.
    let lostEvents = 0;
    supervisor.events.on('slot:lost', () => lostEvents++);
    await leader.stop();
    await waitFor('leader seen unreachable', async () => supervisor.latest()?.leader.ok === false);
    await leader.start();
    await waitFor('leader seen again', async () => supervisor.latest()?.leader.ok === true, {
      timeoutMs: 30_000,
    });
    expect(lostEvents).toBe(0);

    await follower.start();
    const stalled = await waitForState(supervisor, 'stalled', 60_000);
    expect(stalled.neededSegment).toMatch(/^00000001[0-9A-F]{16}$/);
    expect(await stalledEvent).toBe(stalled.neededSegment);
    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
  it('archive-recovery while restore_command feeds replay with the leader down, then disconnected', async () => {
    const archive = await makeTempDir('pgf-archive-');
    const leader = await createLeader({
      settings: { archive_mode: 'on', archive_command: `cp %p ${archive}/%f` },
    });
    // A slow restore_command keeps replay visibly advancing for several ticks.
    const follower = await cloneFollower(leader, {
      slot: 'replica_a',
      settings: { restore_command: `sleep 1 && cp ${archive}/%f %p` },
    });
    const ctx = await supervisorContext(leader, follower, { slot: 'replica_a' });
    await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 500, http: false });
    const streamed = await waitForState(supervisor, 'streaming');
    const streamedUpTo = (streamed.local.ok && streamed.local.value.replayLsn) || 0n;

    await follower.stop();
    await pgbench(leader, ['-i', '-s', '4']);
    await leader.query('select pg_switch_wal()');
    await leader.stop();
    const fallback = new Promise<string | null>((resolve) =>
      supervisor.events.once('wal:archive-fallback', ({ segment }) => resolve(segment)),
    );
    await follower.start();
    const recovering = await waitForState(supervisor, 'archive-recovery', 60_000);
    expect(recovering.neededSegment).toMatch(/^00000001[0-9A-F]{16}$/);
    expect(recovering.leader.ok).toBe(false);
    expect(await fallback).toMatch(/^00000001[0-9A-F]{16}$/);
    // Replay went past where streaming ended, from the archive alone.
    expect((recovering.local.ok && recovering.local.value.replayLsn) || 0n).toBeGreaterThan(streamedUpTo);
    // Everything archived is replayed; with the leader still down nothing delivers more.
    await waitForState(supervisor, 'disconnected', 90_000);
    await supervisor.stop('test over');
    await follower.stop();
  });
  it('works with an unprivileged leader role: pg_ls_waldir refused once, the rest still read', async () => {
    const leader = await createLeader();
    await leader.query('create role watcher login');
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const ctx = await supervisorContext(leader, follower, {
      slot: 'replica_a',
      extra: { leader: { conninfo: leader.conninfo.replace('user=postgres', 'user=watcher') } },
    });
    await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 1000, http: false });
    const streaming = await waitForState(supervisor, 'streaming');
    expect(streaming.leader.ok).toBe(true);
    if (!streaming.leader.ok) return;
    expect(streaming.leader.value.pgWalBytes).toBeNull();
    expect(streaming.leader.value.oldestSegment).toBeNull();
    expect(streaming.leader.value.slot).toMatchObject({ exists: true, active: true });
    expect(streaming.lag.replayLagBytes).toBe(0n);
    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});
