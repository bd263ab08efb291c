import * as zlib from 'node:zlib';
import { z } from 'zod';
import { boundedDuration, boundedSize } from '../units.js';

/**
 * `archive:` section. Owned by the archive domain (src/archive/); documented in docs/archive.md and
 * docs/configuration.md. Credentials for S3 are deliberately not keys here: they come from the
 * standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, instance role),
 * so no secret ever sits in the pgfollower config file or its logs.
 */
export const archiveSection = z
  .strictObject({
    type: z.enum(['none', 'fs', 's3']).default('none'),
    fs: z
      .strictObject({
        path: z.string().min(1),
        /** fsync the file and its directory before reporting a push durable (off only for tests on tmpfs). */
        fsync: z.boolean().default(true),
      })
      .optional(),
    s3: z
      .strictObject({
        bucket: z.string().min(1),
        prefix: z.string().default(''),
        region: z.string().default('us-east-1'),
        /** https (TLS) unless you say otherwise; default AWS. */
        endpoint: z.string().url().optional(),
        forcePathStyle: z.boolean().default(false),
        /** Shared-config profile (~/.aws/config); default: AWS_PROFILE or the default chain. */
        profile: z.string().min(1).optional(),
        /** Server-side encryption, passed through to PutObject. */
        sse: z.enum(['AES256', 'aws:kms', 'aws:kms:dsse']).optional(),
        sseKmsKeyId: z.string().min(1).optional(),
        storageClass: z.string().min(1).optional(),
        /** Attempts per request (the SDK's standard retry with jittered backoff). */
        maxAttempts: z.number().int().min(1).max(20).default(4),
        /**
         * The SDK's extra CRC checksums: `when-required` for S3-compatible stores that reject them
         * (older MinIO, Ceph, s3rver); pgfollower verifies its own SHA-256 either way.
         */
        checksums: z.enum(['when-supported', 'when-required']).default('when-supported'),
      })
      .optional(),
    // Default by store, from `npm run bench archive`: uncompressed is fastest from a local
    // directory (0.92x of cp), lz4 from S3 where bytes over the wire cost more (1.19x vs 2.26x).
    compression: z.enum(['none', 'gzip', 'lz4', 'zstd']).optional(),
    /**
     * The most segments fetched ahead of replay into the spool (0 = no prefetch). The window in use
     * is sized from the measured replay rate and fetch latency (archive/follower/window.ts).
     */
    prefetch: z.number().int().min(0).max(256).default(16),
    /** The most parallel downloads of the prefetcher (the number in use is sized the same way). */
    prefetchConcurrency: z.number().int().min(1).max(32).default(4),
    /**
     * Where prefetched segments wait. Must be on the filesystem of pg_wal so the restore_command's
     * `mv` is a rename. Default: <node.dataDirectory>/pg_wal/.pgfollower-spool.
     */
    spoolDirectory: z.string().min(1).optional(),
    /**
     * Leader side: where `archive push-ahead` leaves `<segment>.pushed` markers that archive_command
     * consumes. Default: <node.dataDirectory>/pg_wal/.pgfollower-pushed.
     */
    pushSpoolDirectory: z.string().min(1).optional(),
    /** Segments `archive push-ahead` pushes at once. */
    pushConcurrency: z.number().int().min(1).max(32).default(4),
    /**
     * Leader side: when the WAL waiting to be archived (`.ready` segments) exceeds this, push-ahead
     * alerts (log and alert channels) and keeps every segment: WAL is never dropped to save the
     * leader's disk (pgBackRest's archive-push-queue-max does drop it). 0 turns the alert off.
     */
    pushBacklogAlertBytes: boundedSize(0, 1024 ** 5).default(1024 * 1024 * 1024),
    /** Bound for one archive operation (one push or one fetch, retries included). */
    timeoutMs: boundedDuration(1000, 3_600_000).default(60_000),
    /**
     * Client-side AES-256-GCM encryption of every object (docs/archive.md#encryption). The key is
     * never in this file: a key file (64 hex digits, mode 600, readable by the PostgreSQL OS user)
     * or an environment variable holding it.
     */
    encryption: z
      .strictObject({
        keyFile: z.string().min(1).optional(),
        keyEnv: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
          .optional(),
        /** Keys of objects written before a rotation (decryption only). */
        previousKeyFiles: z.array(z.string().min(1)).default([]),
        /** Read objects stored before encryption was turned on; turn off once they expired. */
        allowPlaintext: z.boolean().default(true),
      })
      .optional(),
    /**
     * The pgfollower command restore_command falls back to (default: this node binary and script,
     * by absolute path). Set it when pgfollower is installed elsewhere on the follower.
     */
    command: z.string().min(1).optional(),
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
    if (archive.s3?.sseKmsKeyId && !archive.s3.sse?.startsWith('aws:kms')) {
      ctx.addIssue({
        code: 'custom',
        path: ['s3', 'sseKmsKeyId'],
        message: 'sseKmsKeyId needs archive.s3.sse: aws:kms (or aws:kms:dsse)',
      });
    }
    if (archive.encryption && !archive.encryption.keyFile === !archive.encryption.keyEnv) {
      ctx.addIssue({
        code: 'custom',
        path: ['encryption', 'keyFile'],
        message: 'set exactly one of archive.encryption.keyFile and archive.encryption.keyEnv',
      });
    }
    if (archive.compression === 'zstd' && !zstdAvailable()) {
      ctx.addIssue({
        code: 'custom',
        path: ['compression'],
        message: `zstd needs Node.js 22.15 or newer (node:zlib zstd); this is ${process.version}: use lz4 or gzip`,
      });
    }
  })
  .transform((archive) => ({
    ...archive,
    compression: archive.compression ?? (archive.type === 's3' ? ('lz4' as const) : ('none' as const)),
  }));

/** node:zlib gained zstd in Node 22.15; pgfollower uses it only there rather than a native add-on. */
function zstdAvailable(): boolean {
  return 'zstdCompressSync' in zlib;
}
