import { chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RunAs } from '../exec/run.js';

/**
 * Writes a file atomically (temp file + rename) so a reader never sees half of it, owned by the
 * PostgreSQL OS user when we are root.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Buffer,
  runAs?: RunAs,
  mode = 0o600,
): Promise<void> {
  // Unique, not timed: two writes of one path in the same millisecond must not share a temp file.
  const tmp = join(dirname(path), `.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(tmp, data, { mode });
  if (runAs) await chown(tmp, runAs.uid, runAs.gid);
  await rename(tmp, path);
}

export async function mkdirOwned(path: string, runAs?: RunAs, mode = 0o700): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  if (runAs) await chown(path, runAs.uid, runAs.gid);
}
