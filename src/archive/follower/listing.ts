import { parseWalFileName } from '../../postgres/lsn.js';
import { candidateKeys, fileNameOfKey, parseWalFile, timelineDir, timelineHex } from '../store/layout.js';
import type { ArchiveStore } from '../store/store.js';

/**
 * What the archive holds on one timeline, read by listing the store: used by promote to know
 * whether archived WAL is still to be replayed before recovery ends.
 */

interface ArchiveListing {
  /** WAL segment names on the timeline asked for (24 hex digits). */
  segments: string[];
  /** Newer timelines that have a `.history` file: someone already promoted from this history. */
  newerTimelines: number[];
}

/** Reads what the archive holds on `timeline`, and whether a newer timeline exists there. */
export async function listArchive(
  store: ArchiveStore,
  timeline: number,
  signal: AbortSignal,
): Promise<ArchiveListing> {
  const objects = await store.list(timelineDir(timeline), { signal });
  const segments: string[] = [];
  for (const o of objects) {
    const name = fileNameOfKey(o.key);
    const file = name ? parseWalFile(name) : undefined;
    if (file?.kind === 'segment' && file.timeline === timeline) segments.push(file.name);
  }
  // A promotion writes <tli>.history first; a few timelines ahead covers repeated failed attempts.
  const newerTimelines: number[] = [];
  for (let t = timeline + 1; t <= timeline + 3; t++) {
    const history = parseWalFile(`${timelineHex(t)}.history`);
    if (!history) continue;
    for (const key of candidateKeys(history)) {
      if (await store.head(key, signal)) {
        newerTimelines.push(t);
        break;
      }
    }
  }
  return { segments, newerTimelines };
}

/** Newest segment number in the listing, or null. */
export function newestSegment(segments: readonly string[], segmentSize: bigint): bigint | null {
  let best: bigint | null = null;
  for (const name of segments) {
    const { segNo } = parseWalFileName(name, segmentSize);
    if (best === null || segNo > best) best = segNo;
  }
  return best;
}
