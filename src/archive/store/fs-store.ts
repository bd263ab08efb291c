import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, link, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ArchiveError } from '../../errors.js';
import type { ArchiveStore, ObjectInfo, PutOutcome, StoredObject } from './store.js';

/** Modes of archive files and directories, whatever the umask (docs/archive.md). */
const FILE_MODE = 0o640;
const DIR_MODE = 0o750;

/** Errno codes worth retrying on a network filesystem (NFS server restarting, stale handles). */
const transientErrno = new Set(['EIO', 'ESTALE', 'ETIMEDOUT', 'EAGAIN', 'EBUSY', 'ENOSPC', 'EDQUOT']);

/**
 * A directory archive (local disk or NFS). Atomic, no-overwrite writes: the object is written to a
 * temp file in the target directory, fsynced, then hard-linked to its final name (link fails with
 * EEXIST instead of replacing, unlike rename), and the directory is fsynced so the name survives a
 * crash. Readers never see a partial file because the final name only ever points at a whole one.
 */
export function createFsStore(options: { path: string; fsync: boolean }): ArchiveStore {
  const root = options.path;
  const full = (key: string): string => join(root, key);
  // Run as root (e.g. `archive push-ahead` started by hand), new directories and files take the
  // owner of the archive's nearest existing directory, so archive_command and wal-fetch, which run
  // as the PostgreSQL OS user, can still read and add to them.
  let owner: Promise<{ uid: number; gid: number } | undefined> | undefined;
  const ownerOf = (): Promise<{ uid: number; gid: number } | undefined> =>
    (owner ??= (async () => {
      if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
      for (let dir = root; ; dir = dirname(dir)) {
        const info = await stat(dir).catch(() => undefined);
        if (info) return info.uid === 0 ? undefined : { uid: info.uid, gid: info.gid };
        if (dirname(dir) === dir) return undefined;
      }
    })());

  return {
    description: `fs:${root}`,

    async put(key, body, metadata): Promise<PutOutcome> {
      const target = full(key);
      const dir = dirname(target);
      const tmp = join(dir, `.tmp.${process.pid}.${randomBytes(6).toString('hex')}`);
      const metaTmp = `${tmp}.meta`;
      try {
        const own = await ownerOf();
        const created = await mkdir(dir, { recursive: true, mode: DIR_MODE });
        if (created) {
          // Modes are set explicitly: PostgreSQL runs archive_command under umask 0077, which would
          // make them 0700/0600 and lock out a backup or restore user in the archive's group.
          for (let d = dir; ; d = dirname(d)) {
            await chmod(d, DIR_MODE);
            if (own) await chown(d, own.uid, own.gid);
            if (d === created || dirname(d) === d) break;
          }
        }
        const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
        try {
          await handle.chmod(FILE_MODE);
          if (own) await handle.chown(own.uid, own.gid);
          await handle.writeFile(body);
          if (options.fsync) await handle.sync();
        } finally {
          await handle.close();
        }
        // The metadata (SHA-256, size, codec, system identifier) goes to a hidden sidecar file next
        // to the object, written before the object is linked and renamed into place only by the
        // writer whose link won: readers verify fs objects like S3 ones.
        const hasMetadata = Object.keys(metadata).length > 0;
        if (hasMetadata) {
          const metaHandle = await open(
            metaTmp,
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
            FILE_MODE,
          );
          try {
            await metaHandle.chmod(FILE_MODE);
            if (own) await metaHandle.chown(own.uid, own.gid);
            await metaHandle.writeFile(JSON.stringify(metadata));
            if (options.fsync) await metaHandle.sync();
          } finally {
            await metaHandle.close();
          }
        }
        try {
          await link(tmp, target);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
          throw error;
        }
        if (hasMetadata) await rename(metaTmp, metadataPath(target));
        if (options.fsync) await fsyncDir(dir);
        return 'created';
      } catch (error) {
        throw toArchiveError(error, `write ${target}`);
      } finally {
        await unlink(tmp).catch(() => undefined);
        await unlink(metaTmp).catch(() => undefined);
      }
    },

    async get(key): Promise<StoredObject | undefined> {
      try {
        const body = await readRegularFile(full(key));
        return { key, size: body.length, metadata: await readMetadata(full(key)), body };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw toArchiveError(error, `read ${full(key)}`);
      }
    },

    async head(key): Promise<ObjectInfo | undefined> {
      try {
        const s = await stat(full(key));
        return { key, size: s.size, metadata: await readMetadata(full(key)) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw toArchiveError(error, `stat ${full(key)}`);
      }
    },

    async list(prefix, listOptions = {}): Promise<ObjectInfo[]> {
      // Prefixes are "wal/<tli>/" or "wal/<tli>/<name>": list the folder, filter by name.
      const slash = prefix.lastIndexOf('/');
      const folder = prefix.slice(0, slash + 1);
      const namePrefix = prefix.slice(slash + 1);
      let names: string[];
      try {
        names = await readdir(full(folder || '.'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw toArchiveError(error, `list ${full(folder)}`);
      }
      if (folder === '' || folder === 'wal/') {
        // Listing the timeline level: report each timeline folder's files.
        const out: ObjectInfo[] = [];
        for (const name of names.sort()) {
          if (name.startsWith('.') || !name.startsWith(namePrefix)) continue;
          const sub = `${folder}${name}/`;
          const s = await stat(full(sub)).catch(() => undefined);
          if (s?.isDirectory()) out.push(...(await this.list(sub, listOptions)));
        }
        return out;
      }
      const out: ObjectInfo[] = [];
      for (const name of names.sort()) {
        if (name.startsWith('.') || !name.startsWith(namePrefix)) continue;
        const key = `${folder}${name}`;
        if (listOptions.startAfter !== undefined && key <= listOptions.startAfter) continue;
        out.push({ key, size: -1, metadata: {} });
      }
      return out;
    },

    async delete(key): Promise<boolean> {
      let existed = true;
      try {
        await unlink(full(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          throw toArchiveError(error, `delete ${full(key)}`);
        existed = false;
      }
      // Then its metadata sidecar (also when the object is already gone: a delete interrupted
      // between the two). Left behind, it kept the folder of a removed backup alive, so the
      // backup was still listed (as incomplete) after `backup expire` removed it.
      try {
        await unlink(metadataPath(full(key)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          throw toArchiveError(error, `delete ${metadataPath(full(key))}`);
      }
      // An emptied folder (a removed backup) would still be listed as a key: remove it.
      const top = resolve(root);
      for (let dir = dirname(resolve(full(key))); dir.startsWith(`${top}/`); dir = dirname(dir)) {
        if (
          !(await rmdir(dir).then(
            () => true,
            () => false,
          ))
        )
          break;
      }
      return existed;
    },

    async orphanedSidecars(folder): Promise<string[]> {
      const dir = full(folder.endsWith('/') ? folder : `${folder}/`);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw toArchiveError(error, `list ${dir}`);
      }
      const keys: string[] = [];
      for (const name of names.sort()) {
        // `.<object>.meta`; a writer's `.tmp.*` files are its own (and the orphan sweep's).
        const match = /^\.(.+)\.meta$/.exec(name);
        if (!match?.[1] || name.startsWith('.tmp.')) continue;
        const object = match[1];
        if (!names.includes(object)) keys.push(`${folder.endsWith('/') ? folder : `${folder}/`}${object}`);
      }
      return keys;
    },

    close() {},
  };
}

/**
 * Reads an archive object that must be a regular file. Opened non-blocking and checked with fstat
 * first: a FIFO (or device) planted under an object's name would block open() or read() in a
 * libuv thread forever, and even process.exit waits for that thread.
 */
async function readRegularFile(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new ArchiveError(`${path} is not a regular file; refusing to read it`, {
        code: 'ARCHIVE_CORRUPT',
        hint: 'something other than wal-push put this there (a FIFO or device under a WAL name): remove it',
      });
    }
    // Objects are written once and renamed into place: read the size stat gave in one read
    // (readFile reads in 512 KiB rounds through the thread pool, several times the CPU for 16 MiB).
    // A short read (a file truncated under us) returns what was there; verification refuses it.
    const body = Buffer.allocUnsafe(info.size);
    let filled = 0;
    while (filled < body.length) {
      const { bytesRead } = await handle.read(body, filled, body.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === body.length ? body : body.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** The hidden file holding an object's metadata: `.<name>.meta` beside it (listings skip dot files). */
export function metadataPath(objectPath: string): string {
  return join(dirname(objectPath), `.${basename(objectPath)}.meta`);
}

async function readMetadata(objectPath: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = (await readRegularFile(metadataPath(objectPath))).toString('utf8');
  } catch (error) {
    // No sidecar: an object written before sidecars existed, or by hand. Readers then rely on the
    // codec checksum and the segment header.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter(
        (e): e is [string, string] => typeof e[1] === 'string',
      ),
    );
  } catch {
    return {};
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function toArchiveError(error: unknown, what: string): ArchiveError {
  if (error instanceof ArchiveError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  return new ArchiveError(`cannot ${what}: ${(error as Error).message}`, {
    cause: error,
    transient: code !== undefined && transientErrno.has(code),
    hint:
      code === 'EACCES'
        ? 'the archive directory must be writable by the PostgreSQL OS user (archive_command runs as it)'
        : undefined,
  });
}
