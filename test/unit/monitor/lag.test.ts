import { describe, expect, it } from 'vitest';
import { LagTracker, SlotForecaster } from '../../../src/monitor/lag.js';
import type { LeaderSample, LocalSample, Sourced } from '../../../src/monitor/snapshot.js';
import { parseLsn } from '../../../src/postgres/lsn.js';
import { T0, leaderSample, localSample } from './fixtures.js';

const ok = <T>(value: T): Sourced<T> => ({ ok: true, value });
const down: Sourced<LeaderSample> = { ok: false, error: 'connection refused' };

function at(lsn: string, extra: Partial<LeaderSample> = {}, now = T0): Sourced<LeaderSample> {
  return ok(leaderSample({ currentLsn: parseLsn(lsn), leaderNow: now, ...extra }));
}
function replayAt(lsn: string, extra: Partial<LocalSample> = {}): Sourced<LocalSample> {
  return ok(localSample({ replayLsn: parseLsn(lsn), receiveLsn: parseLsn(lsn), ...extra }));
}

describe('LagTracker', () => {
  it('an idle leader is not lag, however old the last replayed commit', () => {
    const lag = new LagTracker();
    for (let i = 0; i < 5; i++) {
      const l = lag.compute(
        T0 + i * 60_000,
        replayAt('0/3000148', { lastReplayTimestamp: T0 - 3_600_000 }),
        at('0/3000148'),
      );
      expect(l).toEqual({ replayLagBytes: 0n, receiveLagBytes: 0n, replayLagSeconds: 0 });
    }
  });

  it('a stopped receiver while the leader writes: seconds grow from when the leader first passed replay', () => {
    const lag = new LagTracker();
    // receive == replay: "now - replay timestamp" style measures would read 0 here (repmgr issue 519).
    lag.compute(T0, replayAt('0/3000148'), at('0/3000148'));
    lag.compute(T0 + 1000, replayAt('0/3000148'), at('0/3100000'));
    lag.compute(T0 + 2000, replayAt('0/3000148'), at('0/3200000'));
    const l = lag.compute(T0 + 11_000, replayAt('0/3000148'), at('0/3900000'));
    expect(l.replayLagBytes).toBe(parseLsn('0/3900000') - parseLsn('0/3000148'));
    expect(l.receiveLagBytes).toBe(l.replayLagBytes);
    expect(l.replayLagSeconds).toBe(10);
  });

  it('tracks a follower that catches up part of the way', () => {
    const lag = new LagTracker();
    lag.compute(T0, replayAt('0/1000000'), at('0/1000000'));
    lag.compute(T0 + 1000, replayAt('0/1000000'), at('0/2000000'));
    lag.compute(T0 + 2000, replayAt('0/1000000'), at('0/3000000'));
    // Replayed up to 0/2000000: the oldest unreplayed WAL appeared at T0 + 2000.
    expect(lag.compute(T0 + 5000, replayAt('0/2000000'), at('0/3000000')).replayLagSeconds).toBe(3);
  });

  it('receive lag separates from replay lag', () => {
    const lag = new LagTracker();
    const local = ok(localSample({ receiveLsn: parseLsn('0/5000000'), replayLsn: parseLsn('0/4000000') }));
    const l = lag.compute(T0, local, at('0/5000000'));
    expect(l.receiveLagBytes).toBe(0n);
    expect(l.replayLagBytes).toBe(16n * 1024n * 1024n);
    // Nothing received since startup (pg_last_wal_receive_lsn() is NULL): as far behind as replay.
    const archiveOnly = ok(localSample({ receiveLsn: null, replayLsn: parseLsn('0/4000000') }));
    expect(new LagTracker().compute(T0, archiveOnly, at('0/5000000')).receiveLagBytes).toBe(
      16n * 1024n * 1024n,
    );
  });

  it('behind at first look: the commit timestamp estimates, unknown without one', () => {
    const withTs = new LagTracker().compute(
      T0,
      replayAt('0/1000000', { lastReplayTimestamp: T0 - 42_000 }),
      at('0/3000000'),
    );
    expect(withTs.replayLagSeconds).toBe(42);
    const without = new LagTracker().compute(
      T0,
      replayAt('0/1000000', { lastReplayTimestamp: null }),
      at('0/3000000'),
    );
    expect(without.replayLagSeconds).toBeNull();
  });

  it("behind at first look with no recent commit (a bulk load): the leader's replay_lag, not the commit age", () => {
    const replication = {
      applicationName: 'replica_a',
      state: 'streaming',
      sentLsn: parseLsn('0/3000000'),
      writeLsn: parseLsn('0/3000000'),
      flushLsn: parseLsn('0/3000000'),
      replayLsn: parseLsn('0/2FFF000'),
      writeLagSeconds: 0.001,
      flushLagSeconds: 0.002,
      replayLagSeconds: 0.004,
    };
    const l = new LagTracker().compute(
      T0,
      replayAt('0/2FFF000', { lastReplayTimestamp: T0 - 3_600_000 }),
      at('0/3000000', { replication }),
    );
    expect(l.replayLagBytes).toBe(4096n);
    expect(l.replayLagSeconds).toBe(0.004);
  });

  it('no seconds while the leader is unreachable: a partitioned follower is not "0 s behind"', () => {
    const lag = new LagTracker();
    expect(lag.compute(T0, replayAt('0/3000148'), at('0/3000148')).replayLagSeconds).toBe(0);
    // Caught up with the last known leader position; the leader may write on unseen.
    expect(lag.compute(T0 + 60_000, replayAt('0/3000148'), down).replayLagSeconds).toBeNull();
    lag.compute(T0 + 61_000, replayAt('0/3000148'), at('0/3100000'));
    expect(lag.compute(T0 + 90_000, replayAt('0/3000148'), down).replayLagSeconds).toBeNull();
    // Back again: the history kept while it was away still dates the oldest unreplayed WAL.
    expect(lag.compute(T0 + 91_000, replayAt('0/3000148'), at('0/3100000')).replayLagSeconds).toBe(30);
  });

  it('forgets the old leader when a new one (behind it) takes over', () => {
    const lag = new LagTracker();
    lag.compute(T0, replayAt('0/5000000'), at('0/5000000'));
    lag.compute(T0 + 1000, replayAt('0/5000000'), at('0/9000000'));
    // Failover to a standby that had only 0/6000000; this follower replays it at once.
    lag.compute(T0 + 600_000, replayAt('0/5000000'), at('0/6000000'));
    const l = lag.compute(
      T0 + 605_000,
      replayAt('0/5800000', { lastReplayTimestamp: T0 + 604_000 }),
      at('0/6000000', {}, T0 + 605_000),
    );
    expect(l.replayLagBytes).toBe(parseLsn('0/6000000') - parseLsn('0/5800000'));
    // Behind the new leader since it was first seen, not since the old leader's 0/9000000.
    expect(l.replayLagSeconds).toBe(5);
  });

  it('no bytes when the leader is unreachable, nothing for a primary', () => {
    expect(new LagTracker().compute(T0, replayAt('0/1000000'), down).replayLagBytes).toBeNull();
    const primary = ok(localSample({ inRecovery: false }));
    expect(new LagTracker().compute(T0, primary, at('0/1000000'))).toEqual({
      replayLagBytes: null,
      receiveLagBytes: null,
      replayLagSeconds: null,
    });
  });
});

describe('SlotForecaster', () => {
  const slot = (restart: string, safe: bigint | null) => ({
    name: 'replica_a',
    exists: true,
    active: false,
    walStatus: 'extended',
    safeWalSizeBytes: safe,
    restartLsn: parseLsn(restart),
  });

  it('forecasts when retained WAL reaches max_slot_wal_keep_size', () => {
    const f = new SlotForecaster();
    const MB = 1024n * 1024n;
    f.compute(
      T0,
      at('0/3000000', { slot: slot('0/3000000', 1024n * MB), maxSlotWalKeepSizeBytes: 1024n * MB }),
    );
    const r = f.compute(
      T0 + 10_000,
      at('0/3A00000', { slot: slot('0/3000000', 1014n * MB), maxSlotWalKeepSizeBytes: 1024n * MB }),
    );
    expect(r?.retainedBytes).toBe(10n * MB);
    expect(r?.growthBytesPerSecond).toBe(Number(MB));
    expect(r?.secondsUntilFull).toBe(1014);
    expect(r?.limit).toBe('max_slot_wal_keep_size');
  });

  it('gives growth only when the leader has no limit', () => {
    const f = new SlotForecaster();
    f.compute(T0, at('0/3000000', { slot: slot('0/3000000', null) }));
    const r = f.compute(T0 + 1000, at('0/3100000', { slot: slot('0/3000000', null) }));
    expect(r?.growthBytesPerSecond).toBe(1048576);
    expect(r?.secondsUntilFull).toBeNull();
    expect(r?.limit).toBeNull();
  });
});
