import type { Context } from '../context.js';
import type { CheckResult } from '../errors.js';
import { describeConninfo } from '../postgres/conninfo.js';
import { isSameServer } from './local-node.js';
import { readIdentity, type LeaderIdentity } from './new-leader.js';

/**
 * `follow --leader X` on a cascaded follower: one whose config says it cascades (cluster.primary
 * names another node than leader.conninfo, its upstream). After a failover the cascade is kept
 * when it still works: the upstream U, if it now replicates from X (a standby of the same system
 * on X's timeline), stays this node's upstream, so the topology the operator built (one node
 * across the WAN feeding the others, say) survives the failover. When U was itself promoted, X is
 * U and nothing changes. Otherwise (U down, not yet re-pointed, a primary of its own) this node is
 * re-pointed at X directly, so it keeps receiving; `follow --leader U` later restores the cascade.
 * `--direct` re-points at X whatever U does.
 */

interface CascadeDecision {
  /** Where this node will stream from: the upstream (kept) or the new leader. */
  target: string;
  kept: boolean;
  /** The upstream as asked, when kept (its identity replaces the new leader's in the plan). */
  identity: LeaderIdentity | null;
  check: CheckResult;
}

const CASCADE_CHECK = 'cascade: keep the upstream when it follows the new leader';

/** null when this node is not configured to cascade, or its upstream is the new leader. */
export async function decideCascade(
  ctx: Context,
  newLeader: string,
  leader: LeaderIdentity,
  options: { direct?: boolean | undefined },
): Promise<CascadeDecision | null> {
  const upstream = ctx.config.leader.conninfo;
  const primary = ctx.config.cluster.primary;
  if (!upstream || !primary || describeConninfo(upstream) === describeConninfo(primary)) return null;
  const u = describeConninfo(upstream);
  const x = describeConninfo(newLeader);
  if (u === x) return null;
  const direct = (why: string): CascadeDecision => ({
    target: newLeader,
    kept: false,
    identity: null,
    check: {
      name: CASCADE_CHECK,
      ok: true,
      detail: `upstream ${u} ${why}: re-pointing this node at ${x} directly; once ${u} follows ${x}, run pgfollower follow --leader <${u}> to cascade from it again`,
      numbers: { upstream: u, new_leader: x, kept: false },
    },
  });
  if (options.direct) return direct('is left (--direct)');
  let identity: LeaderIdentity;
  try {
    identity = await readIdentity(ctx, upstream);
  } catch (error) {
    return direct(`does not answer (${(error as Error).message})`);
  }
  if (identity.systemId !== leader.systemId)
    return direct(`is another database cluster (system ${identity.systemId})`);
  if (!identity.inRecovery)
    return direct(`is a primary itself on timeline ${identity.timeline}, not a standby of ${x}`);
  if (identity.timeline !== leader.timeline) {
    return direct(
      `is a standby on timeline ${identity.timeline}, not yet on ${x}'s timeline ${leader.timeline} (it does not follow ${x} yet)`,
    );
  }
  if (await isSameServer(ctx, upstream)) return direct('is this very server (leader.conninfo)');
  return {
    target: upstream,
    kept: true,
    identity,
    check: {
      name: CASCADE_CHECK,
      ok: true,
      detail: `upstream ${u} is a standby on ${x}'s timeline ${leader.timeline}: this node keeps streaming from it in cascade (--direct re-points it at ${x})`,
      numbers: { upstream: u, new_leader: x, kept: true, timeline: leader.timeline },
    },
  };
}
