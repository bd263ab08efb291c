import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, lchown, mkdir, open, rm, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { codecOfKey, decode } from '../archive/store/codec.js';
import { withArchiveRetries } from '../archive/store/retry.js';
import type { ArchiveStore, StoredObject } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { ArchiveError } from '../errors.js';
import { writeFileAtomic } from '../postgres/fs-as.js';
import type { BackupDescriptor, BackupPart } from './layout.js';
import { formatTablespaceMap, tablespaceTargets, type TablespaceTarget } from './tablespaces.js';
import { TarParser, type TarEntry } from './tar.js';

interface RestoreFilesOptions {
  /** An absent or empty directory; created with mode 0700. */
  targetDirectory: string;
  /** Write pg_basebackup's backup_manifest into the directory too (for pg_verifybackup). */
  includeManifest?: boolean;
  /** Where each tablespace goes (tablespaces.ts); default: its original location. */
  tablespaces?: readonly TablespaceTarget[];
  /**
   * Rewrite tablespace_map with the targets (a restore that PostgreSQL will start), or keep the
   * backup's own (pg_verifybackup checks it against the manifest). Default: rewrite.
   */
  tablespaceMap?: 'rewrite' | 'keep';
}

interface RestoreFilesResult {
  rawBytes: number;
  files: number;
  durationMs: number;
}

/**
 * Restores the files of a stored backup into a directory: parts are fetched one ahead of the one
 * being written, each checked against the SHA-256 recorded when it was stored, decompressed and
 * unpacked as it arrives (no temporary copy of the tar). Each tablespace's tar goes into its
 * target directory (absent or empty: the caller checked) and `pg_tblspc/<oid>` links to it. Files
 * belong to the PostgreSQL OS user when pgfollower runs as root. Does not touch WAL: recovery
 * fetches it through restore_command.
 */
export async function restoreBackupFiles(
  ctx: Context,
  store: ArchiveStore,
  backup: BackupDescriptor,
  options: RestoreFilesOptions,
): Promise<RestoreFilesResult> {
  const started = ctx.clock.now();
  const runAs = ctx.exec.runAs;
  const root = options.targetDirectory;
  const progress = { done: 0, total: backup.rawBytes };
  let files: number;
  try {
    files = await unpackParts(ctx, store, backup.parts, root, progress, options.includeManifest === true);
    const targets = options.tablespaces ?? tablespaceTargets(backup, new Map());
    for (const { tablespace, target } of targets) {
      ctx.reporter.step(`restoring tablespace ${tablespace.name} (OID ${tablespace.oid}) into ${target}`);
      files += await unpackParts(ctx, store, tablespace.parts, target, progress, false);
      // pg_basebackup -Ft leaves the links out of base.tar (tablespace_map names them instead).
      const link = join(root, 'pg_tblspc', String(tablespace.oid));
      await mkdir(join(root, 'pg_tblspc'), { recursive: true, mode: 0o700 });
      await rm(link, { force: true });
      await symlink(target, link);
      if (runAs) await lchown(link, runAs.uid, runAs.gid);
    }
    if (targets.length > 0 && options.tablespaceMap !== 'keep') {
      // PostgreSQL (re)creates the links from tablespace_map when recovery starts: it must name the
      // targets, not the source's locations.
      await writeFileAtomic(
        join(root, 'tablespace_map'),
        formatTablespaceMap(targets.map((t) => ({ oid: t.tablespace.oid, location: t.target }))),
        runAs,
      );
    }
  } finally {
    ctx.reporter.progressEnd();
  }
  // pg_basebackup -X none leaves pg_wal empty; PostgreSQL expects archive_status inside it.
  for (const dir of ['pg_wal', 'pg_wal/archive_status']) {
    await mkdir(join(root, dir), { recursive: true, mode: 0o700 });
    if (runAs) await chown(join(root, dir), runAs.uid, runAs.gid);
  }
  return { rawBytes: progress.done, files, durationMs: ctx.clock.now() - started };
}

/** Unpacks one tar, stored as `parts`, into `root` (created 0700); returns the files written. */
async function unpackParts(
  ctx: Context,
  store: ArchiveStore,
  parts: readonly BackupPart[],
  root: string,
  progress: { done: number; total: number },
  includeManifest: boolean,
): Promise<number> {
  const runAs = ctx.exec.runAs;
  // Every directory made on the way belongs to the server's user: it must reach a tablespace.
  const first = await mkdir(root, { recursive: true, mode: 0o700 });
  await chmod(root, 0o700);
  if (runAs) {
    for (let dir = root; first !== undefined; dir = dirname(dir)) {
      await chown(dir, runAs.uid, runAs.gid);
      if (dir === first || dirname(dir) === dir) break;
    }
    await chown(root, runAs.uid, runAs.gid);
  }
  let handle: FileHandle | undefined;
  let files = 0;
  const own = async (path: string, link = false): Promise<void> => {
    if (!runAs) return;
    if (link) await lchown(path, runAs.uid, runAs.gid);
    else await chown(path, runAs.uid, runAs.gid);
  };
  const skip = (entry: TarEntry): boolean =>
    entry.path === '' || (entry.path === 'backup_manifest' && !includeManifest);
  const parser = new TarParser({
    entry: async (entry) => {
      if (skip(entry)) return;
      const path = join(root, entry.path);
      if (entry.type === 'directory') {
        await mkdir(path, { recursive: true, mode: 0o700 });
        await chmod(path, entry.mode & 0o750 ? entry.mode & 0o750 : 0o700);
        await own(path);
      } else if (entry.type === 'symlink') {
        await symlink(entry.linkTarget, path);
        await own(path, true);
      } else {
        files++;
        handle = await open(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
          entry.mode & 0o640 || 0o600,
        );
        if (runAs) await handle.chown(runAs.uid, runAs.gid);
      }
    },
    data: async (entry, chunk) => {
      if (skip(entry) || !handle) return;
      await handle.write(chunk);
    },
    end: async (entry) => {
      if (skip(entry) || entry.type !== 'file' || !handle) return;
      const h = handle;
      handle = undefined;
      await h.close();
    },
  });

  const fetchPart = (index: number): Promise<Buffer> | undefined => {
    const part = parts[index];
    if (!part) return undefined;
    return withArchiveRetries(
      `fetching ${part.key}`,
      () => readPart(store, part.key, part.sha256, ctx.signal),
      {
        attempts: 4,
        signal: ctx.signal,
        logger: ctx.logger,
        clock: ctx.clock,
        deadlineMs: Math.max(ctx.config.archive.timeoutMs, 300_000),
      },
    ).then(async (body) => {
      const raw = await decode(codecOfKey(part.key), body);
      if (raw.length !== part.rawBytes) {
        throw new ArchiveError(
          `${part.key} is corrupt: ${raw.length} bytes after decoding, ${part.rawBytes} recorded`,
          {
            code: 'BACKUP_CORRUPT',
            hint: 'this backup is damaged: restore another one (--backup ID) or bootstrap from the leader',
          },
        );
      }
      return raw;
    });
  };
  try {
    let next = fetchPart(0);
    for (let i = 0; next; i++) {
      const current = next;
      next = fetchPart(i + 1);
      // A read-ahead that fails while this part is written is reported when its turn comes.
      next?.catch(() => undefined);
      const raw = await current;
      await parser.write(raw);
      progress.done += raw.length;
      ctx.reporter.progress(progress.done, progress.total, 'restore');
    }
    parser.finish();
  } finally {
    await (handle as FileHandle | undefined)?.close().catch(() => undefined);
  }
  return files;
}

async function readPart(
  store: ArchiveStore,
  key: string,
  sha256: string,
  signal: AbortSignal,
): Promise<Buffer> {
  const object: StoredObject | undefined = await store.get(key, signal);
  if (!object) {
    throw new ArchiveError(`${key} is missing from ${store.description}`, {
      code: 'BACKUP_CORRUPT',
      hint: 'this backup is damaged: restore another one (--backup ID) or bootstrap from the leader',
    });
  }
  if (createHash('sha256').update(object.body).digest('hex') !== sha256) {
    throw new ArchiveError(
      `${key} is corrupt: its SHA-256 differs from the one recorded when it was stored`,
      {
        code: 'BACKUP_CORRUPT',
        hint: 'this backup is damaged: restore another one (--backup ID) or bootstrap from the leader',
      },
    );
  }
  return object.body;
}
