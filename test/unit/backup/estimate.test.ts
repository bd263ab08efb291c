import { describe, expect, it } from 'vitest';
import {
  chooseReplayRate,
  computeEstimate,
  gatherEstimateInputs,
  type EstimateInputs,
  type Input,
} from '../../../src/backup/estimate.js';
import { type Context } from '../../../src/context.js';
import { unitContext } from '../../helpers/context.js';

const MB = 1024 * 1024;
const i = (value: number | null): Input => ({ value, source: value === null ? 'unknown' : 'flag' });

function inputs(overrides: Partial<EstimateInputs> = {}): EstimateInputs {
  return {
    databaseBytes: i(100_000 * MB),
    backupBytes: i(100_000 * MB),
    walSinceBackupBytes: i(20_000 * MB),
    cloneBytesPerSecond: i(100 * MB),
    restoreBytesPerSecond: i(200 * MB),
    replayBytesPerSecond: i(50 * MB),
    walBytesPerSecond: i(5 * MB),
    retainedBytes: i(36_000 * MB),
    rpoBytes: i(3 * MB),
    ...overrides,
  };
}

describe('computeEstimate (docs/estimates.md)', () => {
  it('applies the formulas', () => {
    const e = computeEstimate(inputs(), { outageSeconds: 4 * 3600, targetRestoreSeconds: 1800 });
    expect(e.rebuildFromLeaderSeconds).toBe(1000); // 100 GB / 100 MB/s
    expect(e.restoreFromArchiveSeconds).toBe(500 + 400); // files 100 GB / 200 MB/s + WAL 20 GB / 50 MB/s
    expect(e.maxSurvivableOutageSeconds).toBe(7200); // 36 GB kept / 5 MB/s
    expect(e.catchUpSecondsAfterOutage).toBe(1600); // 5 * 14400 / (50 - 5)
    expect(e.recommendedBackupIntervalSeconds).toBe(13000); // (1800 - 500) * 50 / 5
    expect(e.rpoBytes).toBe(3 * MB);
    expect(e.notes).toEqual([]);
  });

  it('says when there is no answer instead of inventing one', () => {
    const slowReplay = computeEstimate(inputs({ replayBytesPerSecond: i(4 * MB) }), { outageSeconds: 60 });
    expect(slowReplay.catchUpSecondsAfterOutage).toBeNull();
    expect(slowReplay.notes.join()).toMatch(/never catches up/);
    const tight = computeEstimate(inputs(), { targetRestoreSeconds: 100 });
    expect(tight.recommendedBackupIntervalSeconds).toBe(0);
    expect(tight.notes.join()).toMatch(/no backup interval meets it/);
    const noBackup = computeEstimate(inputs({ backupBytes: i(null) }));
    expect(noBackup.restoreFromArchiveSeconds).toBeNull();
    expect(noBackup.rebuildFromLeaderSeconds).toBe(1000);
  });
});

describe('chooseReplayRate: which replay rate the estimate uses', () => {
  const stored = { bytes: 20 * MB * 10, ms: 10_000, at: '2026-11-30T10:00:00.000Z' }; // 20 MB/s
  const catchUp = (limitedBy: 'replay' | 'fetch' | 'network' | null, replay = 80 * MB) => ({
    catchingUp: true,
    etaSeconds: 60,
    limitedBy,
    leaderBytesPerSecond: 1 * MB,
    receiveBytesPerSecond: replay,
    replayBytesPerSecond: replay,
    windowSeconds: 30,
    text: '',
  });

  it('a flag wins over everything', () => {
    expect(
      chooseReplayRate(5 * MB, { state: 'archive-recovery', catchUp: catchUp('replay') }, stored),
    ).toEqual({
      value: 5 * MB,
      source: 'flag',
    });
  });

  it("prefers the supervisor's rate measured in archive catch-up or limited by replay over a stored one", () => {
    const archive = chooseReplayRate(
      undefined,
      { state: 'archive-recovery', catchUp: catchUp(null) },
      stored,
    );
    expect(archive).toMatchObject({ value: 80 * MB, source: 'supervisor' });
    expect(archive.detail).toBe('measured by the running supervisor over 30 s during archive-recovery');
    const replayBound = chooseReplayRate(
      undefined,
      { state: 'catching-up', catchUp: catchUp('replay') },
      stored,
    );
    expect(replayBound).toMatchObject({ value: 80 * MB, source: 'supervisor' });
    expect(replayBound.detail).toContain('limited by replay');
  });

  it('keeps the stored measurement when the supervisor saw replay wait for WAL (network, fetch)', () => {
    for (const [state, limit] of [
      ['catching-up', 'network'],
      ['archive-recovery', 'fetch'],
    ] as const) {
      const got = chooseReplayRate(undefined, { state, catchUp: catchUp(limit, 3 * MB) }, stored);
      expect(got).toMatchObject({ value: 20 * MB, source: 'measured' });
      expect(got.detail).toContain(stored.at);
    }
  });

  it("falls back to the supervisor's lower bound, then unknown", () => {
    const bound = chooseReplayRate(
      undefined,
      { state: 'catching-up', catchUp: catchUp('network', 3 * MB) },
      undefined,
    );
    expect(bound).toMatchObject({ value: 3 * MB, source: 'supervisor' });
    expect(bound.detail).toContain('a lower bound');
    // No supervisor, or one with no catch-up measured (streaming, or replay standing still).
    expect(chooseReplayRate(undefined, null, undefined)).toEqual({ value: null, source: 'unknown' });
    expect(chooseReplayRate(undefined, { state: 'streaming', catchUp: null }, undefined).source).toBe(
      'unknown',
    );
    expect(
      chooseReplayRate(undefined, { state: 'archive-recovery', catchUp: catchUp(null, 0) }, stored).source,
    ).toBe('measured');
  });
});

describe('gatherEstimateInputs with a running supervisor', () => {
  it("takes the replay and leader WAL rates from the supervisor's catch-up, each saying so", async () => {
    const ctx: Context = unitContext({ backup: { measurementsFile: '/nonexistent/m.json' } });
    const supervisor = {
      state: 'archive-recovery' as const,
      source: 'supervisor' as const,
      catchUp: {
        catchingUp: true,
        etaSeconds: 100,
        limitedBy: 'replay' as const,
        leaderBytesPerSecond: 2 * MB,
        receiveBytesPerSecond: 60 * MB,
        replayBytesPerSecond: 60 * MB,
        windowSeconds: 30,
        text: '',
      },
    };
    const got = await gatherEstimateInputs(ctx, undefined, { supervisor });
    expect(got.replayBytesPerSecond).toMatchObject({ value: 60 * MB, source: 'supervisor' });
    expect(got.walBytesPerSecond).toMatchObject({ value: 2 * MB, source: 'supervisor' });
    expect(got.walBytesPerSecond.detail).toContain('over 30 s');
    const e = computeEstimate(got, { outageSeconds: 3600 });
    expect(e.catchUpSecondsAfterOutage).toBe(124.1); // 2 * 3600 / (60 - 2)
    // No supervisor and nothing stored: unknown, not invented.
    const none = await gatherEstimateInputs(ctx, undefined, { supervisor: null });
    expect(none.replayBytesPerSecond).toEqual({ value: null, source: 'unknown' });
  });
});
