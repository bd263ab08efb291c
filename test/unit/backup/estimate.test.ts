import { describe, expect, it } from 'vitest';
import { computeEstimate, type EstimateInputs, type Input } from '../../../src/backup/estimate.js';

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
