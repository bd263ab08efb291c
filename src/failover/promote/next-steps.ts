import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';
import type { PromotionPlan } from './plan.js';

/** What the operator runs next on every other node, exactly. */
export function describeNextSteps(
  plan: Pick<PromotionPlan, 'advertise' | 'peers' | 'oldLeaders'>,
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
    lines.push(
      `  on the old leader ${describeConninfo(old)}: do NOT start it as a primary; keep it stopped, then:  pgfollower ${configHint}rebuild --leader '${leader}' --yes`,
    );
  }
  lines.push(`  everywhere: set leader.conninfo to '${leader}' in the pgfollower config`);
  return lines;
}
