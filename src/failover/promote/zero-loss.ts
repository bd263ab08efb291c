import { join } from 'node:path';
import type { Context } from '../../context.js';
import { localConninfo, withClient } from '../../postgres/client.js';
import { findPgBinaries } from '../../postgres/binaries.js';
import { formatLsn, parseLsn, type Lsn } from '../../postgres/lsn.js';
import type { NodePosition } from '../../postgres/replica-state.js';

/**
 * A planned switchover proves itself from the WAL. When a leader stops cleanly (smart or fast
 * shutdown) its last WAL record is the shutdown checkpoint, and its walsenders wait until the
 * standbys have received everything up to it before exiting. So if the last record this node
 * received, read back from its own pg_wal with pg_waldump, is a CHECKPOINT_SHUTDOWN and replay has
 * passed it, nothing the old leader wrote is missing here. Anything else (a crash, a receiver cut
 * off early) proves nothing, and the loss is only estimated.
 * https://www.postgresql.org/docs/current/pgwaldump.html
 */

interface WalRecord {
  lsn: Lsn;
  /** Record length including headers (`len (rec/tot)`, the second number). */
  totalLength: number;
  rmgr: string;
  desc: string;
}

export type ZeroLossVerdict =
  | {
      zeroLoss: true;
      proof: {
        method: 'shutdown-checkpoint';
        record: string;
        recordLsn: string;
        recordEndLsn: string;
        receiveLsn: string;
        replayLsn: string;
        timeline: number;
      };
    }
  | {
      zeroLoss: true;
      /** A crash, with this node a synchronous standby (zero-loss-sync.ts). */
      proof: {
        method: 'synchronous-standby';
        syncState: string;
        synchronousCommit: string;
        synchronousStandbyNames: string | null;
        /** When the supervisor last saw the leader, and this node's sync state there. */
        observedAt: string | null;
        receiveLsn: string;
        replayLsn: string;
        timeline: number;
      };
    }
  | { zeroLoss: false; reason: string; lastRecord: string | null };

const RECORD_RE =
  /^rmgr: (\S+)\s+len \(rec\/tot\):\s*(\d+)\/\s*(\d+), tx:\s*\d+, lsn: ([0-9A-F]+\/[0-9A-F]+), prev [0-9A-F]+\/[0-9A-F]+, (?:bkp\S* )?desc: (.*)$/i;

/** The records in pg_waldump's output, in order. */
export function parseWalDump(stdout: string): WalRecord[] {
  const records: WalRecord[] = [];
  for (const line of stdout.split('\n')) {
    const m = RECORD_RE.exec(line.trim());
    if (!m) continue;
    records.push({
      rmgr: m[1] as string,
      totalLength: Number(m[3]),
      lsn: parseLsn(m[4] as string),
      desc: (m[5] as string).trim(),
    });
  }
  return records;
}

/** The verdict for a given last received record; pure, so the rule is tested without a cluster. */
export function judgeLastRecord(
  last: WalRecord | undefined,
  at: { receiveLsn: Lsn; replayLsn: Lsn | null; timeline: number },
): ZeroLossVerdict {
  if (!last) {
    return {
      zeroLoss: false,
      reason: 'pg_waldump found no WAL record before the receive position',
      lastRecord: null,
    };
  }
  const name = `${last.rmgr} ${last.desc.split(/[\s;]/)[0] ?? ''} at ${formatLsn(last.lsn)}`;
  const end = last.lsn + BigInt(last.totalLength);
  if (last.rmgr !== 'XLOG' || !last.desc.startsWith('CHECKPOINT_SHUTDOWN')) {
    return {
      zeroLoss: false,
      reason: `the last record received (${name}) is not a shutdown checkpoint: the old leader did not stop cleanly, or this node did not receive its last WAL`,
      lastRecord: name,
    };
  }
  if (at.replayLsn === null || at.replayLsn < end) {
    return {
      zeroLoss: false,
      reason: `the old leader's shutdown checkpoint (${formatLsn(last.lsn)}) was received but not replayed (replay at ${at.replayLsn === null ? 'unknown' : formatLsn(at.replayLsn)})`,
      lastRecord: name,
    };
  }
  return {
    zeroLoss: true,
    proof: {
      method: 'shutdown-checkpoint',
      record: `${last.rmgr} ${last.desc}`,
      recordLsn: formatLsn(last.lsn),
      recordEndLsn: formatLsn(end),
      receiveLsn: formatLsn(at.receiveLsn),
      replayLsn: formatLsn(at.replayLsn),
      timeline: at.timeline,
    },
  };
}

/** Reads the last received record from local pg_wal and judges it (see above). */
export async function proveZeroLoss(ctx: Context, position: NodePosition): Promise<ZeroLossVerdict> {
  const dataDirectory = ctx.config.node.dataDirectory;
  const receiveLsn = position.receiveLsn ?? position.receiver?.flushedLsn ?? null;
  if (!dataDirectory) return { zeroLoss: false, reason: 'node.dataDirectory is not set', lastRecord: null };
  if (receiveLsn === null || receiveLsn === 0n) {
    return {
      zeroLoss: false,
      reason:
        'nothing was received by streaming since this server started, so there is no received WAL to read',
      lastRecord: null,
    };
  }
  try {
    const server = await withClient(
      localConninfo(ctx.config.node),
      { connectTimeoutMs: 10_000, signal: ctx.signal },
      async (c) => {
        const row = (
          await c.query<{ major: number; seg: string }>(
            `SELECT current_setting('server_version_num')::int / 10000 AS major,
                  (SELECT setting::bigint * CASE unit WHEN '8kB' THEN 8192 WHEN 'MB' THEN 1048576 ELSE 1 END
                     FROM pg_settings WHERE name = 'wal_segment_size')::text AS seg`,
          )
        ).rows[0];
        return { major: Number(row?.major), segmentSize: BigInt(row?.seg ?? '0') };
      },
    );
    const waldump = await pgWaldump(ctx, server.major);
    // The segment holding the last received byte; the one before if the record began there.
    const segmentStart = ((receiveLsn - 1n) / server.segmentSize) * server.segmentSize;
    let last: WalRecord | undefined;
    for (const start of [segmentStart, segmentStart - server.segmentSize].filter((s) => s >= 0n)) {
      const result = await ctx.exec.tryRun(waldump, [
        '--path',
        join(dataDirectory, 'pg_wal'),
        '--timeline',
        String(position.timeline),
        '--start',
        formatLsn(start),
        '--end',
        formatLsn(receiveLsn),
      ]);
      last = parseWalDump(result.stdout)
        .filter((r) => r.lsn < receiveLsn)
        .pop();
      if (last) break;
    }
    return judgeLastRecord(last, { receiveLsn, replayLsn: position.replayLsn, timeline: position.timeline });
  } catch (error) {
    return {
      zeroLoss: false,
      reason: `could not read the local WAL: ${(error as Error).message}`,
      lastRecord: null,
    };
  }
}

/**
 * The complete WAL records local pg_wal holds that start in [start, end) and end by `end`
 * (pg_waldump reads nothing past --end, so a record cut off there is not listed); null when
 * pg_waldump cannot be run.
 */
export async function readCompleteRecords(
  ctx: Context,
  timeline: number,
  start: Lsn,
  end: Lsn,
): Promise<WalRecord[] | null> {
  const dataDirectory = ctx.config.node.dataDirectory;
  if (!dataDirectory) return null;
  try {
    const major = await withClient(
      localConninfo(ctx.config.node),
      { connectTimeoutMs: 10_000, signal: ctx.signal },
      async (c) =>
        Number(
          (await c.query<{ m: number }>(`SELECT current_setting('server_version_num')::int / 10000 AS m`))
            .rows[0]?.m,
        ),
    );
    const result = await ctx.exec.tryRun(await pgWaldump(ctx, major), [
      '--path',
      join(dataDirectory, 'pg_wal'),
      '--timeline',
      String(timeline),
      '--start',
      formatLsn(start),
      '--end',
      formatLsn(end),
    ]);
    return parseWalDump(result.stdout).filter((r) => r.lsn >= start && r.lsn + BigInt(r.totalLength) <= end);
  } catch {
    return null;
  }
}

async function pgWaldump(ctx: Context, major: number): Promise<string> {
  try {
    if (ctx.bin.major === major) return ctx.bin.path('pg_waldump');
  } catch {
    // promote does not look the programs up at start: find them now, for the server's major.
  }
  return (await findPgBinaries({ binDir: ctx.config.node.binDir, major })).path('pg_waldump');
}
