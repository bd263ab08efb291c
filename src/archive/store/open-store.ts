import type { Config } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { createFsStore } from './fs-store.js';
import { createS3Store } from './s3-store.js';
import type { ArchiveStore } from './store.js';

/** The configured archive, or a usage error saying how to configure one. */
export function openArchiveStore(config: Readonly<Config>): ArchiveStore {
  const archive = config.archive;
  if (archive.type === 'fs' && archive.fs) return createFsStore(archive.fs);
  if (archive.type === 's3' && archive.s3) return createS3Store(archive.s3, archive.timeoutMs);
  throw new UsageError('no WAL archive is configured (archive.type is none)', {
    hint: 'set archive.type to fs or s3 in the config file; see docs/archive.md',
  });
}
