import { describe, expect, it } from 'vitest';
import { observeSnapshot } from '../../../src/alerts/rules.js';
import { loadConfig } from '../../../src/config/index.js';
import { createSupervisorMetrics } from '../../../src/http/metrics.js';
import { CatchUpEstimator, describeCatchUp, formatEta } from '../../../src/monitor/catchup.js';
import { evaluateCheck } from '../../../src/monitor/check.js';
import type {
  CatchUp,
  FollowerState,
  Lag,
  LeaderSample,
  LocalSample,
  Snapshot,
  Sourced,
} from '../../../src/monitor/snapshot.js';
import { buildStatus, formatStatus } from '../../../src/monitor/status.js';
import { T0, leaderSample, localSample, previousSnapshot, unclassified } from './fixtures.js';

const MB = 1048576n;
const options = { windowMs: 30_000, minSpanMs: 2_000, holdMs: 10_000, catchingUpBytes: 16 * 1048576 };

/** One tick's sources with positions in MB. */
function tick(
  leaderMb: number,
  replayMb: number,
  receiveMb: number | null = replayMb,
  extra: Partial<LocalSample> = {},
): { local: Sourced<LocalSample>; leader: Sourced<LeaderSample>; lag: Lag } {
  const leader = BigInt(leaderMb) * MB;
  const replay = BigInt(replayMb) * MB;
  return {
    local: {
      ok: true,
      value: localSample({
        replayLsn: replay,
        receiveLsn: receiveMb === null ? null : BigInt(receiveMb) * MB,
        ...extra,
      }),
    },
    leader: { ok: true, value: leaderSample({ currentLsn: leader }) },
    lag: { replayLagBytes: leader - replay, receiveLagBytes: null, replayLagSeconds: null },
  };
}

function feed(
  estimator: CatchUpEstimator,
  ticks: Array<[number, number, number | null]>,
  state: FollowerState = 'catching-up',
  spooled: number | null = null,
  everyMs = 1000,
): CatchUp | null {
  let result: CatchUp | null = null;
  ticks.forEach(([leader, replay, receive], i) => {
    const t = tick(leader, replay, receive);
    result = estimator.compute(T0 + i * everyMs, t.local, t.leader, t.lag, state, spooled);
  });
  return result;
}

describe('catch-up estimate (rates over a window)', () => {
  it('ETA = (lag - catchingUpBytes) / (replay rate - leader rate), limited by replay when WAL is received', () => {
    const e = new CatchUpEstimator(options);
    // Leader writes 2 MB/s, replay does 10 MB/s, receive is at the leader: replay limits.
    const c = feed(e, [
      [1000, 200, 1000],
      [1002, 210, 1002],
      [1004, 220, 1004],
    ]);
    expect(c).toMatchObject({ catchingUp: true, limitedBy: 'replay', windowSeconds: 2 });
    expect(c?.leaderBytesPerSecond).toBe(2 * 1048576);
    expect(c?.replayBytesPerSecond).toBe(10 * 1048576);
    // Lag 784 MB, 16 MB counts as caught up: 768 MB at 8 MB/s closing = 96 s.
    expect(c?.etaSeconds).toBeCloseTo(96, 6);
    expect(describeCatchUp(c)).toBe(
      'will be caught up in ~96 s (limited by replay (single-threaded apply); replay 10.0 MB/s, leader writes 2.0 MB/s)',
    );
  });

  it('network or leader limits when WAL arrives no faster than replay takes it', () => {
    const c = feed(new CatchUpEstimator(options), [
      [1000, 200, 201],
      [1002, 205, 206],
      [1004, 210, 211],
    ]);
    expect(c).toMatchObject({ catchingUp: true, limitedBy: 'network' });
    expect(c?.receiveBytesPerSecond).toBe(5 * 1048576);
  });

  it('not catching up when the leader outpaces replay: no ETA, "falling further behind"', () => {
    const c = feed(new CatchUpEstimator(options), [
      [1000, 200, 1000],
      [1010, 205, 1010],
      [1020, 210, 1020],
    ]);
    expect(c).toMatchObject({ catchingUp: false, etaSeconds: null, limitedBy: 'replay' });
    expect(describeCatchUp(c)).toMatch(/^not catching up: falling further behind \(limited by replay/);
    // Replay standing still behind an idle leader: not closing the gap either, and no ETA.
    const still = feed(new CatchUpEstimator(options), [
      [1000, 200, 1000],
      [1000, 200, 1000],
      [1000, 200, 1000],
    ]);
    expect(still).toMatchObject({ catchingUp: false, etaSeconds: null });
    expect(describeCatchUp(still)).toMatch(/^not catching up: not closing the gap/);
  });

  it('archive recovery: fetch limits with an empty spool, replay with segments spooled ahead, unknown without a probe', () => {
    const ticks: Array<[number, number, number | null]> = [
      [1000, 200, null],
      [1000, 216, null],
      [1000, 232, null],
    ];
    expect(feed(new CatchUpEstimator(options), ticks, 'archive-recovery', 0)?.limitedBy).toBe('fetch');
    expect(feed(new CatchUpEstimator(options), ticks, 'archive-recovery', 3)?.limitedBy).toBe('replay');
    const unknown = feed(new CatchUpEstimator(options), ticks, 'archive-recovery', null);
    expect(unknown).toMatchObject({ limitedBy: null, catchingUp: true });
    // 768 MB lag, 16 caught-up: 752 MB at 16 MB/s.
    expect(unknown?.etaSeconds).toBeCloseTo(47, 6);
  });

  it('no figure without a measured window: first ticks, a restart of either end, states that are not behind', () => {
    const e = new CatchUpEstimator(options);
    expect(feed(e, [[1000, 200, 1000]])).toBeNull();
    // Two ticks one second apart span less than minSpanMs.
    const short = new CatchUpEstimator(options);
    expect(
      feed(short, [
        [1000, 200, 1000],
        [1001, 210, 1001],
      ]),
    ).toBeNull();
    // The leader unreachable in between: the window starts again.
    const gap = new CatchUpEstimator(options);
    feed(gap, [
      [1000, 200, 1000],
      [1002, 210, 1002],
    ]);
    const t = tick(1004, 220, 1004);
    expect(
      gap.compute(T0 + 2000, t.local, { ok: false, error: 'down' }, t.lag, 'disconnected', null),
    ).toBeNull();
    expect(gap.compute(T0 + 3000, t.local, t.leader, t.lag, 'catching-up', null)).toBeNull();
    // A leader position that went back (another leader) starts over too.
    const newLeader = new CatchUpEstimator(options);
    feed(newLeader, [
      [1000, 200, 1000],
      [1002, 210, 1002],
      [1004, 220, 1004],
    ]);
    const back = tick(500, 230, 500);
    expect(newLeader.compute(T0 + 3000, back.local, back.leader, back.lag, 'catching-up', null)).toBeNull();
    // Streaming (caught up), stalled, stopped: no estimate, whatever the rates.
    for (const state of ['streaming', 'stalled', 'disconnected', 'primary'] as const) {
      expect(
        feed(
          new CatchUpEstimator(options),
          [
            [1000, 200, 1000],
            [1002, 210, 1002],
            [1004, 220, 1004],
          ],
          state,
        ),
      ).toBeNull();
    }
  });

  it('rates come from the last windowMs only', () => {
    const e = new CatchUpEstimator({ ...options, windowMs: 3_000 });
    // Replay did 1 MB/s for 5 s, then 20 MB/s: the window sees only the fast part.
    const c = feed(e, [
      [2000, 100, 2000],
      [2000, 101, 2000],
      [2000, 102, 2000],
      [2000, 103, 2000],
      [2000, 104, 2000],
      [2000, 124, 2000],
      [2000, 144, 2000],
      [2000, 164, 2000],
    ]);
    expect(c?.windowSeconds).toBe(3);
    expect(c?.replayBytesPerSecond).toBe(20 * 1048576);
  });

  it('a hold (replay still for holdMs) and the run after it are measured apart, a short stand is not', () => {
    const e = new CatchUpEstimator({ ...options, holdMs: 3_000 });
    // Replay held at 200 for 4 s while the leader is idle: "not catching up".
    const held = feed(e, [
      [1000, 200, 1000],
      [1000, 200, 1000],
      [1000, 200, 1000],
      [1000, 200, 1000],
      [1000, 200, 1000],
    ]);
    expect(held).toMatchObject({ catchingUp: false, etaSeconds: null });
    // Released at 100 MB/s: measured from the last held sample, not averaged with the hold (that
    // would say 40 MB/s and an ETA 2.5 times too long).
    const at = (i: number, replay: number): CatchUp | null => {
      const t = tick(1000, replay, 1000);
      return e.compute(T0 + i * 1000, t.local, t.leader, t.lag, 'catching-up', null);
    };
    expect(at(5, 300)).toBeNull(); // one second of the new regime: not measured yet
    const running = at(6, 400);
    expect(running?.replayBytesPerSecond).toBe(100 * 1048576);
    expect(running?.windowSeconds).toBe(2);
    expect(running?.etaSeconds).toBeCloseTo((600 - 16) / 100, 6);

    // A one-second stand inside a run (waiting for one segment) stays in the average.
    const bumpy = feed(new CatchUpEstimator({ ...options, holdMs: 3_000 }), [
      [1000, 100, 1000],
      [1000, 116, 1000],
      [1000, 116, 1000],
      [1000, 132, 1000],
      [1000, 148, 1000],
    ]);
    expect(bumpy?.replayBytesPerSecond).toBe(12 * 1048576);
    expect(bumpy?.windowSeconds).toBe(4);
  });

  it('formats an estimate as one', () => {
    expect(formatEta(0.2)).toBe('<1 s');
    expect(formatEta(44.6)).toBe('~45 s');
    expect(formatEta(96)).toBe('~96 s');
    expect(formatEta(240)).toBe('~4 min');
    expect(formatEta(2.5 * 3600)).toBe('~2.5 h');
    expect(formatEta(30 * 3600)).toBe('~30 h');
  });
});

describe('catch-up in status, check, alerts and metrics (one snapshot, many readers)', () => {
  const catchUp: CatchUp = {
    catchingUp: true,
    etaSeconds: 240,
    limitedBy: 'replay',
    leaderBytesPerSecond: 1048576,
    receiveBytesPerSecond: 3 * 1048576,
    replayBytesPerSecond: 3 * 1048576,
    windowSeconds: 30,
  };
  const snapshot = (c: CatchUp | null): Snapshot => ({
    ...previousSnapshot(
      unclassified({
        local: localSample({ replayLsn: 100n * MB, receiveLsn: 600n * MB }),
        leader: leaderSample({ currentLsn: 600n * MB }),
        lag: { replayLagBytes: 500n * MB, receiveLagBytes: 0n, replayLagSeconds: 400 },
      }),
      'catching-up',
    ),
    catchUp: c,
  });
  const thresholds = {
    warnLagBytes: 64 * 1048576,
    critLagBytes: 1024 * 1048576,
    warnLagSeconds: 60,
    critLagSeconds: 300,
  };

  it('status text and JSON, check line and perfdata say when it will be caught up', () => {
    const doc = buildStatus(snapshot(catchUp), 'supervisor');
    expect(doc.catchUp).toMatchObject({ etaSeconds: 240, limitedBy: 'replay', catchingUp: true });
    expect(JSON.parse(JSON.stringify(doc)).catchUp.text).toMatch(/^will be caught up in ~4 min/);
    expect(formatStatus(doc)).toContain('  catch-up: will be caught up in ~4 min (limited by replay');
    const check = evaluateCheck(doc, thresholds);
    expect(check.code).toBe(2);
    expect(check.line).toMatch(/replay lag 500 MB > 64 MB; will be caught up in ~4 min .* \| /);
    expect(check.line).toMatch(/ catchup_eta_seconds=240s;;;0/);

    const behind = buildStatus(
      snapshot({ ...catchUp, catchingUp: false, etaSeconds: null, leaderBytesPerSecond: 5 * 1048576 }),
      'supervisor',
    );
    expect(formatStatus(behind)).toContain('catch-up: not catching up: falling further behind');
    expect(evaluateCheck(behind, thresholds).line).not.toContain('catchup_eta_seconds');

    const unknown = buildStatus(snapshot(null), 'direct');
    expect(unknown.catchUp).toBeNull();
    expect(formatStatus(unknown)).toContain(
      'catch-up: no estimate yet (rates are measured by the running supervisor)',
    );
    expect(evaluateCheck(unknown, thresholds).line).not.toMatch(/caught up|catching up/);
  });

  it('lag alerts carry the estimate; metrics export it and drop it when unknown', async () => {
    const config = loadConfig({ env: {}, overrides: { node: { dataDirectory: '/nonexistent' } } });
    const lag = observeSnapshot(config.alerts.rules, snapshot(catchUp)).filter((o) =>
      o.alert.startsWith('lag-'),
    );
    expect(lag.length).toBeGreaterThan(0);
    for (const o of lag) expect(o.message).toContain('; will be caught up in ~4 min');

    const metrics = createSupervisorMetrics();
    metrics.observe(snapshot(catchUp), 0.01);
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/^pgfollower_catchup_eta_seconds 240$/m);
    expect(text).toMatch(/^pgfollower_catchup_rate_bytes_per_second\{stream="replay"\} 3145728$/m);
    metrics.observe(snapshot(null), 0.01);
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^pgfollower_catchup_eta_seconds /m);
    expect(text).not.toMatch(/^pgfollower_catchup_rate_bytes_per_second\{/m);
  });
});
