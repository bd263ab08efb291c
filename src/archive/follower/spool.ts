import { chown, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import type { RunAs } from '../../exec/run.js';
import type { Context } from '../../context.js';
import { readControlData } from '../../postgres/cluster.js';
import { parseWalFileName, walFileNameForSegNo, WAL_SEGMENT_RE } from '../../postgres/lsn.js';

/**
 * The prefetch spool: a directory on the filesystem of pg_wal where the prefetcher leaves verified
 * segments under their own names. restore_command's shell fast path `mv`s one into place (a rename:
 * atomic, no copy). Files being written are named `.tmp.*` so the fast path never sees half of one.
 * The Node fallback (wal-fetch) leaves the name it was asked for in `.requested`, which tells the
 * prefetcher where replay is when nothing was spooled yet (first request, new timeline).
 */
const REQUESTED_FILE = '.requested';

/**
 * `<name>.missing`: the prefetcher asked the archive for `name` within the last second or so and it
 * was not there. restore_command answers "not available" from a marker younger than a few seconds
 * (restore-command.ts) instead of starting Node; an old marker (prefetcher gone) is ignored.
 */
export const MISSING_SUFFIX = '.missing';
/** `<name>.inflight`: the prefetcher is fetching `name` right now; restore_command waits for it. */
export const INFLIGHT_SUFFIX = '.inflight';

/** Removes what an earlier run left: segments maybe of another timeline, half-written files, markers. */
export async function clearSpool(spoolDir: string): Promise<void> {
  for (const name of await readdir(spoolDir)) {
    if (
      name.startsWith('.tmp.') ||
      name.endsWith(MISSING_SUFFIX) ||
      name.endsWith(INFLIGHT_SUFFIX) ||
      WAL_SEGMENT_RE.test(name)
    )
      await unlink(join(spoolDir, name)).catch(() => undefined);
  }
}

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

/**
 * The segment before the control file's REDO segment (replay starts there) and the cluster's WAL
 * segment size, each null when unknown.
 */
export async function readRedoCursor(
  ctx: Pick<Context, 'exec' | 'bin'>,
  dataDirectory: string,
): Promise<{ cursor: string | null; segmentSize: bigint | null }> {
  try {
    const control = await readControlData({ exec: ctx.exec, bin: ctx.bin }, dataDirectory);
    const bytes = control['Bytes per WAL segment'];
    const segmentSize = bytes && /^\d+$/.test(bytes) ? BigInt(bytes) : null;
    const redo = control["Latest checkpoint's REDO WAL file"];
    if (!redo || !WAL_SEGMENT_RE.test(redo) || segmentSize === null) return { cursor: null, segmentSize };
    const { segNo } = parseWalFileName(redo, segmentSize);
    return {
      cursor: walFileNameForSegNo(Number.parseInt(redo.slice(0, 8), 16), segNo - 1n, segmentSize),
      segmentSize,
    };
  } catch {
    // No control file or no pg_controldata: the first request through wal-fetch sets the window.
    return { cursor: null, segmentSize: null };
  }
}
