import type { RegisterCommand } from '../command.js';
import { formatChecklist } from '../format.js';
import { ExitCode, RefusedError } from '../../errors.js';
import { executePromotion } from '../../failover/promote/execute.js';
import { describeNextSteps } from '../../failover/promote/next-steps.js';
import { checkPromotion } from '../../failover/promote/plan.js';
import { describeProof } from '../../failover/promote/zero-loss-sync.js';
import { formatLsn } from '../../postgres/lsn.js';
import { parseDurationFlag } from '../flags.js';
import { notifyLifecycle } from '../../alerts/notify.js';

interface PromoteFlags {
  dryRun?: boolean;
  force?: boolean;
  yes?: boolean;
  peers?: string[];
  advertise?: string;
  replayTimeout?: number;
  finishReplay?: boolean;
  json?: boolean;
}

export const registerPromote: RegisterCommand = (program, env) => {
  program
    .command('promote')
    .description(
      'promote this follower to leader after checking it is safe: old leader down, WAL replayed, archive drained, no peer ahead',
    )
    .option('--dry-run', 'print the checklist and exit 0 (all pass) or 3; change nothing')
    .option('--force', 'promote even if a lag or peer check fails (never when the old leader accepts writes)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--peers <conninfo-or-url...>', 'other followers to compare with (default: cluster.peers)')
    .option(
      '--advertise <conninfo>',
      'how other nodes reach this one, for the printed follow/rebuild commands',
    )
    .option(
      '--replay-timeout <duration>',
      'how long to wait for WAL to be replayed (default cluster.replayTimeoutMs)',
      parseDurationFlag,
    )
    .option(
      '--finish-replay',
      'a delayed follower: lift recovery_min_apply_delay and replay all received WAL before promoting',
    )
    .option('--json', 'print the checklist and result as JSON')
    .action(async (flags: PromoteFlags) => {
      const out = env.output;
      const ctx = await env.context({
        needBinaries: false,
      });
      const startedAt = ctx.clock.now();
      const replayTimeoutMs = flags.replayTimeout ?? ctx.config.cluster.replayTimeoutMs;
      const plan = await checkPromotion(ctx, {
        peers: flags.peers,
        dryRun: flags.dryRun,
        replayTimeoutMs,
        advertise: flags.advertise,
        finishReplay: flags.finishReplay,
      });
      const report: Record<string, unknown> = {
        checks: plan.checks,
        estimatedLossBytes: plan.estimatedLossBytes,
        zeroLoss: plan.zeroLoss.zeroLoss,
        zeroLossProof: plan.zeroLoss.zeroLoss ? plan.zeroLoss.proof : null,
        zeroLossReason: plan.zeroLoss.zeroLoss ? null : plan.zeroLoss.reason,
        dryRun: flags.dryRun === true,
      };
      if (!flags.json) {
        out.print(`promote ${ctx.config.node.name ?? 'this node'}: checks`);
        out.print(formatChecklist(plan.checks));
        out.print(
          plan.zeroLoss.zeroLoss
            ? `zero loss: proven (${describeProof(plan.zeroLoss.proof)})`
            : `zero loss: not proven: ${plan.zeroLoss.reason}; estimated loss ${plan.estimatedLossBytes === null ? 'unknown' : `${plan.estimatedLossBytes} bytes`}`,
        );
      }
      const finish = (code: number, message: string, hint?: string): void => {
        if (flags.json) {
          out.json({ ...report, exitCode: code, message, hint });
          env.setExitCode(code);
          return;
        }
        if (code === ExitCode.OK) {
          out.print(message);
          return;
        }
        // The checklist is already printed; the error carries only the verdict.
        throw new RefusedError(message, [], { hint });
      };

      if (plan.blocking.length > 0) {
        finish(
          ExitCode.REFUSED,
          `refusing to promote: failed check: ${plan.blocking.map((c) => c.name).join('; ')} (cannot be forced)`,
          plan.blocking.map((c) => c.detail).join('; '),
        );
        return;
      }
      if (flags.dryRun) {
        if (plan.forceable.length > 0) {
          finish(
            ExitCode.REFUSED,
            `dry run: promote would refuse: ${plan.forceable.map((c) => c.name).join('; ')} (--force overrides)`,
          );
        } else
          finish(
            ExitCode.OK,
            'dry run: all checks pass; nothing was changed. Run again without --dry-run to promote.',
          );
        return;
      }
      if (plan.forceable.length > 0 && !flags.force) {
        finish(
          ExitCode.REFUSED,
          `refusing to promote: failed check: ${plan.forceable.map((c) => c.name).join('; ')}`,
          'fix the failing checks, or pass --force to promote anyway and accept the loss shown above',
        );
        return;
      }
      if (plan.forceable.length > 0) {
        out.error(
          `warning: --force: promoting despite failed check: ${plan.forceable.map((c) => c.name).join('; ')}`,
        );
      }
      if (!flags.yes) {
        if (!out.isTTY) {
          finish(
            ExitCode.REFUSED,
            'not promoting: confirmation needed and stdin is not a terminal',
            'pass --yes',
          );
          return;
        }
        if (!(await out.confirm(`promote ${ctx.config.node.name ?? 'this node'} to leader now?`))) {
          finish(ExitCode.REFUSED, 'not promoting: not confirmed; nothing was changed');
          return;
        }
      }

      const result = await executePromotion(ctx, plan, startedAt);
      // Channels with `lifecycle: true` hear about it; never fails the promotion (bounded wait).
      await notifyLifecycle(ctx, {
        kind: 'promote',
        message: `promoted to leader on timeline ${result.timeline} (was ${result.previousTimeline}) at ${formatLsn(result.currentLsn)}; other followers must follow or rebuild`,
      });
      const next = describeNextSteps(plan, '');
      report.result = result;
      report.next = next;
      if (flags.json) {
        out.json({ ...report, exitCode: ExitCode.OK });
        return;
      }
      out.print(
        `promoted: this node is the leader on timeline ${result.timeline} (was ${result.previousTimeline}), ` +
          `accepting writes at ${formatLsn(result.currentLsn)}; first write ${result.msToFirstWrite} ms after the command started`,
      );
      if (result.removedSettings.length > 0) {
        out.print(
          `removed standby settings: ${result.removedSettings.join(', ')} (restore_command kept: inert on a primary)`,
        );
      }
      for (const w of result.warnings) out.error(`warning: ${w}`);
      for (const line of next) out.print(line);
    });
};
