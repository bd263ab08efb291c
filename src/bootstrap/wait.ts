import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { PgFollowerError, ExitCode } from '../errors.js';
import { connect, localConninfo, sqlState, type PgClient } from '../postgres/client.js';
import { localUser } from '../monitor/monitor.js';

export interface StreamingInfo {
  /** pg_stat_wal_receiver.status, 'none' without a receiver, 'unreachable' when the server did not answer. */
  status: string;
  error?: string;
  /** The server answered but refused pgfollower's login (pg_hba.conf, password, role). */
  loginRefused?: boolean;
  timeline: number | null;
  receiveLsn: string | null;
  replayLsn: string | null;
}

/** Reads the local WAL receiver once; status 'unreachable' when the server does not answer yet. */
async function readReceiver(ctx: Context): Promise<StreamingInfo> {
  let client;
  try {
    client = await connect(localConninfo(ctx.config.node), {
      signal: ctx.signal,
      connectTimeoutMs: 3000,
      queryTimeoutMs: 3000,
    });
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return {
      status: 'unreachable',
      error: (error as Error).message,
      loginRefused: isLoginRefused(error),
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

/**
 * The server refused the login: SQLSTATE class 28 (invalid_authorization_specification: no
 * pg_hba.conf line, wrong password, unknown role), or node-postgres giving up on SCRAM before the
 * server could answer because it has no password (no ~/.pgpass line): that one has no SQLSTATE,
 * only its "SASL:" message. A refused login does not go away by waiting, unlike a starting server.
 */
function isLoginRefused(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = sqlState(error) ?? sqlState(cause);
  if (code?.startsWith('28')) return true;
  const message = cause instanceof Error ? cause.message : error instanceof Error ? error.message : '';
  return /^SASL: /.test(message) || /SASL: .*password must be a string/.test(message);
}

interface WaitForStreamingOptions {
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
  let refusals = 0;
  while (ctx.clock.now() < deadline) {
    last = await readReceiver(ctx);
    // Twice in a row (a server restarting between the two is not refusing): say so now, not after
    // the whole timeout with advice about the leader.
    refusals = last.loginRefused ? refusals + 1 : 0;
    if (refusals >= 2) throw localLoginError(ctx, last.error ?? 'login refused');
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

/** pgfollower cannot log in to the local server: which address, which role, what to change. */
function localLoginError(ctx: Context, reason: string): PgFollowerError {
  const node = ctx.config.node;
  const role = localUser(node) ?? process.env.PGUSER ?? 'the OS user name';
  const where = node.host.startsWith('/')
    ? `socket ${node.host} port ${node.port}`
    : `${node.host}:${node.port}`;
  return new PgFollowerError(
    'LOCAL_LOGIN_FAILED',
    `pgfollower cannot log in to the local server (${where}) as role ${role}: ${reason}`,
    ExitCode.FAILED,
    {
      hint: `let role ${role} in: a pg_hba.conf line of this server for it (e.g. \`local all ${role} peer\` when pgfollower runs as that OS user), or a ~/.pgpass line "${node.host.startsWith('/') ? 'localhost' : node.host}:${node.port}:*:${role}:PASSWORD" for the user pgfollower runs as; or set node.user. The follower itself is not at fault`,
    },
  );
}

/** Does the leader stream to this node (its slot's walsender, or one named after the node)? */
export async function leaderSeesStreaming(
  sql: PgClient,
  slotName: string | undefined,
  nodeName: string,
): Promise<boolean> {
  try {
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_replication r
        WHERE r.state = 'streaming'
          AND (r.application_name = $1
               OR r.pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $2))`,
      [nodeName, slotName ?? null],
    );
    return (rows[0]?.n ?? 0) > 0;
  } catch {
    return false;
  }
}
