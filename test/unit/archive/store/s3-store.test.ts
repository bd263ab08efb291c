import { describe, expect, it } from 'vitest';
import { toArchiveError } from '../../../../src/archive/store/s3-store.js';

describe('S3 error classification', () => {
  it('marks network errors and 5xx transient, 403 not', () => {
    expect(
      toArchiveError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'get x')
        .transient,
    ).toBe(true);
    expect(
      toArchiveError(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }), 'get x')
        .transient,
    ).toBe(true);
    const denied = toArchiveError(
      Object.assign(new Error('x'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
      'put x',
    );
    expect(denied.transient).toBe(false);
    expect(denied.code).toBe('ARCHIVE_ACCESS_DENIED');
  });
});
