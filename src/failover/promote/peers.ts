import type { Context } from '../../context.js';
import { withClient } from '../../postgres/client.js';
import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';
import { parseLsn, type Lsn } from '../../postgres/lsn.js';
import { furthestLsn, readNodePosition } from '../../postgres/replica-state.js';
import { withDeadline } from '../../util/deadline.js';

/**
 * Where the other nodes stand, for promote's "am I the best candidate" check, and what the
 * local supervisor last saw of the leader. A peer is a libpq conninfo (asked directly) or a
 * pgfollower HTTP base URL (its supervisor's /status).
 */
export type PeerPosition =
  | {
      peer: string;
      label: string;
      ok: true;
      via: 'sql' | 'http';
      inRecovery: boolean;
      timeline: number;
      lsn: Lsn;
      /** The peer's node.failoverPriority from its /status; null when asked over SQL. */
      failoverPriority: number | null;
    }
  | { peer: string; label: string; ok: false; via: 'sql' | 'http'; error: string };

export function isHttpPeer(peer: string): boolean {
  return /^https?:\/\//i.test(peer);
}

/** How a peer is named in output: host:port for a conninfo (never its password), the URL otherwise. */
export function labelPeer(peer: string): string {
  return isHttpPeer(peer) ? peer.replace(/\/+$/, '') : describeConninfo(peer);
}

export async function readPeerPosition(
  peer: string,
  options: { connectTimeoutMs: number; signal: AbortSignal },
): Promise<PeerPosition> {
  const label = labelPeer(peer);
  if (isHttpPeer(peer)) {
    try {
      const url = `${peer.replace(/\/+$/, '')}/status`;
      const answer = await withDeadline(options.signal, options.connectTimeoutMs, async (signal) => {
        const response = await fetch(url, { signal, headers: { accept: 'application/json' } });
        return { status: response.status, ok: response.ok, body: response.ok ? await response.json() : null };
      });
      if (!answer.ok)
        return { peer, label, ok: false, via: 'http', error: `GET ${url}: HTTP ${answer.status}` };
      const parsed = parseStatusPosition(answer.body);
      if (!parsed)
        return { peer, label, ok: false, via: 'http', error: `GET ${url}: no local position in the answer` };
      return { peer, label, ok: true, via: 'http', ...parsed };
    } catch (error) {
      return { peer, label, ok: false, via: 'http', error: (error as Error).message };
    }
  }
  try {
    const position = await withClient(
      peer,
      {
        signal: options.signal,
        connectTimeoutMs: options.connectTimeoutMs,
        queryTimeoutMs: options.connectTimeoutMs,
      },
      readNodePosition,
    );
    return {
      peer,
      label,
      ok: true,
      via: 'sql',
      inRecovery: position.inRecovery,
      timeline: position.timeline,
      lsn: furthestLsn(position),
      failoverPriority: null,
    };
  } catch (error) {
    return { peer, label, ok: false, via: 'sql', error: maskConninfo((error as Error).message) };
  }
}

/**
 * The leader's last position as the local supervisor saw it, if `pgfollower run` answers: promote
 * uses it to estimate what a promotion loses.
 */
interface SupervisorLeaderView {
  lsn: Lsn;
  /** What the supervisor last saw of synchronous replication on the leader, and when. */
  sync: SupervisorSyncView | null;
}

export interface SupervisorSyncView {
  syncState: string | null;
  synchronousCommit: string | null;
  standbyNames: string | null;
  seenAt: string | null;
}

export async function readSupervisorLeaderLsn(ctx: Context): Promise<SupervisorLeaderView | null> {
  if (!ctx.config.http.enabled) return null;
  try {
    const body = await withDeadline(ctx.signal, 1000, async (signal) => {
      const response = await fetch(`http://${ctx.config.http.listen}/status`, {
        signal,
        headers: { accept: 'application/json' },
      });
      return response.ok ? ((await response.json()) as Record<string, unknown>) : null;
    });
    if (body === null) return null;
    // The status document's leaderLsn is the leader's position at the supervisor's last tick that
    // reached it; a lastLeaderLsn, when the supervisor keeps one across ticks, is preferred.
    // A cascaded follower's leader is its upstream (a standby): the primary it watches
    // (cluster.primary) is further, and what a promotion loses is measured against the furthest.
    const primary = asRecord(body.primary);
    const lsns = [body.lastLeaderLsn ?? body.leaderLsn, primary?.lastLsn ?? primary?.lsn]
      .map(toLsn)
      .filter((v): v is Lsn => v !== null);
    if (lsns.length === 0) return null;
    const sync = asRecord(body.lastLeaderSync);
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    return {
      lsn: lsns.reduce((a, b) => (a > b ? a : b)),
      sync: sync
        ? {
            syncState: text(sync.syncState),
            synchronousCommit: text(sync.synchronousCommit),
            standbyNames: text(sync.standbyNames),
            seenAt: text(body.lastLeaderSeenAt),
          }
        : null,
    };
  } catch {
    return null;
  }
}

/**
 * Reads a peer supervisor's /status answer: the snapshot's `local` sample (possibly wrapped as
 * `{ ok, value }`, possibly under `snapshot`). LSNs arrive as "X/Y" or as decimal strings (bigint
 * serialised by the HTTP layer).
 */
export function parseStatusPosition(
  body: unknown,
): { inRecovery: boolean; timeline: number; lsn: Lsn; failoverPriority: number | null } | undefined {
  const root = asRecord(body);
  if (!root) return undefined;
  const priority = root.failoverPriority;
  const failoverPriority =
    typeof priority === 'number' && Number.isInteger(priority) && priority >= 0 ? priority : null;
  // The supervisor's status document (src/monitor/status.ts): role, timeline, receiveLsn, replayLsn.
  if (typeof root.role === 'string') {
    if (root.role === 'down') return undefined;
    const lsns = [root.receiveLsn, root.replayLsn, root.currentLsn]
      .map(toLsn)
      .filter((v): v is Lsn => v !== null);
    if (lsns.length === 0) return undefined;
    const timeline = Number(root.timeline ?? 0);
    return {
      inRecovery: root.role !== 'primary',
      timeline: Number.isFinite(timeline) ? timeline : 0,
      lsn: lsns.reduce((a, b) => (a > b ? a : b)),
      failoverPriority,
    };
  }
  const candidates = [root.local, asRecord(root.snapshot)?.local, root];
  for (const candidate of candidates) {
    let local = asRecord(candidate);
    if (local && 'value' in local && asRecord(local.value)) local = asRecord(local.value);
    if (!local) continue;
    const lsns = [local.receiveLsn, local.replayLsn, local.currentLsn]
      .map(toLsn)
      .filter((v): v is Lsn => v !== null);
    if (lsns.length === 0) continue;
    const lsn = lsns.reduce((a, b) => (a > b ? a : b));
    const timeline = Number(local.timeline ?? asRecord(local.walReceiver)?.receivedTimeline ?? 0);
    return {
      inRecovery: local.inRecovery !== false,
      timeline: Number.isFinite(timeline) ? timeline : 0,
      lsn,
      failoverPriority,
    };
  }
  return undefined;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function toLsn(value: unknown): Lsn | null {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value !== 'string') return null;
  if (/^\d+$/.test(value)) return BigInt(value);
  try {
    return parseLsn(value);
  } catch {
    return null;
  }
}
