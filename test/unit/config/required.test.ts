import { describe, expect, it } from 'vitest';
import { requireSetting } from '../../../src/config/required.js';
import { ExitCode, PgFollowerError } from '../../../src/errors.js';

describe('requireSetting', () => {
  it('returns a value that is set', () => {
    expect(requireSetting('/pg/data', 'node.dataDirectory')).toBe('/pg/data');
  });

  it.each([undefined, ''])('refuses %j with the key to set and the usage exit code', (value) => {
    let caught: unknown;
    try {
      requireSetting(value, 'node.dataDirectory');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PgFollowerError);
    expect((caught as PgFollowerError).code).toBe('CONFIG_MISSING');
    expect((caught as PgFollowerError).exitCode).toBe(ExitCode.USAGE);
    expect((caught as PgFollowerError).message).toBe('node.dataDirectory is required');
  });
});
