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

/** Reads the local WAL receiver once; status 'unreachable' when the server does not answer yet. */
export async function readReceiver(ctx: Context): Promise<StreamingInfo> {
  let client;
  try {
    client = await connect(localConninfo(ctx.config.node), {
      signal: ctx.signal,
      connectTimeoutMs: 3000,
      queryTimeoutMs: 3000,
    });
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
  } catch (error) {
    // A server still starting up refuses queries (57P03): keep waiting, as for a refused connect.
    return {
      status: 'unreachable',
      error: (error as Error).message,
      timeline: null,
      receiveLsn: null,
      replayLsn: null,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface WaitForStreamingOptions {
  timeoutMs?: number;
  /** Wait until the receiver streams on this timeline or a later one (a new leader's, after failover). */
  timeline?: number;
  /** What to do when it does not stream; the default suits a fresh copy. */
  hint?: string;
}

/**
 * Waits until the local WAL receiver reports `streaming` (on `timeline` or later when given), with
 * a deadline. Polls every 200 ms: the receiver has no notification to wait on. Used by bootstrap
 * and by follow and rebuild after they re-point or rewind a node.
 */
export async function waitForStreaming(
  ctx: Context,
  options: WaitForStreamingOptions = {},
): Promise<StreamingInfo> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const { timeline } = options;
  const deadline = ctx.clock.now() + timeoutMs;
  let last: StreamingInfo | undefined;
  while (ctx.clock.now() < deadline) {
    last = await readReceiver(ctx);
    if (
      last.status === 'streaming' &&
      (timeline === undefined || (last.timeline !== null && last.timeline >= timeline))
    )
      return last;
    await sleep(200, undefined, { signal: ctx.signal });
  }
  const receiver = `${last?.status ?? 'unknown'}${last?.timeline ? ` on timeline ${last.timeline}` : ''}${last?.error ? `: ${last.error}` : ''}`;
  throw new PgFollowerError(
    'NOT_STREAMING',
    `this node did not stream${timeline === undefined ? '' : ` on timeline ${timeline}`} within ${Math.round(timeoutMs / 1000)} s (receiver: ${receiver})`,
    ExitCode.FAILED,
    {
      hint:
        options.hint ??
        'read the follower server log; check primary_conninfo, pg_hba.conf on the leader (replication line) and the slot',
    },
  );
}
