import type { CommandEnv, RegisterCommand } from '../command.js';
import type { Context } from '../../context.js';
import { formatChecklist } from '../format.js';
import { confirmPlan } from '../output.js';
import { ExitCode, RefusedError, UsageError } from '../../errors.js';
import { executeRebuild } from '../../failover/rebuild/execute.js';
import { planRebuild } from '../../failover/rebuild/plan.js';
import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';
import { collect, parseDurationFlag, parseRateFlag } from '../flags.js';
import { parseTablespaceMapping } from '../../backup/tablespaces.js';
import { notifyLifecycle } from '../../alerts/notify.js';

interface RebuildFlags {
  leader?: string;
  clone?: boolean;
  keepOld?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  maxRate?: string;
  timeout: number;
  json?: boolean;
  fromArchive?: boolean;
  backup?: string;
  tablespaceMapping?: string[];
}

export const registerRebuild: RegisterCommand = (program, env) => {
  program
    .command('rebuild')
    .description(
      'turn this node (old leader, diverged or stalled follower) into a follower: pg_rewind first, fresh clone otherwise',
    )
    .option('--leader <conninfo>', 'the leader to follow (default: leader.conninfo)')
    .option('--clone', 'skip pg_rewind: copy the leader afresh with pg_basebackup')
    .option(
      '--keep-old',
      'keep the old data directory (moved or copied aside) instead of removing it once the new one streams',
    )
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'print what would be done and why; change nothing')
    .option(
      '--max-rate <rate>',
      "limit a clone's bandwidth, as pg_basebackup --max-rate (e.g. 100M)",
      parseRateFlag,
    )
    .option(
      '--timeout <duration>',
      'how long to wait until the rebuilt node streams (default 300s)',
      parseDurationFlag,
      300_000,
    )
    .option(
      '--from-archive',
      'restore a base backup from the archive instead (no load on the leader, works with it down); the old directory is moved aside and kept',
    )
    .option('--backup <id>', 'with --from-archive: this backup instead of the newest complete one')
    .option(
      '--tablespace-mapping <old=new>',
      'with --from-archive: restore the tablespace at OLD into NEW (absent or empty); needed while the old tablespace directory is still there; repeatable',
      collect,
    )
    .option('--json', 'print the plan and result as JSON')
    .action(async (flags: RebuildFlags) => {
      const out = env.output;
      const ctx = await env.context({
        require: ['node.name', 'node.dataDirectory'],
        overrides: { leader: { conninfo: flags.leader } },
      });
      const leader = ctx.config.leader.conninfo;
      if (!leader)
        throw new UsageError('no leader given', { hint: 'pass --leader CONNINFO or set leader.conninfo' });
      if (flags.tablespaceMapping && !flags.fromArchive)
        throw new UsageError(
          '--tablespace-mapping needs --from-archive (pg_rewind and a clone keep the locations)',
        );
      if (flags.fromArchive) {
        await rebuildFromArchive(env, ctx, flags);
        return;
      }
      const tools = { exec: ctx.exec, bin: ctx.bin, signal: ctx.signal };
      const configFile = ctx.configFile;
      const plan = await planRebuild(ctx, tools, { leader, clone: flags.clone, configFile });
      const where = describeConninfo(leader);
      const method =
        plan.method === 'rewind'
          ? `pg_rewind ${plan.dataDirectory} from ${where} (copies only what changed since the fork)`
          : `clone ${where} afresh with pg_basebackup; ${plan.directoryState === 'data-directory' || plan.directoryState === 'other' ? `the current ${plan.dataDirectory} is moved aside and ${flags.keepOld ? 'kept' : 'removed only once the new copy streams'}` : 'nothing to move aside'}`;
      if (!flags.json) {
        out.print(`rebuild ${ctx.config.node.name ?? ''} as a follower of ${where}: checks`);
        out.print(formatChecklist(plan.checks));
        out.print(`plan: ${method}`);
        out.print(`because: ${plan.reasons.join('; ')}`);
        for (const dir of plan.leftAside)
          out.print(
            `note: ${dir} was left by an earlier run; it is kept (remove it yourself when no longer needed)`,
          );
      }
      const failed = plan.checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        const message = `refusing to rebuild: ${failed.map((c) => c.name).join('; ')} failed; nothing was changed`;
        if (flags.json) {
          out.json({ plan, exitCode: ExitCode.REFUSED, message });
          env.setExitCode(ExitCode.REFUSED);
          return;
        }
        throw new RefusedError(message, [], { hint: failed.map((c) => c.detail).join('; ') });
      }
      if (flags.dryRun) {
        if (flags.json) out.json({ plan, dryRun: true, exitCode: ExitCode.OK });
        else out.print('dry run: nothing was changed');
        return;
      }
      if (!flags.yes) {
        const refuse = (message: string, hint?: string): void => {
          if (flags.json) {
            out.json({ plan, exitCode: ExitCode.REFUSED, message, hint });
            env.setExitCode(ExitCode.REFUSED);
            return;
          }
          throw new RefusedError(message, [], { hint });
        };
        if (!out.isTTY) {
          refuse(
            'not rebuilding: confirmation needed and stdin is not a terminal; nothing was changed',
            'pass --yes',
          );
          return;
        }
        if (!(await out.confirm(`stop the local server and ${method}?`))) {
          refuse('not rebuilding: not confirmed; nothing was changed');
          return;
        }
      }
      const result = await executeRebuild(ctx, tools, plan, {
        leader,
        clone: flags.clone,
        keepOld: flags.keepOld,
        configFile,
        maxRate: flags.maxRate,
        streamTimeoutMs: flags.timeout,
      });
      // Channels with `lifecycle: true` hear about it; never fails the rebuild (bounded wait).
      await notifyLifecycle(ctx, {
        kind: 'rebuild',
        message: `rebuilt by ${result.method === 'rewind' ? 'pg_rewind' : 'clone'}: streaming from ${where} on timeline ${result.timeline}`,
      });
      if (flags.json) {
        out.json({ plan, result, exitCode: ExitCode.OK });
        return;
      }
      if (result.rewindFailure)
        out.error(`warning: pg_rewind failed (${result.rewindFailure}); cloned instead`);
      out.print(
        `rebuilt by ${result.method === 'rewind' ? 'pg_rewind' : 'clone'} in ${(result.ms / 1000).toFixed(1)} s: ` +
          `streaming from ${where} on timeline ${result.timeline}, received up to ${result.receiveLsn ?? '?'}`,
      );
      if (result.oldDirectory) {
        out.print(
          result.oldRemoved
            ? `removed the old data directory ${result.oldDirectory} (the new one streams)`
            : `the old data directory is kept at ${result.oldDirectory}; remove it once you no longer need it`,
        );
      }
      out.print(
        `next: set leader.conninfo to '${maskConninfo(leader)}' in this node's pgfollower config, and start the supervisor (pgfollower run)`,
      );
    });
};

/**
 * `rebuild --from-archive`: stops the local server (after confirmation), moves the old directory
 * aside and keeps it, never deleted, because with the leader down the new one only replays the
 * archive until the leader answers.
 */
async function rebuildFromArchive(env: CommandEnv, ctx: Context, flags: RebuildFlags): Promise<void> {
  const out = env.output;
  if (flags.dryRun) throw new UsageError('--dry-run is not supported with --from-archive yet');
  if (!flags.yes && !out.isTTY) {
    throw new RefusedError(
      'not rebuilding: confirmation needed and stdin is not a terminal; nothing was changed',
      [],
      {
        hint: 'pass --yes',
      },
    );
  }
  const { openArchiveStore } = await import('../../archive/store/open-store.js');
  const { restoreCommandFor } = await import('../../archive/follower/restore-command.js');
  const { bootstrapFromArchive } = await import('../../bootstrap/from-archive.js');
  const { recordRestoreMeasurements } = await import('../../bootstrap/restore-measurements.js');
  const store = openArchiveStore(ctx.config);
  try {
    const result = await bootstrapFromArchive(ctx, store, {
      backupId: flags.backup,
      tablespaceMapping: parseTablespaceMapping(flags.tablespaceMapping),
      force: true,
      stopRunning: true,
      restoreCommand: restoreCommandFor(ctx.config, { configFile: ctx.configFile }),
      timeoutMs: flags.timeout,
      confirm: confirmPlan(out, flags.yes === true),
    });
    await recordRestoreMeasurements(ctx, result);
    await notifyLifecycle(ctx, {
      kind: 'rebuild',
      message: `rebuilt from archive backup ${result.backup.id}: ${result.state}`,
    });
    if (flags.json) {
      out.json({ result, exitCode: ExitCode.OK });
      return;
    }
    out.print(formatChecklist(result.checks));
    out.print(
      `rebuilt from backup ${result.backup.id} in ${(result.durationMs / 1000).toFixed(1)} s: ${result.state === 'streaming' ? 'streaming from the leader' : `replayed from the archive to ${result.replayLsn ?? '?'}, waiting in archive-recovery for the leader`}`,
    );
    if (result.movedAside)
      out.print(
        `the old data directory is kept at ${result.movedAside}; remove it once you no longer need it`,
      );
  } finally {
    store.close();
  }
}
