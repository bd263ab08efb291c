import type { Context } from '../../context.js';
import { DatabaseUnavailableError, UsageError } from '../../errors.js';
import { localConninfo, withClient } from '../../postgres/client.js';
import { parseLsn, parseWalFileName, segmentStartLsn, WAL_SEGMENT_RE, type Lsn } from '../../postgres/lsn.js';
import { checkCoverage, type CoverageReport } from './coverage.js';
import { openArchiveStore } from '../store/open-store.js';

export interface ArchiveCheckOptions {
  start?: string | undefined;
  end?: string | undefined;
  timeline?: number | undefined;
}

/** `archive check`: resolves the range (flags, else follower replay and leader position) and checks it. */
export async function runArchiveCheck(ctx: Context, options: ArchiveCheckOptions): Promise<CoverageReport> {
  const store = openArchiveStore(ctx.config);
  try {
    const start = options.start ? parsePosition(options.start) : await readReplayPosition(ctx);
    let end: Lsn;
    let timeline: number;
    let archivedUpTo: string | null = null;
    if (options.end) {
      end = parseLsn(options.end);
      timeline = options.timeline ?? start.timeline;
    } else {
      const leader = await readLeaderPosition(ctx);
      end = leader.lsn;
      timeline = options.timeline ?? leader.timeline;
      archivedUpTo = leader.lastArchived;
    }
    return await checkCoverage(ctx, store, {
      startLsn: start.lsn,
      endLsn: end,
      endTimeline: timeline,
      archivedUpTo,
    });
  } finally {
    store.close();
  }
}

function parsePosition(text: string): { lsn: Lsn; timeline: number } {
  if (WAL_SEGMENT_RE.test(text)) {
    const { timeline, segNo } = parseWalFileName(text);
    return { lsn: segmentStartLsn(segNo), timeline };
  }
  try {
    return { lsn: parseLsn(text), timeline: 1 };
  } catch {
    throw new UsageError(`--start ${text} is neither an LSN (0/3000000) nor a WAL segment name`);
  }
}

async function readReplayPosition(ctx: Context): Promise<{ lsn: Lsn; timeline: number }> {
  const conninfo = localConninfo(ctx.config.node);
  try {
    return await withClient(
      conninfo,
      { connectTimeoutMs: ctx.config.monitor.queryTimeoutMs, signal: ctx.signal },
      async (client) => {
        const { rows } = await client.query<{ lsn: string | null; tli: number }>(
          'SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli',
        );
        const row = rows[0];
        if (!row?.lsn) throw new Error('no replay position');
        return { lsn: parseLsn(row.lsn), timeline: Number(row.tli) };
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
): Promise<{ lsn: Lsn; timeline: number; lastArchived: string | null }> {
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
        const { rows } = await client.query<{ lsn: string; tli: number; archived: string | null }>(
          'SELECT pg_current_wal_lsn()::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli, (SELECT last_archived_wal FROM pg_stat_archiver) AS archived',
        );
        const row = rows[0];
        if (!row) throw new Error('no answer');
        return { lsn: parseLsn(row.lsn), timeline: Number(row.tli), lastArchived: row.archived };
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
