import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Temp files pgfollower writes before a rename or link: `.tmp.<pid>.<random>` (and `.meta`). */
const TEMP_RE = /^\.tmp\./;

/**
 * How old an orphan temp file must be before it is removed: well past the longest a live writer
 * can take (one push or fetch is bounded by archive.timeoutMs), and never under 15 minutes.
 */
export function orphanAgeMs(timeoutMs: number): number {
  return Math.max(15 * 60_000, 4 * timeoutMs);
}

/**
 * Removes `.tmp.*` files older than `olderThanMs` from `dirs` (a killed wal-push leaves one in the
 * fs archive, a killed wal-fetch one in pg_wal, a killed prefetcher one in the spool). Nothing
 * else is touched. Returns the paths removed; unreadable directories are skipped.
 */
export async function sweepOrphanTemps(
  dirs: readonly string[],
  olderThanMs: number,
  now: number,
): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!TEMP_RE.test(name)) continue;
      const path = join(dir, name);
      try {
        const info = await stat(path);
        if (!info.isFile() || now - info.mtimeMs < olderThanMs) continue;
        await unlink(path);
        removed.push(path);
      } catch {
        // Renamed or removed meanwhile by its writer: nothing to do.
      }
    }
  }
  return removed;
}

/** The directories of an fs archive where writes leave temp files: every timeline and claims folder. */
export async function fsArchiveTempDirs(root: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const top of ['wal', 'claims']) {
    let names: string[];
    try {
      names = await readdir(join(root, top));
    } catch {
      continue;
    }
    for (const name of names) if (!name.startsWith('.')) dirs.push(join(root, top, name));
  }
  return dirs;
}
