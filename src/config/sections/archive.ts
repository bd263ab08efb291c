import { z } from 'zod';

/**
 * `archive:` section. Owned by the archive domain (src/archive/): extend here.
 */
export const archiveSection = z
  .strictObject({
    type: z.enum(['none', 'fs', 's3']).default('none'),
    fs: z.strictObject({ path: z.string().min(1) }).optional(),
    s3: z
      .strictObject({
        bucket: z.string().min(1),
        prefix: z.string().default(''),
        region: z.string().default('us-east-1'),
        endpoint: z.string().url().optional(),
        forcePathStyle: z.boolean().default(false),
      })
      .optional(),
    compression: z.enum(['none', 'gzip', 'lz4', 'zstd']).default('none'),
    prefetch: z.number().int().min(0).max(256).default(16),
  })
  .superRefine((archive, ctx) => {
    if (archive.type === 'fs' && !archive.fs) {
      ctx.addIssue({
        code: 'custom',
        path: ['fs', 'path'],
        message: 'archive.type is fs: set archive.fs.path to the archive directory',
      });
    }
    if (archive.type === 's3' && !archive.s3) {
      ctx.addIssue({
        code: 'custom',
        path: ['s3', 'bucket'],
        message: 'archive.type is s3: set archive.s3.bucket',
      });
    }
  });
