import type { RegisterCommand } from '../command.js';
import { formatChecklist } from '../format.js';
import { ExitCode, RefusedError } from '../../errors.js';
import { executeFollow, planFollow } from '../../failover/follow.js';
import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';
import { parseDurationFlag } from '../flags.js';
import { notifyLifecycle } from '../../alerts/notify.js';

interface FollowFlags {
  leader: string;
  yes?: boolean;
  dryRun?: boolean;
  timeout: number;
  json?: boolean;
  direct?: boolean;
}

export const registerFollow: RegisterCommand = (program, env) => {
  program
    .command('follow')
    .description('re-point this follower at a new leader after a failover (refuses if this node diverged)')
    .requiredOption('--leader <conninfo>', 'the new leader (libpq conninfo)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'compare timelines and print the checklist; change nothing')
    .option(
      '--timeout <duration>',
      'how long to wait until this node streams from the new leader (default 120s)',
      parseDurationFlag,
      120_000,
    )
    .option(
      '--direct',
      'a cascaded follower (cluster.primary set): stream from the new leader even when its upstream follows it',
    )
    .option('--json', 'print the checklist and result as JSON')
    .action(async (flags: FollowFlags) => {
      const out = env.output;
      const ctx = await env.context({
        require: ['node.dataDirectory'],
      });
      const tools = { exec: ctx.exec, bin: ctx.bin, signal: ctx.signal };
      const plan = await planFollow(ctx, tools, flags.leader, { direct: flags.direct });
      const where = describeConninfo(flags.leader);
      const via = plan.cascadeKept ? ` through ${describeConninfo(plan.leaderConninfo)} (cascade kept)` : '';
      if (!flags.json) {
        out.print(`follow ${where}: checks`);
        out.print(formatChecklist(plan.checks));
      }
      const refuse = (message: string, hint?: string): void => {
        if (flags.json) {
          out.json({ checks: plan.checks, exitCode: ExitCode.REFUSED, message, hint });
          env.setExitCode(ExitCode.REFUSED);
          return;
        }
        throw new RefusedError(message, [], { hint });
      };
      if (!plan.ok) {
        const failed = plan.checks.filter((c) => !c.ok);
        const diverged =
          plan.verdict.kind === 'diverged' || plan.verdict.kind === 'unrelated' || !plan.local.inRecovery;
        refuse(
          `refusing to follow ${where}: ${failed.map((c) => c.name).join('; ')} failed; nothing was changed`,
          diverged
            ? `run: pgfollower rebuild --leader '${maskConninfo(flags.leader)}' --yes (pg_rewind first, re-clone otherwise)`
            : failed.map((c) => c.detail).join('; '),
        );
        return;
      }
      if (flags.dryRun) {
        if (flags.json) out.json({ checks: plan.checks, exitCode: ExitCode.OK, dryRun: true });
        else out.print('dry run: this node can follow the new leader; nothing was changed');
        return;
      }
      if (!flags.yes) {
        if (!out.isTTY) {
          refuse(
            'not following: confirmation needed and stdin is not a terminal; nothing was changed',
            'pass --yes',
          );
          return;
        }
        if (!(await out.confirm(`re-point this node at ${where}?`))) {
          refuse('not following: not confirmed; nothing was changed');
          return;
        }
      }
      const result = await executeFollow(ctx, tools, plan, {
        timeoutMs: flags.timeout,
      });
      // Channels with `lifecycle: true` hear about it; never fails the follow (bounded wait).
      await notifyLifecycle(ctx, {
        kind: 'follow',
        message: `now following ${where}${via} on timeline ${result.timeline}`,
      });
      if (flags.json) {
        out.json({
          checks: plan.checks,
          result: {
            ...result,
            cascadeKept: plan.cascadeKept,
            upstream: describeConninfo(plan.leaderConninfo),
          },
          exitCode: ExitCode.OK,
        });
        return;
      }
      out.print(
        `following ${where}${via}: streaming on timeline ${result.timeline}, received up to ${result.receiveLsn ?? '?'} ` +
          `(${result.ms} ms${result.restarted ? ', server (re)started' : ', reloaded without restart'}` +
          `${result.slotCreated ? `, created slot ${plan.slotName} on the new leader` : ''})`,
      );
      out.print(
        plan.cascadeKept
          ? `next: set cluster.primary to '${maskConninfo(flags.leader)}' in this node's pgfollower config (leader.conninfo stays its upstream)`
          : `next: set leader.conninfo to '${maskConninfo(flags.leader)}' in this node's pgfollower config`,
      );
    });
};
