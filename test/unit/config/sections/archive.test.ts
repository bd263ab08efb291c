import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../src/config/index.js';

describe('config', () => {
  it('defaults to lz4 on S3 and none on fs, 16 segments of prefetch; sseKmsKeyId needs aws:kms', () => {
    const config = loadConfig({ overrides: { archive: { type: 's3', s3: { bucket: 'b' } } }, env: {} });
    expect(config.archive.compression).toBe('lz4');
    const fs = loadConfig({ overrides: { archive: { type: 'fs', fs: { path: '/a' } } }, env: {} });
    expect(fs.archive.compression).toBe('none');
    const chosen = loadConfig({
      overrides: { archive: { type: 's3', s3: { bucket: 'b' }, compression: 'gzip' } },
      env: {},
    });
    expect(chosen.archive.compression).toBe('gzip');
    expect(config.archive.prefetch).toBe(16);
    expect(() =>
      loadConfig({ overrides: { archive: { type: 's3', s3: { bucket: 'b', sseKmsKeyId: 'k' } } }, env: {} }),
    ).toThrow(/sseKmsKeyId/);
  });
});
