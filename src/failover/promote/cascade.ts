import type { CheckResult } from '../../errors.js';
import { formatLsn, type Lsn } from '../../postgres/lsn.js';
import { CHECK, type OurPosition } from './checks.js';
import type { PeerPosition } from './peers.js';

/**
 * A cascaded follower (its upstream is itself a standby) is the last to hear of anything: the
 * upstream, and any follower attached to the primary directly, usually received more. Promoting
 * it while one of them is less behind the primary throws that WAL away (or forces them to be
 * rewound), so promote refuses unless --force, and lists where everyone stands.
 */

export interface CascadeView {
  /** The nodes leader.conninfo and primary_conninfo name (cluster.primary excepted), read now. */
  upstreams: PeerPosition[];
  /** cluster.primary is set and names another node than leader.conninfo: configured to cascade. */
  configuredCascade: boolean;
  /** cluster.peers / --peers, as checkPeers read them. */
  peers: PeerPosition[];
  /** The primary's last known position (the local supervisor's), for the lag figures. */
  primaryLsn: Lsn | null;
}

type Reached = Extract<PeerPosition, { ok: true }>;

export function checkCascade(view: CascadeView, ours: OurPosition | null): CheckResult {
  const standbyUpstreams = view.upstreams.filter((u): u is Reached => u.ok && u.inRecovery);
  const silent = view.upstreams.filter((u): u is Extract<PeerPosition, { ok: false }> => !u.ok);
  const cascaded = standbyUpstreams.length > 0 || (view.configuredCascade && silent.length > 0);
  if (!cascaded || !ours) {
    return {
      name: CHECK.cascade,
      ok: true,
      detail: ours
        ? 'not cascaded: no upstream of this node answered as a standby'
        : "this node's position is unknown (see above)",
    };
  }
  const upstreamLabels = new Set(view.upstreams.map((u) => u.label));
  const candidates = new Map<string, Reached>();
  for (const p of [...standbyUpstreams, ...view.peers]) {
    if (p.ok && p.inRecovery && !candidates.has(p.label)) candidates.set(p.label, p);
  }
  // The reference: the primary's last known position, or the furthest anyone got.
  let reference = view.primaryLsn ?? ours.lsn;
  for (const p of [ours, ...candidates.values()]) {
    if (p.timeline === ours.timeline && p.lsn > reference) reference = p.lsn;
  }
  const behind = (p: { timeline: number; lsn: Lsn }): string =>
    p.timeline === ours.timeline ? `${reference - p.lsn} bytes behind the primary` : `timeline ${p.timeline}`;
  const numbers: Record<string, string> = {
    primary_lsn: formatLsn(reference),
    ours: `${ours.timeline}:${formatLsn(ours.lsn)}, ${behind(ours)}`,
  };
  for (const p of candidates.values()) {
    const role = upstreamLabels.has(p.label) ? 'upstream' : 'peer';
    numbers[`${p.label} (${role})`] = `${p.timeline}:${formatLsn(p.lsn)}, ${behind(p)}`;
  }
  for (const u of silent) numbers[`${u.label} (upstream)`] = `unreachable: ${u.error}`;

  const from =
    standbyUpstreams.length > 0
      ? `${standbyUpstreams.map((u) => u.label).join(', ')} (a standby)`
      : `${silent.map((u) => u.label).join(', ')} (cluster.primary names another node)`;
  const ahead = [...candidates.values()]
    .filter((p) => p.timeline > ours.timeline || (p.timeline === ours.timeline && p.lsn > ours.lsn))
    .sort((a, b) => b.timeline - a.timeline || (b.lsn > a.lsn ? 1 : b.lsn < a.lsn ? -1 : 0));
  const best = ahead[0];
  if (best) {
    const gain =
      best.timeline === ours.timeline
        ? `${best.lsn - ours.lsn} bytes less behind`
        : `on timeline ${best.timeline}`;
    return {
      name: CHECK.cascade,
      ok: false,
      forceable: true,
      detail: `this node replicates in cascade from ${from}, and ${best.label} is ${gain} the primary (this node: ${behind(ours)}; ${best.label}: ${behind(best)}): promote ${best.label} instead (run pgfollower promote there), or --force to promote this cascaded node and lose that WAL`,
      numbers,
    };
  }
  if (standbyUpstreams.length === 0) {
    return {
      name: CHECK.cascade,
      ok: false,
      forceable: true,
      detail: `this node is configured to cascade from ${from}, which does not answer: cannot tell whether it is less behind the primary; promote a node that can be compared, or --force`,
      numbers,
    };
  }
  return {
    name: CHECK.cascade,
    ok: true,
    detail: `cascaded from ${from}; no upstream or peer is less behind the primary (this node: ${behind(ours)})`,
    numbers,
  };
}
