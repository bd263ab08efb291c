import type { Clock } from '../../context.js';
import { walSegmentSize } from '../../monitor/classify.js';
import type { ArchiveProbe } from '../../monitor/snapshot.js';
import type { ArchiveSample, SnapshotInProgress } from '../../monitor/snapshot.js';
import { parseWalFileName, walFileNameForSegNo, WAL_SEGMENT_RE } from '../../postgres/lsn.js';
import { fileNameOfKey, parseWalFile, timelineDir, timelineHex } from '../store/layout.js';
import type { PrefetchStats } from './prefetch.js';
import type { ArchiveStore } from '../store/store.js';

interface ArchiveProbeOptions {
  clock: Clock;
  /** Full re-listing interval; between them only new keys are listed (S3 StartAfter). Default 60 s. */
  relistMs?: number;
  /**
   * While the follower streams and the leader reports nothing archived past what the last listing
   * saw, the archive is listed at most this often. Default 60 s. A listing per tick is a readdir of
   * the whole timeline directory (thousands of entries) or an S3 request every second: it was most
   * of the daemon's CPU (bench/daemon.ts).
   */
  quietListMs?: number;
  /** Longest run of segments scanned for a hole per tick. */
  maxScan?: number;
  prefetchStats?: () => PrefetchStats | undefined;
}

/**
 * The supervisor's cheap, continuous archive check (a listing when there can be news, incremental on
 * S3; see `listingIsCurrent`):
 * the newest archived segment on the follower's timeline and the first segment from the one replay
 * needs onwards that the archive lacks: a hole (a gap before newer segments) or simply the next
 * segment not archived yet. The classifier (src/monitor/classify.ts) calls the follower `stalled`
 * when neither the leader nor the archive has the needed segment.
 */
export function createArchiveProbe(store: ArchiveStore, options: ArchiveProbeOptions): ArchiveProbe {
  const relistMs = options.relistMs ?? 60_000;
  const quietListMs = options.quietListMs ?? 60_000;
  const maxScan = options.maxScan ?? 100_000;
  const cache = new Map<string, { names: Set<string>; lastKey: string | undefined; listedAt: number }>();
  const incremental = store.description.startsWith('s3:');

  async function namesOn(
    tliHex: string,
    snapshot: SnapshotInProgress,
    signal: AbortSignal,
  ): Promise<Set<string>> {
    const prefix = timelineDir(tliHex);
    const now = options.clock.now();
    let entry = cache.get(tliHex);
    if (entry && now - entry.listedAt < quietListMs && listingIsCurrent(snapshot, tliHex, entry.names))
      return entry.names;
    const full = !entry || !incremental || now - entry.listedAt >= relistMs;
    const objects = await store.list(prefix, { signal, ...(full ? {} : { startAfter: entry?.lastKey }) });
    if (full || !entry) {
      entry = { names: new Set(), lastKey: undefined, listedAt: now };
      cache.set(tliHex, entry);
    }
    for (const object of objects) {
      const name = fileNameOfKey(object.key);
      if (name && parseWalFile(name)?.kind === 'segment') entry.names.add(name);
      if (entry.lastKey === undefined || object.key > entry.lastKey) entry.lastKey = object.key;
    }
    return entry.names;
  }

  return async (snapshot, signal): Promise<ArchiveSample> => {
    const needed = snapshot.neededSegment;
    const tliHex =
      needed && WAL_SEGMENT_RE.test(needed)
        ? needed.slice(0, 8)
        : snapshot.leader.ok && snapshot.leader.value.timeline !== null
          ? timelineHex(snapshot.leader.value.timeline)
          : '00000001';
    const names = await namesOn(tliHex, snapshot, signal);
    let newest: string | null = null;
    for (const n of names) if (newest === null || n > newest) newest = n;
    let missing: string | null = null;
    // The next name after ...3F is ...40 with 16 MiB segments but the next log id with 64 MiB ones.
    const segmentSize = walSegmentSize(snapshot.local, snapshot.leader);
    if (needed && WAL_SEGMENT_RE.test(needed) && segmentSize !== null) {
      const tli = Number.parseInt(tliHex, 16);
      let seg = parseWalFileName(needed, segmentSize).segNo;
      const last = newest ? parseWalFileName(newest, segmentSize).segNo : seg - 1n;
      for (let i = 0; i < maxScan; i++, seg++) {
        const name = walFileNameForSegNo(tli, seg, segmentSize);
        if (!names.has(name)) {
          missing = name;
          break;
        }
        if (seg > last) break;
      }
    }
    const stats = options.prefetchStats?.();
    return {
      newestSegment: newest,
      missingSegment: missing,
      fetchedSegments: stats?.fetched ?? 0,
      spooledSegments: stats?.spooled ?? 0,
      ...(stats
        ? {
            prefetchWindowSegments: stats.window,
            prefetchConcurrency: stats.concurrency,
            replaySegmentsPerSecond: stats.replayRate,
            fetchLatencySeconds: stats.fetchLatencyMs === null ? null : stats.fetchLatencyMs / 1000,
          }
        : {}),
    };
  };
}

/**
 * Whether the last listing of a timeline can still be trusted without asking the archive: the
 * follower streams (so nothing is fetched from the archive and no decision rests on it), and the
 * leader says the newest segment it archived is one the listing already holds. Anything else (not
 * streaming, leader unknown, a `.history` or `.partial` archived last, another timeline) lists.
 */
function listingIsCurrent(snapshot: SnapshotInProgress, tliHex: string, names: ReadonlySet<string>): boolean {
  if (!snapshot.local.ok || snapshot.local.value.walReceiver?.status !== 'streaming') return false;
  if (!snapshot.leader.ok) return false;
  const archiver = snapshot.leader.value.archiver;
  if (!archiver) return false;
  const last = archiver.lastArchivedWal;
  // Nothing archived since the leader started: nothing new can be in the archive from it.
  if (last === null) return true;
  return WAL_SEGMENT_RE.test(last) && last.startsWith(tliHex) && names.has(last);
}
