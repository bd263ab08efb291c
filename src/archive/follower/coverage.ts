import type { Context } from '../../context.js';
import { ArchiveError } from '../../errors.js';
import { parseTimelineHistory } from '../../postgres/timeline.js';
import { formatLsn, walFileName, walFileNameForSegNo, type Lsn } from '../../postgres/lsn.js';
import { fileNameOfKey, parseWalFile, timelineDir, timelineHex } from '../store/layout.js';
import type { ArchiveStore } from '../store/store.js';

/**
 * Does the archive hold every segment from a start position to an end position, on the right
 * timelines? A segment belongs to the newest timeline (per the end timeline's `.history`) that had
 * begun by the segment's start; the segment holding a switch point is read from the new timeline,
 * as PostgreSQL does (XLogFileReadAnyTLI). The segment holding `end` is still being written, so
 * coverage stops before it.
 * https://www.postgresql.org/docs/current/continuous-archiving.html#BACKUP-TIMELINES
 */

interface TimelineSpan {
  timeline: number;
  /** First LSN on this timeline (0 for the first). */
  begin: Lsn;
}

interface CoverageRequest {
  startLsn: Lsn;
  endLsn: Lsn;
  endTimeline: number;
  /** wal_segment_size of the servers (fixed at initdb). */
  segmentSize: bigint;
  /**
   * The leader's last archived segment (pg_stat_archiver): segments after it are not missing but
   * still waiting for archive_command, and are counted as `pending`.
   */
  archivedUpTo?: string | null | undefined;
  /** Names listed in the report's `missing` (default 50; the count is always complete). */
  maxListed?: number;
}

export interface CoverageReport {
  ok: boolean;
  archive: string;
  start: { lsn: string; segment: string };
  end: { lsn: string; segment: string; timeline: number };
  timelines: number[];
  /** Segments that must be archived (start .. before end). */
  expected: number;
  present: number;
  missingCount: number;
  /** Segments after the leader's last archived one: not archived yet, not a gap. */
  pending: number;
  /** First missing names, oldest first. */
  missing: string[];
  /** Newest segment in the archive on the end timeline. */
  newestSegment: string | null;
}

/** The timeline spans leading to `timeline`, oldest first, read from the archive's history file. */
async function readTimelineSpans(
  store: ArchiveStore,
  timeline: number,
  signal?: AbortSignal,
): Promise<{ spans: TimelineSpan[]; historyMissing: string | null }> {
  if (timeline <= 1) return { spans: [{ timeline, begin: 0n }], historyMissing: null };
  const name = `${timelineHex(timeline)}.history`;
  const object = await store.get(`${timelineDir(timeline)}${name}`, signal);
  if (!object) return { spans: [{ timeline, begin: 0n }], historyMissing: name };
  let entries;
  try {
    entries = parseTimelineHistory(object.body.toString('utf8'));
  } catch (error) {
    // A damaged history file would place segments on the wrong timeline: say so, never guess.
    throw new ArchiveError(
      `${name} in the archive is not a timeline history file: ${(error as Error).message}`,
      {
        hint: `compare it with pg_wal/${name} on the leader and re-archive it`,
      },
    );
  }
  const spans: TimelineSpan[] = [];
  let begin = 0n;
  for (const entry of entries) {
    spans.push({ timeline: entry.timeline, begin });
    begin = entry.switchLsn;
  }
  spans.push({ timeline, begin });
  return { spans, historyMissing: null };
}

export function timelineOfSegment(
  spans: readonly TimelineSpan[],
  segNo: bigint,
  segmentSize: bigint,
): number {
  let chosen = spans[0]?.timeline ?? 1;
  for (const span of spans) if (span.begin / segmentSize <= segNo) chosen = span.timeline;
  return chosen;
}

/** Names of the WAL files archived on one timeline. */
export async function listTimeline(
  store: ArchiveStore,
  timeline: number,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const names = new Set<string>();
  for (const object of await store.list(timelineDir(timeline), { signal })) {
    const name = fileNameOfKey(object.key);
    if (name && parseWalFile(name)?.kind === 'segment') names.add(name);
  }
  return names;
}

export async function checkCoverage(
  ctx: Context,
  store: ArchiveStore,
  request: CoverageRequest,
): Promise<CoverageReport> {
  const size = request.segmentSize;
  const maxListed = request.maxListed ?? 50;
  const { spans, historyMissing } = await readTimelineSpans(store, request.endTimeline, ctx.signal);
  const startSeg = request.startLsn / size;
  const endSeg = request.endLsn / size;
  const listings = new Map<number, Set<string>>();
  const missing: string[] = [];
  let missingCount = 0;
  let present = 0;
  let pending = 0;
  if (historyMissing) {
    missing.push(historyMissing);
    missingCount++;
  }
  for (let seg = startSeg; seg < endSeg; seg++) {
    const tli = timelineOfSegment(spans, seg, size);
    let names = listings.get(tli);
    if (!names) {
      names = await listTimeline(store, tli, ctx.signal);
      listings.set(tli, names);
    }
    const name = walFileNameForSegNo(tli, seg, size);
    if (names.has(name)) present++;
    else if (request.archivedUpTo && tli === request.endTimeline && name > request.archivedUpTo) pending++;
    else {
      missingCount++;
      if (missing.length < maxListed) missing.push(name);
    }
  }
  const endNames =
    listings.get(request.endTimeline) ?? (await listTimeline(store, request.endTimeline, ctx.signal));
  const newest = [...endNames].sort().pop() ?? null;
  const startTimeline = timelineOfSegment(spans, startSeg, size);
  return {
    ok: missingCount === 0,
    archive: store.description,
    start: { lsn: formatLsn(request.startLsn), segment: walFileName(startTimeline, request.startLsn, size) },
    end: {
      lsn: formatLsn(request.endLsn),
      segment: walFileName(request.endTimeline, request.endLsn, size),
      timeline: request.endTimeline,
    },
    timelines: spans.map((s) => s.timeline).filter((t) => listings.has(t) || t === request.endTimeline),
    expected: Number(endSeg > startSeg ? endSeg - startSeg : 0n),
    present,
    missingCount,
    pending,
    missing,
    newestSegment: newest,
  };
}
