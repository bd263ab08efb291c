import { describe, expect, it } from 'vitest';
import { computeBackoffMs } from '../../../src/util/backoff.js';

describe('computeBackoffMs', () => {
  it('doubles from the base, caps, and jitters within [half, full]', () => {
    const o = { baseMs: 1000, maxMs: 15_000 };
    expect(computeBackoffMs(0, o, () => 0)).toBe(500);
    expect(computeBackoffMs(0, o, () => 1)).toBe(1000);
    expect(computeBackoffMs(3, o, () => 1)).toBe(8000);
    expect(computeBackoffMs(10, o, () => 1)).toBe(15_000);
    expect(computeBackoffMs(10, o, () => 0)).toBe(7500);
  });
});
