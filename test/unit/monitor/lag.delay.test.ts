import { describe, expect, it } from 'vitest';
import { LagTracker } from '../../../src/monitor/lag.js';
import type { LeaderSample, LocalSample, Sourced } from '../../../src/monitor/snapshot.js';
import { parseLsn } from '../../../src/postgres/lsn.js';
import { T0, leaderSample, localSample } from './fixtures.js';

const ok = <T>(value: T): Sourced<T> => ({ ok: true, value });
const leaderAt = (lsn: string): Sourced<LeaderSample> =>
  ok(leaderSample({ currentLsn: parseLsn(lsn), leaderNow: T0 }));
const follower = (replay: string, receive: string): Sourced<LocalSample> =>
  ok(localSample({ replayLsn: parseLsn(replay), receiveLsn: parseLsn(receive) }));

describe('LagTracker with an apply delay (node.applyDelay)', () => {
  it('a follower exactly its delay behind is not lagging, and the undelayed figures are kept', () => {
    const lag = new LagTracker();
    const delayMs = 60_000;
    // The leader writes 1 MB every 10 s; the follower receives everything and replays 60 s later.
    const mb = (n: number) => `0/${(0x1000000 + n * 0x100000).toString(16).toUpperCase()}`;
    let last = lag.compute(T0, follower(mb(0), mb(0)), leaderAt(mb(0)), delayMs);
    for (let i = 1; i <= 12; i++) {
      const replayed = Math.max(0, i - 6);
      last = lag.compute(T0 + i * 10_000, follower(mb(replayed), mb(i)), leaderAt(mb(i)), delayMs);
    }
    expect(last.replayLagBytes).toBe(0n);
    expect(last.replayLagSeconds).toBe(0);
    expect(last.receiveLagBytes).toBe(0n);
    expect(last.delay).toEqual({
      applyDelayMs: delayMs,
      replayLagBytes: 6n * 0x100000n,
      replayLagSeconds: 50, // oldest unreplayed position first seen 50 s ago (10 s samples)
    });
  });

  it('replay stuck beyond the delay is lag, counted from where the leader was a delay ago', () => {
    const lag = new LagTracker();
    const delayMs = 10_000;
    lag.compute(T0, follower('0/1000000', '0/1000000'), leaderAt('0/1000000'), delayMs);
    lag.compute(T0 + 5_000, follower('0/1000000', '0/2000000'), leaderAt('0/2000000'), delayMs);
    const l = lag.compute(T0 + 30_000, follower('0/1000000', '0/3000000'), leaderAt('0/3000000'), delayMs);
    // A delay ago (T0 + 20 s) the leader was at 0/2000000: 16 MB of replay lag beyond the delay.
    expect(l.replayLagBytes).toBe(parseLsn('0/2000000') - parseLsn('0/1000000'));
    expect(l.replayLagSeconds).toBe(15);
  });

  it('still counts WAL not received yet in full: the delay never hides receive lag', () => {
    const lag = new LagTracker();
    const l = lag.compute(T0, follower('0/1000000', '0/1000000'), leaderAt('0/5000000'), 3_600_000);
    expect(l.receiveLagBytes).toBe(parseLsn('0/5000000') - parseLsn('0/1000000'));
    expect(l.replayLagBytes).toBe(l.receiveLagBytes);
  });
});
