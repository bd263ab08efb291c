import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { PgFollowerError, ExitCode } from '../errors.js';
import { connect, localConninfo } from '../postgres/client.js';

export interface StreamingInfo {
  /** pg_stat_wal_receiver.status, 'none' without a receiver, 'unreachable' when the server did not answer. */
  status: string;
  error?: string;
  timeline: number | null;
  receiveLsn: string | null;
  replayLsn: string | null;
}

/** Reads the local WAL receiver once; undefined when the server does not answer yet. */
export async function readReceiver(ctx: Context): Promise<StreamingInfo> {
  let client;
  try {
    client = await connect(localConninfo(ctx.config.node), { connectTimeoutMs: 3000, queryTimeoutMs: 3000 });
  } catch (error) {
    return {
      status: 'unreachable',
      error: (error as Error).message,
      timeline: null,
      receiveLsn: null,
      replayLsn: null,
    };
  }
  try {
    const { rows } = await client.query<{
      status: string | null;
      tli: number | null;
      recv: string | null;
      replay: string | null;
    }>(
      `SELECT (SELECT status FROM pg_stat_wal_receiver) AS status,
              (SELECT received_tli FROM pg_stat_wal_receiver) AS tli,
              pg_last_wal_receive_lsn()::text AS recv,
              pg_last_wal_replay_lsn()::text AS replay`,
    );
    const row = rows[0];
    return {
      status: row?.status ?? 'none',
      timeline: row?.tli ?? null,
      receiveLsn: row?.recv ?? null,
      replayLsn: row?.replay ?? null,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Waits until the local WAL receiver reports `streaming` (optionally on a given timeline), with a
 * deadline. Polls every 200 ms: the receiver has no notification to wait on.
 */
export async function waitForStreaming(
  ctx: Context,
  options: { timeoutMs?: number; timeline?: number } = {},
): Promise<StreamingInfo> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = ctx.clock.now() + timeoutMs;
  let last: StreamingInfo | undefined;
  while (ctx.clock.now() < deadline) {
    last = await readReceiver(ctx);
    if (
      last?.status === 'streaming' &&
      (options.timeline === undefined || last.timeline === options.timeline)
    )
      return last;
    await sleep(200, undefined, { signal: ctx.signal });
  }
  throw new PgFollowerError(
    'NOT_STREAMING',
    `the follower did not start streaming within ${Math.round(timeoutMs / 1000)} s (receiver: ${last?.status ?? 'unknown'}${last?.error ? `: ${last.error}` : ''})`,
    ExitCode.FAILED,
    {
      hint: 'read the follower server log; check primary_conninfo, pg_hba.conf on the leader (replication line) and the slot',
    },
  );
}
