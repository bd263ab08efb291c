import type { Context } from '../../context.js';
import type { CheckResult } from '../../errors.js';
import { formatLsn, type Lsn } from '../../postgres/lsn.js';
import type { NodePosition } from '../../postgres/replica-state.js';
import { checkArchiveDrained } from './archive-drain.js';
import { probeOldLeaders } from './old-leader.js';
import type { PeerPosition } from './peers.js';
import type { ZeroLossVerdict } from './zero-loss.js';
import { describeProof } from './zero-loss-sync.js';

/**
 * The promotion checks, one function each, in the order checkPromotion (plan.ts) runs them (a few
 * live beside: delay.ts, replay.ts, cascade.ts; their names are in this table). A
 * failed check is `forceable` when --force may override it; the old leader being writable and a
 * peer already being a primary never are: two writable leaders is data loss by construction.
 */
export const CHECK = {
  local: 'this node is a running replica',
  priority: 'this node may be promoted (node.failoverPriority)',
  leader: 'old leader is not accepting writes',
  delay: 'no WAL held back by an apply delay (recovery_min_apply_delay)',
  replay: 'all received WAL is replayed',
  archive: 'archive holds nothing beyond our replay position',
  peers: 'no peer is further ahead',
  cascade: 'no upstream or peer is less behind the primary (cascading)',
  loss: 'estimated data loss',
} as const;

/** Where this node stands, or why it could not be asked. */
export function checkLocalNode(
  result: NodePosition | Error,
  where: { address: string; dataDirectory: string | undefined },
): CheckResult {
  if (result instanceof Error) {
    return {
      name: CHECK.local,
      ok: false,
      detail: `cannot reach the local server at ${where.address}: ${result.message}; start it (pg_ctl start -D ${where.dataDirectory ?? '$PGDATA'}) and retry`,
    };
  }
  return result.inRecovery
    ? {
        name: CHECK.local,
        ok: true,
        detail: `in recovery on timeline ${result.timeline}`,
        numbers: {
          timeline: result.timeline,
          receive_lsn: lsnText(result.receiveLsn),
          replay_lsn: lsnText(result.replayLsn),
        },
      }
    : {
        name: CHECK.local,
        ok: false,
        detail: `already a primary on timeline ${result.timeline}: nothing to promote`,
        numbers: { timeline: result.timeline, current_lsn: lsnText(result.currentLsn) },
      };
}

/** node.failoverPriority 0 marks a node that never promotes unless the operator forces it. */
export function checkPriority(failoverPriority: number): CheckResult {
  return failoverPriority > 0
    ? {
        name: CHECK.priority,
        ok: true,
        detail: `failoverPriority ${failoverPriority}`,
        numbers: { failover_priority: failoverPriority },
      }
    : {
        name: CHECK.priority,
        ok: false,
        forceable: true,
        detail:
          'node.failoverPriority is 0: this node is configured never to be promoted; promote another peer, or --force to promote it anyway',
        numbers: { failover_priority: 0 },
      };
}

/**
 * The old leader, at every address we know it by. Run again by executePromotion right before the
 * point of no return.
 */
export async function checkOldLeader(
  addresses: string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<CheckResult> {
  if (addresses.length === 0) {
    return {
      name: CHECK.leader,
      ok: false,
      detail:
        'no leader address known (leader.conninfo unset and no primary_conninfo): cannot prove the old leader is down; set leader.conninfo',
      forceable: true,
    };
  }
  const verdicts = await probeOldLeaders(addresses, timeoutMs, signal);
  const primary = verdicts.find((v) => v.state === 'primary');
  if (primary) {
    return {
      name: CHECK.leader,
      ok: false,
      forceable: false,
      detail: `${primary.where} is up and accepting writes: stop or fence it first (pg_ctl stop -D <its data directory> -m fast on that host, or block it at the network); --force does not override this`,
      numbers: { leader: primary.where, state: 'primary' },
    };
  }
  const answered = verdicts.find((v) => v.state === 'answered');
  if (answered) {
    return {
      name: CHECK.leader,
      ok: false,
      forceable: false,
      detail: `${answered.where} is up but refused our query (${answered.error}), so it may be accepting writes: fix leader.conninfo so pgfollower can ask it, or stop or fence it (pg_ctl stop -D <its data directory> -m fast on that host); --force does not override this`,
      numbers: { leader: answered.where, state: 'up, state unknown' },
    };
  }
  return {
    name: CHECK.leader,
    ok: true,
    detail: verdicts
      .map((v) => `${v.where} ${v.state === 'unreachable' ? 'unreachable' : 'is in recovery (read-only)'}`)
      .join('; '),
    numbers: Object.fromEntries(verdicts.map((v) => [v.where, v.state])),
  };
}

/** Nothing archived is left unreplayed (see archive-drain.ts); the position after draining. */
export async function checkArchive(
  ctx: Context,
  local: string,
  position: NodePosition,
  options: { dryRun: boolean; timeoutMs: number },
): Promise<{ check: CheckResult; position: NodePosition }> {
  const archive = await checkArchiveDrained(ctx, local, position, options);
  return { check: { name: CHECK.archive, ...archive.check }, position: archive.position ?? position };
}

/** Where this node stands for the peer comparison; failoverPriority breaks ties of position. */
export interface OurPosition {
  timeline: number;
  lsn: Lsn;
  failoverPriority?: number;
}

export function checkPeers(peers: PeerPosition[], ours: OurPosition | null): CheckResult {
  if (peers.length === 0) {
    return { name: CHECK.peers, ok: true, detail: 'no peers configured (cluster.peers or --peers)' };
  }
  const primaries = peers.filter((p) => p.ok && !p.inRecovery);
  if (primaries.length > 0) {
    return {
      name: CHECK.peers,
      ok: false,
      forceable: false,
      detail: `${primaries.map((p) => p.label).join(', ')} is already a primary: follow it (pgfollower follow --leader ...) instead of promoting a second leader`,
    };
  }
  const unreachable = peers.filter((p): p is Extract<PeerPosition, { ok: false }> => !p.ok);
  // A peer that did not say its timeline (0) is compared as if on ours: judged by LSN rather than
  // never counted as ahead.
  const reachable = peers
    .filter((p): p is Extract<PeerPosition, { ok: true }> => p.ok)
    .map((p) => (p.timeline === 0 && ours ? { ...p, timeline: ours.timeline } : p));
  const numbers: Record<string, string> = {};
  if (ours) numbers.ours = `${ours.timeline}:${formatLsn(ours.lsn)}`;
  for (const p of reachable)
    numbers[p.label] =
      `${p.timeline}:${formatLsn(p.lsn)}${p.failoverPriority !== null ? ` priority ${p.failoverPriority}` : ''}`;
  for (const p of unreachable) numbers[p.label] = 'unreachable';
  const ahead = ours
    ? reachable
        .filter((p) => p.timeline > ours.timeline || (p.timeline === ours.timeline && p.lsn > ours.lsn))
        .sort((a, b) => b.timeline - a.timeline || (b.lsn > a.lsn ? 1 : b.lsn < a.lsn ? -1 : 0))
    : [];
  const best = ahead[0];
  if (best && ours) {
    const bytes =
      best.timeline === ours.timeline ? `${best.lsn - ours.lsn} bytes` : `timeline ${best.timeline}`;
    return {
      name: CHECK.peers,
      ok: false,
      forceable: true,
      detail: `${best.label} is further ahead (${bytes} more): promote it instead (run pgfollower promote there${best.failoverPriority === 0 ? ' with --force: its failoverPriority is 0' : ''}), or --force to promote this node and lose that WAL`,
      numbers,
    };
  }
  // Equally advanced: the operator's failoverPriority decides (a peer that did not publish one is
  // not preferred over us).
  const ourPriority = ours?.failoverPriority ?? null;
  const preferred = ours
    ? reachable
        .filter(
          (p) =>
            p.timeline === ours.timeline &&
            p.lsn === ours.lsn &&
            p.failoverPriority !== null &&
            p.failoverPriority > (ourPriority ?? 0),
        )
        .sort((a, b) => (b.failoverPriority ?? 0) - (a.failoverPriority ?? 0))
    : [];
  const top = preferred[0];
  if (top) {
    return {
      name: CHECK.peers,
      ok: false,
      forceable: true,
      detail: `${top.label} stands at the same position with a higher failoverPriority (${top.failoverPriority} > ${ourPriority ?? 'unset'}): promote it instead (run pgfollower promote there), or --force to promote this node`,
      numbers,
    };
  }
  if (unreachable.length > 0) {
    return {
      name: CHECK.peers,
      ok: false,
      forceable: true,
      detail: `cannot tell whether ${unreachable.map((p) => `${p.label} (${p.error})`).join(', ')} is further ahead`,
      numbers,
    };
  }
  return { name: CHECK.peers, ok: true, detail: `this node is the furthest of ${peers.length + 1}`, numbers };
}

/**
 * Data loss: none when `zeroLoss` proves it (a shutdown checkpoint read back from this node's WAL,
 * or a synchronous standby after a crash); otherwise the bytes of WAL the leader had (per the
 * supervisor or the WAL receiver, whichever saw further) that this node lacks, against
 * cluster.maxDataLossBytes.
 */
export function checkDataLoss(
  ours: { timeline: number; lsn: Lsn } | null,
  lastSeen: { supervisor: Lsn | null; receiver: Lsn | null },
  maxLoss: bigint,
  zeroLoss?: ZeroLossVerdict,
): { check: CheckResult; estimatedLossBytes: bigint | null } {
  if (zeroLoss?.zeroLoss) {
    const { proof } = zeroLoss;
    return {
      check: {
        name: CHECK.loss,
        ok: true,
        detail: `none, proven: ${describeProof(proof)}`,
        numbers: {
          loss_bytes: 0,
          proof: proof.method,
          ...(proof.method === 'shutdown-checkpoint'
            ? { shutdown_checkpoint: proof.recordLsn }
            : { sync_state: proof.syncState, observed_at: proof.observedAt }),
        },
      },
      estimatedLossBytes: 0n,
    };
  }
  const known = maxKnown(lastSeen.supervisor, lastSeen.receiver);
  let estimatedLossBytes: bigint | null = null;
  if (ours && known !== null) {
    estimatedLossBytes = known.lsn > ours.lsn ? known.lsn - ours.lsn : 0n;
  }
  const check: CheckResult =
    estimatedLossBytes === null
      ? {
          name: CHECK.loss,
          ok: true,
          detail:
            "unknown: no supervisor answer and the WAL receiver is disconnected, so the leader's last position is not known beyond what this node received",
          numbers: { our_lsn: ours ? formatLsn(ours.lsn) : null, last_leader_lsn: null },
        }
      : {
          name: CHECK.loss,
          ok: estimatedLossBytes <= maxLoss,
          forceable: true,
          detail:
            estimatedLossBytes === 0n
              ? `none: this node has everything up to the last known leader position (from ${known?.source})`
              : `${estimatedLossBytes} bytes of WAL the leader had (per ${known?.source}) are not on this node${estimatedLossBytes > maxLoss ? ` (limit cluster.maxDataLossBytes=${maxLoss})` : ''}`,
          numbers: {
            loss_bytes: Number(estimatedLossBytes),
            our_lsn: ours ? formatLsn(ours.lsn) : null,
            last_leader_lsn: known ? formatLsn(known.lsn) : null,
          },
        };
  return { check, estimatedLossBytes };
}

function maxKnown(supervisor: Lsn | null, receiver: Lsn | null): { lsn: Lsn; source: string } | null {
  if (supervisor !== null && (receiver === null || supervisor >= receiver)) {
    return { lsn: supervisor, source: 'the supervisor' };
  }
  if (receiver !== null) return { lsn: receiver, source: "the WAL receiver's latest_end_lsn" };
  return null;
}

function lsnText(lsn: Lsn | null): string | null {
  return lsn === null ? null : formatLsn(lsn);
}
