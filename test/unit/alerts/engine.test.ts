import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertsSection } from '../../../src/config/sections/alerts.js';
import { evaluate, type EngineConfig } from '../../../src/alerts/engine.js';
import { loadAlertState, saveAlertState } from '../../../src/alerts/state-file.js';
import { createAlertState, type AlertState, type Notification } from '../../../src/alerts/types.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';
import { makeSnapshot } from './snapshots.js';

const MB = 1024n * 1024n;
const t0 = Date.parse('2026-01-01T03:00:00Z');

function config(input: Record<string, unknown> = {}): EngineConfig {
  return alertsSection.parse(input);
}

/** Feeds snapshots through the engine, one per `stepMs`, collecting every notification. */
class Run {
  state: AlertState;
  sent: Notification[] = [];
  now = t0;
  constructor(
    readonly cfg: EngineConfig,
    state: AlertState = createAlertState(),
  ) {
    this.state = state;
  }
  tick(patch: Parameters<typeof makeSnapshot>[1], advanceMs = 1000): Notification[] {
    this.now += advanceMs;
    const result = evaluate(this.state, makeSnapshot(this.now, patch), this.now, this.cfg);
    this.state = result.state;
    this.sent.push(...result.notifications);
    return result.notifications;
  }
  /** The same snapshot for `ms`, one tick per second. */
  hold(patch: Parameters<typeof makeSnapshot>[1], ms: number): Notification[] {
    const out: Notification[] = [];
    for (let waited = 0; waited < ms; waited += 1000) out.push(...this.tick(patch));
    return out;
  }
}

const onlyLagBytes = {
  rules: {
    lagSeconds: { enabled: false },
    lagBytes: { warning: '64MB', critical: '1GB', for: '30s', clearBelow: 0.8, clearFor: '1m' },
  },
};

describe('alert rule engine', () => {
  it('fires lag-bytes only after the value stayed above the threshold for `for`', () => {
    const run = new Run(config(onlyLagBytes));
    expect(run.hold({ lagBytes: 100n * MB }, 29_000)).toEqual([]);
    expect(run.state.alerts['lag-bytes']?.phase).toBe('pending');
    const [page, ...more] = run.hold({ lagBytes: 100n * MB }, 2000);
    expect(more).toEqual([]);
    expect(page).toMatchObject({
      status: 'firing',
      alert: 'lag-bytes',
      severity: 'warning',
      node: 'replica-a',
      value: 100 * 1024 * 1024,
      threshold: 64 * 1024 * 1024,
      dedupKey: 'pgfollower/replica-a/lag-bytes',
      kind: 'alert',
    });
    expect(page?.message).toMatch(/100 MB behind the leader/);
    expect(page?.endsAt).toBeUndefined();
  });

  it('drops a pending alert silently when the value falls back before `for`', () => {
    const run = new Run(config(onlyLagBytes));
    run.hold({ lagBytes: 100n * MB }, 20_000);
    run.tick({ lagBytes: 1n * MB });
    expect(run.state.alerts['lag-bytes']).toBeUndefined();
    run.hold({ lagBytes: 100n * MB }, 20_000);
    expect(run.sent).toEqual([]);
  });

  it('clears only after staying under the lower threshold for clearFor (hysteresis)', () => {
    const run = new Run(config(onlyLagBytes));
    run.hold({ lagBytes: 100n * MB }, 31_000);
    expect(run.sent).toHaveLength(1);
    // Under the warning threshold (64 MB) but above 0.8 x 64 MB: still firing, however long.
    expect(run.hold({ lagBytes: 60n * MB }, 300_000)).toEqual([]);
    // Under the clear threshold, but not for a whole minute: still firing.
    expect(run.hold({ lagBytes: 10n * MB }, 50_000)).toEqual([]);
    run.tick({ lagBytes: 60n * MB });
    expect(run.hold({ lagBytes: 10n * MB }, 59_000)).toEqual([]);
    const resolved = run.hold({ lagBytes: 10n * MB }, 2000);
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({
      status: 'resolved',
      alert: 'lag-bytes',
      dedupKey: 'pgfollower/replica-a/lag-bytes',
    });
    expect(resolved[0]?.endsAt).toBe(new Date(run.now).toISOString());
    expect(Date.parse(resolved[0]?.startsAt ?? '')).toBe(t0 + 31_000);
    expect(run.state.alerts['lag-bytes']).toBeUndefined();
  });

  it('escalates to critical once (after `for`) and never pages for de-escalation', () => {
    const run = new Run(config(onlyLagBytes));
    run.hold({ lagBytes: 100n * MB }, 31_000);
    run.hold({ lagBytes: 2048n * MB }, 10_000);
    expect(run.sent).toHaveLength(1);
    const escalated = run.hold({ lagBytes: 2048n * MB }, 25_000);
    expect(escalated).toHaveLength(1);
    expect(escalated[0]).toMatchObject({
      status: 'firing',
      severity: 'critical',
      threshold: 1024 * 1024 * 1024,
    });
    // Hovering around the critical threshold: no more pages.
    for (let i = 0; i < 10; i++) {
      run.tick({ lagBytes: 900n * MB });
      run.tick({ lagBytes: 1100n * MB });
    }
    expect(run.sent).toHaveLength(2);
  });

  it('repeats a still-firing alert every repeatIntervalMs, marked repeat', () => {
    const run = new Run(config({ ...onlyLagBytes, repeatIntervalMs: '10m' }));
    run.hold({ lagBytes: 100n * MB }, 31_000);
    run.hold({ lagBytes: 100n * MB }, 9 * 60_000);
    expect(run.sent).toHaveLength(1);
    const repeats = run.hold({ lagBytes: 100n * MB }, 90_000);
    expect(repeats).toHaveLength(1);
    expect(repeats[0]).toMatchObject({ status: 'firing', repeat: true });
    expect(repeats[0]?.startsAt).toBe(run.sent[0]?.startsAt);
  });

  it('does not page a flapping alert twice within the rate limit', () => {
    const cfg = config({
      rateLimitMs: '10m',
      rules: { lagSeconds: { enabled: false }, lagBytes: { for: 0, clearFor: '5s' } },
    });
    const run = new Run(cfg);
    for (let i = 0; i < 20; i++) {
      run.hold({ lagBytes: 100n * MB }, 3000);
      run.hold({ lagBytes: 0n }, 6000);
    }
    // One page and one resolve; re-fires inside the 10 minutes were held and cleared unseen.
    expect(run.sent.map((n) => n.status)).toEqual(['firing', 'resolved']);
    // Past the rate limit and still firing: it pages again.
    run.hold({ lagBytes: 0n }, 10 * 60_000);
    run.hold({ lagBytes: 100n * MB }, 2000);
    expect(run.sent.map((n) => n.status)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('sends a held alert once the rate limit passes if it still fires', () => {
    const cfg = config({
      rateLimitMs: '2m',
      rules: { lagSeconds: { enabled: false }, lagBytes: { for: 0, clearFor: '5s' } },
    });
    const run = new Run(cfg);
    run.hold({ lagBytes: 100n * MB }, 2000);
    run.hold({ lagBytes: 0n }, 6000);
    expect(run.sent.map((n) => n.status)).toEqual(['firing', 'resolved']);
    run.hold({ lagBytes: 100n * MB }, 100_000);
    expect(run.sent).toHaveLength(2);
    expect(run.state.alerts['lag-bytes']).toMatchObject({ phase: 'firing', notifiedAt: null });
    run.hold({ lagBytes: 100n * MB }, 20_000);
    expect(run.sent.map((n) => n.status)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('keeps state across a restart through the state file: no second page, and the resolve still comes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-alerts-'));
    const file = join(dir, 'sub', 'alerts.json');
    const cfg = config(onlyLagBytes);
    const before = new Run(cfg);
    before.hold({ lagBytes: 100n * MB }, 31_000);
    expect(before.sent).toHaveLength(1);
    await saveAlertState(file, before.state);

    const loaded = await loadAlertState(file, createSilentLogger());
    expect(loaded).toEqual(before.state);
    const after = new Run(cfg, loaded);
    after.now = before.now + 15_000; // the restart took 15 s
    expect(after.hold({ lagBytes: 100n * MB }, 60_000)).toEqual([]);
    const resolved = after.hold({ lagBytes: 0n }, 62_000);
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({
      status: 'resolved',
      dedupKey: before.sent[0]?.dedupKey,
      startsAt: before.sent[0]?.startsAt,
    });
  });

  it('starts empty from a corrupt state file instead of failing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-alerts-'));
    const file = join(dir, 'alerts.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, '{"version": 1, "alerts": {"lag-bytes": 3}}');
    expect(await loadAlertState(file, createSilentLogger())).toEqual(createAlertState());
  });

  it('neither fires nor resolves on unknown values (a source did not answer)', () => {
    const run = new Run(config(onlyLagBytes));
    run.hold({ lagBytes: 100n * MB }, 31_000);
    expect(run.hold({ lagBytes: null }, 600_000)).toEqual([]);
    expect(run.state.alerts['lag-bytes']?.phase).toBe('firing');
  });

  it('fires stalled at once (for 0) as critical, and resolves after clearFor', () => {
    const run = new Run(config());
    const [page] = run.tick({ state: 'stalled' });
    expect(page).toMatchObject({
      alert: 'stalled',
      severity: 'critical',
      status: 'firing',
      value: 'stalled',
    });
    expect(page?.message).toMatch(/rebuild/);
    expect(run.hold({ state: 'streaming' }, 29_000)).toEqual([]);
    expect(run.hold({ state: 'streaming' }, 2000).map((n) => n.status)).toEqual(['resolved']);
  });

  it('fires disconnected after a minute and holds lag alerts meanwhile (one incident, one page)', () => {
    const run = new Run(config({ rules: { lagBytes: { for: '10s' }, lagSeconds: { enabled: false } } }));
    run.hold({ state: 'disconnected', lagBytes: 0n }, 61_000);
    expect(run.sent.map((n) => n.alert)).toEqual(['disconnected']);
    run.hold({ state: 'disconnected', lagBytes: 200n * MB }, 120_000);
    expect(run.sent.map((n) => n.alert)).toEqual(['disconnected']);
    // Reconnected but still far behind: disconnected resolves, the lag is real and pages.
    run.hold({ state: 'catching-up', lagBytes: 200n * MB }, 45_000);
    expect(run.sent.map((n) => `${n.status} ${n.alert}`)).toEqual([
      'firing disconnected',
      'resolved disconnected',
      'firing lag-bytes',
    ]);
  });

  it('fires archive-recovery only past its bound', () => {
    const run = new Run(config({ rules: { archiveRecovery: { for: '5m' } } }));
    run.hold({ state: 'archive-recovery' }, 299_000);
    expect(run.sent).toEqual([]);
    run.hold({ state: 'archive-recovery' }, 2000);
    expect(run.sent[0]).toMatchObject({ alert: 'archive-recovery', severity: 'warning' });
  });

  it('suppresses follower alerts on a primary and resolves what was firing at once', () => {
    const run = new Run(config());
    run.tick({ state: 'stalled' });
    const resolved = run.tick({ state: 'primary', lagBytes: null, lagSeconds: null });
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({ status: 'resolved', alert: 'stalled' });
    expect(resolved[0]?.message).toMatch(/primary/);
    run.hold(
      {
        state: 'primary',
        lagBytes: 5000n * MB,
        leader: {
          archiver: {
            archivedCount: 1,
            failedCount: 3,
            lastArchivedWal: null,
            lastArchivedTime: 1,
            lastFailedWal: 'x',
            lastFailedTime: 2,
          },
        },
      },
      600_000,
    );
    expect(run.sent).toHaveLength(2);
    // The local server is still ours to watch.
    run.hold({ state: 'primary', local: { error: 'connection refused', code: 'ECONNREFUSED' } }, 31_000);
    expect(run.sent[2]).toMatchObject({
      alert: 'local-unreachable',
      severity: 'critical',
      value: 'ECONNREFUSED',
    });
  });

  it('maps slot wal_status: unreserved warns, lost and missing are critical', () => {
    const slot = {
      name: 'replica_a',
      exists: true,
      active: true,
      walStatus: 'unreserved',
      safeWalSizeBytes: 1024n,
      restartLsn: 1n,
    };
    const run = new Run(config());
    expect(run.tick({ leader: { slot } })[0]).toMatchObject({
      alert: 'slot-wal-status',
      severity: 'warning',
      value: 'unreserved',
    });
    // Escalation to lost pages at once (for 0 here), on the same dedup key.
    expect(run.tick({ leader: { slot: { ...slot, walStatus: 'lost' } } })[0]).toMatchObject({
      severity: 'critical',
      value: 'lost',
      dedupKey: 'pgfollower/replica-a/slot-wal-status',
    });
    expect(run.state.alerts['slot-wal-status']?.severity).toBe('critical');
    const missing = new Run(config());
    expect(missing.tick({ leader: { slot: { ...slot, exists: false, walStatus: null } } })[0]).toMatchObject({
      severity: 'critical',
      value: 'missing',
    });
  });

  it("fires archiver-failing while the leader's last failure is newer than its last success", () => {
    const run = new Run(config({ rules: { archiverFailing: { for: '1m' } } }));
    const failing = {
      archivedCount: 10,
      failedCount: 4,
      lastArchivedWal: 'a',
      lastArchivedTime: t0,
      lastFailedWal: 'b',
      lastFailedTime: t0 + 1,
    };
    run.hold({ leader: { archiver: failing } }, 61_000);
    expect(run.sent[0]).toMatchObject({ alert: 'archiver-failing', value: 4 });
    run.hold({ leader: { archiver: { ...failing, lastArchivedTime: t0 + 2 } } }, 31_000);
    expect(run.sent.map((n) => n.status)).toEqual(['firing', 'resolved']);
  });

  it('fires archive-gap when the archive lacks a segment, and leader-wal-full from the forecast', () => {
    const run = new Run(config({ rules: { leaderWalFull: { for: 0 } } }));
    const archive: Snapshot['archive'] = {
      ok: true,
      value: {
        // A hole: the archive already holds a newer segment.
        newestSegment: '000000010000000000000009',
        missingSegment: '000000010000000000000007',
        fetchedSegments: 0,
        spooledSegments: 0,
      },
    };
    const forecast = {
      retainedBytes: 512n * 1024n * 1024n,
      growthBytesPerSecond: 10_000,
      headroomBytes: 108_000_000n,
      secondsUntilFull: 3 * 3600,
      limit: 'max_slot_wal_keep_size' as const,
    };
    const pages = run.tick({ archive, forecast });
    expect(pages.map((n) => [n.alert, n.severity, n.value])).toEqual([
      ['leader-wal-full', 'critical', 10800],
      ['archive-gap', 'warning', '000000010000000000000007'],
    ]);
  });

  it('ignores leader-wal-full when the monitor gives no forecast or the slot has no limit', () => {
    const run = new Run(config({ rules: { leaderWalFull: { for: 0 } } }));
    run.hold({}, 10_000);
    const unlimited = {
      retainedBytes: 1n,
      growthBytesPerSecond: 1,
      headroomBytes: null,
      secondsUntilFull: null,
      limit: null,
    };
    run.hold({ forecast: unlimited }, 10_000);
    expect(run.state.alerts).toEqual({});
  });

  it('resolves leader-wal-full once the slot is lost (no forecast left), instead of repeating it forever', () => {
    const run = new Run(
      config({ rules: { leaderWalFull: { for: 0, clearFor: '1m' }, slotWalStatus: { enabled: false } } }),
    );
    const forecast = {
      retainedBytes: 512n * MB,
      growthBytesPerSecond: 10_000,
      headroomBytes: 1_000_000n,
      secondsUntilFull: 100,
      limit: 'max_slot_wal_keep_size' as const,
    };
    expect(run.tick({ forecast }).map((n) => `${n.status} ${n.alert}`)).toEqual(['firing leader-wal-full']);
    // Invalidated: restart_lsn is NULL, the monitor gives no forecast; the leader still answers.
    const lost = {
      name: 'replica_a',
      exists: true,
      active: false,
      walStatus: 'lost',
      safeWalSizeBytes: null,
      restartLsn: null,
    };
    run.hold({ forecast: null, leader: { slot: lost } }, 61_000);
    expect(run.sent.map((n) => `${n.status} ${n.alert}`)).toEqual([
      'firing leader-wal-full',
      'resolved leader-wal-full',
    ]);
    expect(run.state.alerts['leader-wal-full']).toBeUndefined();
  });

  it('resolves what a rule paged when the rule is disabled by a reload', () => {
    const run = new Run(config());
    run.tick({ state: 'stalled' });
    const off = new Run(config({ rules: { stalled: { enabled: false } } }), run.state);
    off.now = run.now;
    expect(off.tick({ state: 'stalled' }).map((n) => `${n.status} ${n.alert}`)).toEqual(['resolved stalled']);
  });

  it('fires lag-seconds with seconds as value and threshold', () => {
    const run = new Run(config({ rules: { lagBytes: { enabled: false }, lagSeconds: { for: 0 } } }));
    expect(run.tick({ lagSeconds: 400.04 })[0]).toMatchObject({
      alert: 'lag-seconds',
      severity: 'critical',
      value: 400,
      threshold: 300,
    });
  });
});

describe('alert state file location', () => {
  it('uses alerts.stateFile, else beside monitor.stateFile, else beside the data directory', async () => {
    const { resolveAlertStateFile } = await import('../../../src/alerts/state-file.js');
    const { loadConfig } = await import('../../../src/config/index.js');
    const load = (overrides: Record<string, unknown>) => loadConfig({ env: {}, overrides });
    expect(
      resolveAlertStateFile(
        load({ alerts: { stateFile: '/x/a.json' }, monitor: { stateFile: '/m/s.json' } }),
      ),
    ).toBe('/x/a.json');
    expect(resolveAlertStateFile(load({ monitor: { stateFile: '/var/lib/pgfollower/state.json' } }))).toBe(
      '/var/lib/pgfollower/alerts.json',
    );
    expect(resolveAlertStateFile(load({ node: { dataDirectory: '/var/lib/postgresql/15/main' } }))).toBe(
      '/var/lib/postgresql/15/pgfollower-alerts.json',
    );
    expect(resolveAlertStateFile(load({}))).toBeUndefined();
  });
});
