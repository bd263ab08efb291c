import { sqlState, withClient } from '../../postgres/client.js';
import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';

/**
 * The old leader, asked directly at every address we know it by (leader.conninfo and this node's
 * primary_conninfo): is it a primary, a standby, up but refusing us, or unreachable?
 */

type OldLeaderState = 'primary' | 'in-recovery' | 'answered' | 'unreachable';

interface OldLeaderVerdict {
  /** host:port, never a password. */
  where: string;
  state: OldLeaderState;
  /** Why it did not answer the question (answered, unreachable). */
  error?: string;
}

/** The addresses to ask, one per host:port, in the order given; blanks dropped. */
export function oldLeaderAddresses(conninfos: ReadonlyArray<string | null | undefined>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of conninfos) {
    if (!c || c.trim() === '') continue;
    const key = describeConninfo(c);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c);
  }
  return out;
}

/** Asks each address at once whether it is in recovery. */
export async function probeOldLeaders(
  addresses: string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<OldLeaderVerdict[]> {
  return Promise.all(addresses.map((conninfo) => probeOldLeader(conninfo, timeoutMs, signal)));
}

async function probeOldLeader(
  conninfo: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<OldLeaderVerdict> {
  const where = describeConninfo(conninfo);
  try {
    const inRecovery = await withClient(
      conninfo,
      { signal, connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs },
      async (c) => (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r ?? false,
    );
    return { where, state: inRecovery ? 'in-recovery' : 'primary' };
  } catch (error) {
    // Stopped by the operator: not a verdict about the old leader.
    if (signal?.aborted) throw signal.reason;
    const message = maskConninfo((error as Error).message);
    // A server that answered with an SQLSTATE (bad password, no pg_hba entry, unknown database,
    // starting up) is up: it may well be accepting writes, so it is not "unreachable".
    // connect() wraps the server's error: its SQLSTATE is on the cause.
    const code = sqlState(error) ?? sqlState((error as Error).cause);
    if (code !== undefined) return { where, state: 'answered', error: `${code}: ${message}` };
    return { where, state: 'unreachable', error: message };
  }
}
