import { chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
  const tmp = join(dirname(path), `.${Date.now()}.${process.pid}.tmp`);
  await writeFile(tmp, data, { mode });
  if (runAs) await chown(tmp, runAs.uid, runAs.gid);
  await rename(tmp, path);
}

export async function mkdirOwned(path: string, runAs?: RunAs, mode = 0o700): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  if (runAs) await chown(path, runAs.uid, runAs.gid);
}
