import { fileNameOfKey, timelineDir } from '../archive/store/layout.js';
import type { ArchiveStore } from '../archive/store/store.js';
import { parseLsn, walFileName } from '../postgres/lsn.js';
import type { WalRange } from './layout.js';

/**
 * The WAL segment files a backup needs, from the manifest's WAL ranges: every segment from the
 * start LSN to the end LSN on each range's timeline. When a range ends at a timeline switch, its
 * last segment is read from the next timeline's file (the old timeline's copy may only exist as
 * .partial), so that one is left out.
 */
export function walFilesForRanges(ranges: readonly WalRange[], segmentSize: number): string[] {
  const size = BigInt(segmentSize);
  const out: string[] = [];
  ranges.forEach((range, index) => {
    const start = parseLsn(range.startLsn) / size;
    const endLsn = parseLsn(range.endLsn);
    // The segment holding the last byte before endLsn.
    let end = (endLsn > 0n ? endLsn - 1n : 0n) / size;
    if (end < start) end = start;
    const last = index === ranges.length - 1 ? end : end - 1n;
    for (let seg = start; seg <= last; seg++) out.push(walFileName(range.timeline, seg * size, size));
  });
  return [...new Set(out)];
}

/** The names among `names` that the archive does not hold (under any codec). */
export async function missingWalFiles(
  store: ArchiveStore,
  names: readonly string[],
  signal?: AbortSignal,
): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const listed = await store.list(`${timelineDir(name.slice(0, 8))}${name}`, { signal });
    if (!listed.some((o) => fileNameOfKey(o.key) === name)) missing.push(name);
  }
  return missing;
}
