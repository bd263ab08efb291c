import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../archive/store/store.js';
import { ArchiveError, PgFollowerError, ExitCode } from '../errors.js';
import { BACKUP_ROOT, backupDir, backupIdOfKey, descriptorKey, type BackupDescriptor } from './layout.js';

interface BackupListing {
  id: string;
  /** Complete when backup.json exists. */
  complete: boolean;
  descriptor: BackupDescriptor | undefined;
}

/**
 * Every backup in the archive, oldest first; incomplete ones (no backup.json) included. A folder
 * holding nothing but leftover metadata sidecars is no backup: see listLeftoverFolders.
 */
export async function listBackups(store: ArchiveStore, signal?: AbortSignal): Promise<BackupListing[]> {
  return (await scanBackupFolders(store, signal)).backups;
}

/** A `basebackups/<id>/` folder that holds only `.meta` sidecars of parts removed long ago. */
export interface LeftoverFolder {
  id: string;
  /** Keys whose sidecars remain; deleting each removes its sidecar (and the folder once empty). */
  keys: string[];
}

/** Folders left by old code that deleted a backup's parts but not their sidecars (fs archives). */
export async function listLeftoverFolders(
  store: ArchiveStore,
  signal?: AbortSignal,
): Promise<LeftoverFolder[]> {
  return (await scanBackupFolders(store, signal)).leftovers;
}

async function scanBackupFolders(
  store: ArchiveStore,
  signal?: AbortSignal,
): Promise<{ backups: BackupListing[]; leftovers: LeftoverFolder[] }> {
  const objects = await store.list(BACKUP_ROOT, { signal });
  const ids = [
    ...new Set(objects.map((o) => backupIdOfKey(o.key)).filter((id): id is string => !!id)),
  ].sort();
  const backups: BackupListing[] = [];
  const leftovers: LeftoverFolder[] = [];
  for (const id of ids) {
    const descriptor = await readDescriptor(store, id, signal);
    if (!descriptor && store.orphanedSidecars && (await store.list(backupDir(id), { signal })).length === 0) {
      // Nothing visible inside: a folder being created holds only a writer's temp file (not a
      // sidecar); one holding sidecars of objects that are gone is a leftover, not a backup.
      const keys = await store.orphanedSidecars(backupDir(id), signal);
      if (keys.length > 0) {
        leftovers.push({ id, keys });
        continue;
      }
    }
    backups.push({ id, complete: descriptor !== undefined, descriptor });
  }
  return { backups, leftovers };
}

async function readDescriptor(
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
