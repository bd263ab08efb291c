import { describe, expect, it } from 'vitest';
import { compactTimestamp } from '../../../src/util/time.js';

describe('compactTimestamp', () => {
  it('writes UTC without separators or milliseconds, from the time it is given', () => {
    expect(compactTimestamp(Date.UTC(2026, 11, 2, 0, 48, 12, 345))).toBe('20261202T004812Z');
    expect(compactTimestamp(new Date('2026-01-05T23:59:59.999Z'))).toBe('20260105T235959Z');
  });

  it('matches the pattern the data-directory door recognises as an aside suffix', () => {
    expect(`/pg/data.old-${compactTimestamp(0)}`).toMatch(/\.(old|failed|incomplete)-\d{8}T\d{6}Z?(-\d+)?$/);
  });
});
