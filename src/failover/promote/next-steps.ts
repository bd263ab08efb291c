import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';
import type { PromotionPlan } from './plan.js';

/** What the operator runs next on every other node, exactly. */
export function describeNextSteps(
  plan: Pick<PromotionPlan, 'advertise' | 'peers' | 'oldLeaders'> & Partial<Pick<PromotionPlan, 'zeroLoss'>>,
  configHint: string,
): string[] {
  const leader = maskConninfo(plan.advertise);
  const lines: string[] = ['next, on the other nodes:'];
  for (const peer of plan.peers) {
    lines.push(`  on follower ${peer.label}:  pgfollower ${configHint}follow --leader '${leader}' --yes`);
  }
  if (plan.peers.length === 0) {
    lines.push(`  on every other follower:  pgfollower ${configHint}follow --leader '${leader}' --yes`);
  }
  for (const old of plan.oldLeaders) {
    // A clean switchover: the old leader's WAL ends at the shutdown checkpoint this node replayed,
    // so it is a prefix of the new timeline and needs no pg_rewind.
    // The synchronous proof after a crash says nothing of WAL the old leader wrote but never had
    // acknowledged: it may have diverged, so it is rebuilt (pg_rewind when that suffices).
    if (plan.zeroLoss?.zeroLoss && plan.zeroLoss.proof.method === 'shutdown-checkpoint') {
      lines.push(
        `  on the old leader ${describeConninfo(old)}: it stopped cleanly at the checkpoint this node replayed; keep it stopped, then:  pgfollower ${configHint}follow --leader '${leader}' --yes`,
      );
      continue;
    }
    lines.push(
      `  on the old leader ${describeConninfo(old)}: do NOT start it as a primary; keep it stopped, then:  pgfollower ${configHint}rebuild --leader '${leader}' --yes`,
    );
  }
  lines.push(`  everywhere: set leader.conninfo to '${leader}' in the pgfollower config`);
  return lines;
}
