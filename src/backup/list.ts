import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../archive/store/store.js';
import { ArchiveError, PgFollowerError, ExitCode } from '../errors.js';
import { BACKUP_ROOT, backupDir, backupIdOfKey, descriptorKey, type BackupDescriptor } from './layout.js';

export interface BackupListing {
  id: string;
  /** Complete when backup.json exists. */
  complete: boolean;
  descriptor: BackupDescriptor | undefined;
}

/** Every backup in the archive, oldest first; incomplete ones (no backup.json) included. */
export async function listBackups(store: ArchiveStore, signal?: AbortSignal): Promise<BackupListing[]> {
  const objects = await store.list(BACKUP_ROOT, { signal });
  const ids = [
    ...new Set(objects.map((o) => backupIdOfKey(o.key)).filter((id): id is string => !!id)),
  ].sort();
  const out: BackupListing[] = [];
  for (const id of ids) {
    const descriptor = await readDescriptor(store, id, signal);
    out.push({ id, complete: descriptor !== undefined, descriptor });
  }
  return out;
}

export async function readDescriptor(
  store: ArchiveStore,
  id: string,
  signal?: AbortSignal,
): Promise<BackupDescriptor | undefined> {
  const object = await store.get(descriptorKey(id), signal);
  if (!object) return undefined;
  const sha = object.metadata.sha256;
  if (sha && createHash('sha256').update(object.body).digest('hex') !== sha) {
    throw new ArchiveError(`${descriptorKey(id)} is corrupt (SHA-256 differs from the one recorded)`, {
      code: 'BACKUP_CORRUPT',
    });
  }
  try {
    return JSON.parse(object.body.toString('utf8')) as BackupDescriptor;
  } catch (error) {
    throw new ArchiveError(`${descriptorKey(id)} is not valid JSON: ${(error as Error).message}`, {
      code: 'BACKUP_CORRUPT',
    });
  }
}

/** The named complete backup, or the newest complete one. */
export async function chooseBackup(
  store: ArchiveStore,
  id: string | undefined,
  signal?: AbortSignal,
): Promise<BackupDescriptor> {
  if (id) {
    const descriptor = await readDescriptor(store, id, signal);
    if (descriptor) return descriptor;
    const any = await store.list(backupDir(id), { signal });
    throw new PgFollowerError(
      'BACKUP_NOT_FOUND',
      any.length > 0
        ? `backup ${id} in ${store.description} is incomplete (no backup.json): it cannot be restored`
        : `no backup ${id} in ${store.description}`,
      ExitCode.USAGE,
      { hint: 'list the backups with pgfollower backup list' },
    );
  }
  const complete = (await listBackups(store, signal)).filter((b) => b.descriptor);
  const newest = complete.at(-1)?.descriptor;
  if (!newest) {
    throw new PgFollowerError(
      'BACKUP_NOT_FOUND',
      `no complete backup in ${store.description}`,
      ExitCode.FAILED,
      {
        hint: 'take one on a follower with pgfollower backup (or enable backup.enabled on one follower), or bootstrap from the leader',
      },
    );
  }
  return newest;
}
