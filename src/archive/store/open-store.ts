import type { Config } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { createFsStore } from './fs-store.js';
import { loadKeyring, withEncryption } from './encryption.js';
import { createS3Store } from './s3-store.js';
import type { ArchiveStore } from './store.js';

/**
 * The configured archive, or a usage error saying how to configure one. Objects are encrypted and
 * decrypted here when archive.encryption is set (encryption.ts); the key is read once per open.
 */
export function openArchiveStore(
  config: Readonly<Config>,
  env: NodeJS.ProcessEnv = process.env,
): ArchiveStore {
  const archive = config.archive;
  const keyring = () => loadKeyring(archive.encryption, env);
  if (archive.type === 'fs' && archive.fs) return withEncryption(createFsStore(archive.fs), keyring());
  if (archive.type === 's3' && archive.s3)
    return withEncryption(createS3Store(archive.s3, archive.timeoutMs), keyring());
  throw new UsageError('no WAL archive is configured (archive.type is none)', {
    hint: 'set archive.type to fs or s3 in the config file; see docs/archive.md',
  });
}
