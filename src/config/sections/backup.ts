import { z } from 'zod';
import { durationMs, sizeBytes } from '../units.js';

/**
 * `backup:` section: base backups into the archive (src/backup/, docs/backups.md). One follower
 * per cluster should have `enabled: true`; every follower may take one by hand.
 */
export const backupSection = z.strictObject({
  /** The supervisor takes backups on `schedule` while this follower streams. */
  enabled: z.boolean().default(false),
  /** Time between scheduled backups (a jitter of up to 10 % is added). */
  schedule: durationMs.default(24 * 3600_000),
  /** Complete backups `backup expire` keeps (the newest ones). */
  keep: z.number().int().min(1).max(1000).default(3),
  /** Copy from this follower (no load on the leader) or from the leader. */
  source: z.enum(['local', 'leader']).default('local'),
  /** Size of one stored part of the tar stream (memory use is about two parts). */
  partSize: sizeBytes
    .pipe(
      z
        .number()
        .min(1024 * 1024, 'at least 1MB')
        .max(1024 * 1024 * 1024, 'at most 1GB'),
    )
    .default(64 * 1024 * 1024),
  /** Compression of the parts; lz4 is cheap and data files compress well. */
  compression: z.enum(['none', 'gzip', 'lz4', 'zstd']).default('lz4'),
  /** How long a backup waits for the end of its WAL to reach the archive. */
  walTimeoutMs: durationMs.default(600_000),
  /**
   * Where this host keeps its measured clone, restore and replay throughputs for `estimate`.
   * Default: `.<data directory name>.pgfollower-measurements.json` beside the data directory.
   */
  measurementsFile: z.string().min(1).optional(),
  /**
   * Where a backup of a cluster with user tablespaces is staged (pg_basebackup cannot stream more
   * than one tablespace): a private directory is made inside it and removed afterwards. Default:
   * the directory that holds node.dataDirectory (else the system temp directory).
   */
  stagingDirectory: z.string().min(1).optional(),
});
