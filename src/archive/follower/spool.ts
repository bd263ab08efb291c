import { chown, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import type { RunAs } from '../../exec/run.js';

/**
 * The prefetch spool: a directory on the filesystem of pg_wal where the prefetcher leaves verified
 * segments under their own names. restore_command's shell fast path `mv`s one into place (a rename:
 * atomic, no copy). Files being written are named `.tmp.*` so the fast path never sees half of one.
 * The Node fallback (wal-fetch) leaves the name it was asked for in `.requested`, which tells the
 * prefetcher where replay is when nothing was spooled yet (first request, new timeline).
 */
export const REQUESTED_FILE = '.requested';

export function spoolDirectoryFor(config: Readonly<Config>): string | undefined {
  if (config.archive.spoolDirectory) return config.archive.spoolDirectory;
  if (config.node.dataDirectory) return join(config.node.dataDirectory, 'pg_wal', '.pgfollower-spool');
  return undefined;
}

export async function readRequested(spoolDir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(spoolDir, REQUESTED_FILE), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function writeRequested(spoolDir: string, name: string, runAs?: RunAs): Promise<void> {
  const tmp = join(spoolDir, `.tmp.requested.${process.pid}`);
  await writeFile(tmp, `${name}\n`, { mode: 0o600 });
  if (runAs) await chown(tmp, runAs.uid, runAs.gid);
  await rename(tmp, join(spoolDir, REQUESTED_FILE));
}
