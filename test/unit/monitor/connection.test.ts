import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../../../src/errors.js';
import { classifyRetry } from '../../../src/monitor/connection.js';

function dbError(code: string): Error {
  const e = new pg.DatabaseError('x', 1, 'error');
  e.code = code;
  return e;
}

describe('classifyRetry', () => {
  it('tells what an operator must fix from what passes', () => {
    expect(classifyRetry(dbError('28P01'))).toBe('needs-operator');
    expect(classifyRetry(dbError('3D000'))).toBe('needs-operator');
    expect(classifyRetry(dbError('42501'))).toBe('needs-operator');
    expect(classifyRetry(dbError('57P03'))).toBe('transient');
    expect(classifyRetry(new DatabaseUnavailableError('x', { cause: dbError('28000') }))).toBe(
      'needs-operator',
    );
    expect(classifyRetry(new DatabaseUnavailableError('connect ECONNREFUSED'))).toBe('transient');
  });
});
