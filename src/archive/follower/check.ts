import type { Context } from '../../context.js';
import { DatabaseUnavailableError, UsageError } from '../../errors.js';
import { localConninfo, withClient } from '../../postgres/client.js';
import { parseLsn, parseWalFileName, segmentStartLsn, WAL_SEGMENT_RE, type Lsn } from '../../postgres/lsn.js';
import { checkCoverage, type CoverageReport } from './coverage.js';
import { openArchiveStore } from '../store/open-store.js';

interface ArchiveCheckOptions {
  start?: string | undefined;
  end?: string | undefined;
  timeline?: number | undefined;
}

/** `archive check`: resolves the range (flags, else follower replay and leader position) and checks it. */
export async function runArchiveCheck(ctx: Context, options: ArchiveCheckOptions): Promise<CoverageReport> {
  const store = openArchiveStore(ctx.config);
  try {
    const replay = options.start ? null : await readReplayPosition(ctx);
    const leader = options.end ? null : await readLeaderPosition(ctx);
    // Segment names and numbers depend on the size chosen at initdb: ask a server, never assume.
    const segmentSize = replay?.segmentSize ?? leader?.segmentSize ?? (await readSegmentSize(ctx));
    const start = replay ?? parsePosition(options.start ?? '', segmentSize);
    let end: Lsn;
    let timeline: number;
    let archivedUpTo: string | null = null;
    if (!leader) {
      end = parseLsn(options.end ?? '');
      timeline = options.timeline ?? start.timeline;
    } else {
      end = leader.lsn;
      timeline = options.timeline ?? leader.timeline;
      archivedUpTo = leader.lastArchived;
    }
    return await checkCoverage(ctx, store, {
      startLsn: start.lsn,
      endLsn: end,
      endTimeline: timeline,
      archivedUpTo,
      segmentSize,
    });
  } finally {
    store.close();
  }
}

const segmentSizeSql = "pg_size_bytes(current_setting('wal_segment_size'))::text AS segsize";

/** wal_segment_size from the local server, else the leader. */
async function readSegmentSize(ctx: Context): Promise<bigint> {
  const targets = [localConninfo(ctx.config.node), ctx.config.leader.conninfo].filter(
    (c): c is string => c !== undefined,
  );
  const errors: string[] = [];
  for (const conninfo of targets) {
    try {
      return await withClient(
        conninfo,
        { connectTimeoutMs: ctx.config.leader.connectTimeoutMs, signal: ctx.signal },
        async (client) => {
          const { rows } = await client.query<{ segsize: string }>(`SELECT ${segmentSizeSql}`);
          return BigInt(rows[0]?.segsize ?? '');
        },
      );
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  throw new DatabaseUnavailableError(
    `cannot read wal_segment_size from the follower or the leader: ${errors.join('; ') || 'neither is configured'}`,
    { hint: 'start the follower or set leader.conninfo: segment names depend on the size chosen at initdb' },
  );
}

function parsePosition(text: string, segmentSize: bigint): { lsn: Lsn; timeline: number } {
  if (WAL_SEGMENT_RE.test(text)) {
    const { timeline, segNo } = parseWalFileName(text, segmentSize);
    return { lsn: segmentStartLsn(segNo, segmentSize), timeline };
  }
  try {
    return { lsn: parseLsn(text), timeline: 1 };
  } catch {
    throw new UsageError(`--start ${text} is neither an LSN (0/3000000) nor a WAL segment name`);
  }
}

async function readReplayPosition(
  ctx: Context,
): Promise<{ lsn: Lsn; timeline: number; segmentSize: bigint }> {
  const conninfo = localConninfo(ctx.config.node);
  try {
    return await withClient(
      conninfo,
      { connectTimeoutMs: ctx.config.monitor.queryTimeoutMs, signal: ctx.signal },
      async (client) => {
        const { rows } = await client.query<{ lsn: string | null; tli: number; segsize: string }>(
          `SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli, ${segmentSizeSql}`,
        );
        const row = rows[0];
        if (!row?.lsn) throw new Error('no replay position');
        return { lsn: parseLsn(row.lsn), timeline: Number(row.tli), segmentSize: BigInt(row.segsize) };
      },
    );
  } catch (error) {
    throw new DatabaseUnavailableError(
      `cannot read the follower's replay position: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'start the follower, or pass --start <LSN or segment name>',
      },
    );
  }
}

async function readLeaderPosition(
  ctx: Context,
): Promise<{ lsn: Lsn; timeline: number; lastArchived: string | null; segmentSize: bigint }> {
  const conninfo = ctx.config.leader.conninfo;
  if (!conninfo)
    throw new UsageError('leader.conninfo is not set', {
      hint: 'set it, or pass --end <LSN> and --timeline <n>',
    });
  try {
    return await withClient(
      conninfo,
      { connectTimeoutMs: ctx.config.leader.connectTimeoutMs, signal: ctx.signal },
      async (client) => {
        const { rows } = await client.query<{
          lsn: string;
          tli: number;
          archived: string | null;
          segsize: string;
        }>(
          `SELECT pg_current_wal_lsn()::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli, (SELECT last_archived_wal FROM pg_stat_archiver) AS archived, ${segmentSizeSql}`,
        );
        const row = rows[0];
        if (!row) throw new Error('no answer');
        return {
          lsn: parseLsn(row.lsn),
          timeline: Number(row.tli),
          lastArchived: row.archived,
          segmentSize: BigInt(row.segsize),
        };
      },
    );
  } catch (error) {
    throw new DatabaseUnavailableError(
      `cannot read the leader's current WAL position: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'check leader.conninfo, or pass --end <LSN> and --timeline <n>',
      },
    );
  }
}
