import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classifyRetry } from '../../../src/monitor/connection.js';
import { computeBackoffMs } from '../../../src/util/backoff.js';
import { DatabaseUnavailableError } from '../../../src/errors.js';

function dbError(code: string): Error {
  const e = new pg.DatabaseError('x', 1, 'error');
  e.code = code;
  return e;
}

describe('backoff', () => {
  it('doubles from the base, caps, and jitters within [half, full]', () => {
    const o = { baseMs: 1000, maxMs: 15_000 };
    expect(computeBackoffMs(0, o, () => 0)).toBe(500);
    expect(computeBackoffMs(0, o, () => 1)).toBe(1000);
    expect(computeBackoffMs(3, o, () => 1)).toBe(8000);
    expect(computeBackoffMs(10, o, () => 1)).toBe(15_000);
    expect(computeBackoffMs(10, o, () => 0)).toBe(7500);
  });
  it('tells what an operator must fix from what passes', () => {
    expect(classifyRetry(dbError('28P01'))).toBe('needs-operator');
    expect(classifyRetry(dbError('3D000'))).toBe('needs-operator');
    expect(classifyRetry(dbError('57P03'))).toBe('transient');
    expect(classifyRetry(new DatabaseUnavailableError('x', { cause: dbError('28000') }))).toBe(
      'needs-operator',
    );
    expect(classifyRetry(new DatabaseUnavailableError('connect ECONNREFUSED'))).toBe('transient');
  });
});
