import type { Command } from 'commander';
import { bootstrapFollower } from '../../bootstrap/bootstrap.js';
import type { CommandEnv } from '../command.js';
import { parseRateFlag } from '../flags.js';
import { formatChecklist } from '../format.js';
import { confirmPlan } from '../output.js';
import { formatBytes } from '../../config/units.js';
import { restoreCommandFor } from '../../archive/follower/restore-command.js';
import { notifyLifecycle } from '../../alerts/notify.js';
import { durationMs } from '../../config/units.js';
import type { Context } from '../../context.js';
import { UsageError } from '../../errors.js';
import { parseTablespaceMapping, tablespaceMappingArgs } from '../../backup/tablespaces.js';
import { collect } from '../flags.js';

interface BootstrapFlags {
  force?: boolean;
  start: boolean;
  yes?: boolean;
  dataDirectory?: string;
  leader?: string;
  json?: boolean;
  maxRate?: string;
  fromArchive?: boolean;
  backup?: string;
  timeout?: string;
  tablespaceMapping?: string[];
}

export function registerBootstrap(program: Command, env: CommandEnv): void {
  program
    .command('bootstrap')
    .description(
      'make this host a follower: pre-flight checks, slot, pg_basebackup -X stream, standby config, start',
    )
    .option('--force', 'move a non-empty data directory aside (never deleted) instead of refusing')
    .option('--no-start', 'leave the server stopped after the copy')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('-D, --data-directory <dir>', 'overrides node.dataDirectory')
    .option('--leader <conninfo>', 'overrides leader.conninfo')
    .option(
      '--max-rate <rate>',
      "limit the copy's bandwidth, as pg_basebackup --max-rate (e.g. 100M)",
      parseRateFlag,
    )
    .option(
      '--from-archive',
      'restore a base backup from the archive instead of copying the leader (works with the leader down)',
    )
    .option('--backup <id>', 'with --from-archive: this backup instead of the newest complete one')
    .option('--timeout <duration>', 'with --from-archive: how long to wait for streaming or replay', '10m')
    .option(
      '--tablespace-mapping <old=new>',
      'put the tablespace at OLD in directory NEW (absent or empty), as pg_basebackup does; repeatable',
      collect,
    )
    .option('--json', 'print the result as JSON')
    .action(async (flags: BootstrapFlags) => {
      const ctx = await env.context({
        require: ['node.name', 'node.dataDirectory', 'leader.conninfo'],
        overrides: { node: { dataDirectory: flags.dataDirectory }, leader: { conninfo: flags.leader } },
      });
      const { output } = env;
      if (flags.backup && !flags.fromArchive) {
        throw new UsageError('--backup needs --from-archive', {
          hint: 'pgfollower bootstrap --from-archive --backup ID',
        });
      }
      if (flags.fromArchive) {
        await bootstrapFromArchiveCommand(env, ctx, flags);
        return;
      }
      const mapping = parseTablespaceMapping(flags.tablespaceMapping);
      const result = await bootstrapFollower(ctx, {
        force: flags.force === true,
        basebackupArgs: tablespaceMappingArgs(mapping),
        start: flags.start,
        maxRate: flags.maxRate,
        restoreCommand: restoreCommandFor(ctx.config, { configFile: ctx.configFile }),
        confirm: confirmPlan(output, flags.yes === true),
      });
      // The whole bootstrap's duration (pre-flight and start included): a conservative clone rate.
      const { measurementsFileFor, recordMeasurement } = await import('../../backup/measurements.js');
      await recordMeasurement(
        measurementsFileFor(ctx.config),
        'clone',
        { bytes: result.copiedBytes, ms: result.durationMs, at: ctx.clock.now() },
        ctx.exec.runAs,
      );
      // Channels with `lifecycle: true` hear about it; never fails the bootstrap (bounded wait).
      await notifyLifecycle(ctx, {
        kind: 'bootstrap',
        message: `bootstrap done: copied ${formatBytes(result.copiedBytes)} into ${result.dataDirectory}${result.streaming ? `, streaming on timeline ${result.streaming.timeline}` : ', server not started'}`,
      });
      if (flags.json) {
        output.json(result);
        return;
      }
      output.print(formatChecklist(result.checks));
      output.print(
        `bootstrap done in ${(result.durationMs / 1000).toFixed(1)} s: copied ${formatBytes(result.copiedBytes)} into ${result.dataDirectory}` +
          (result.slotName ? `, slot ${result.slotName}${result.slotCreated ? ' created' : ' reused'}` : ''),
      );
      if (result.movedAside)
        output.print(
          `the previous directory is kept at ${result.movedAside}; remove it once you no longer need it`,
        );
      output.print(
        result.streaming
          ? `streaming on timeline ${result.streaming.timeline}. next: start the supervisor (systemctl enable --now pgfollower, or pgfollower run) and check with pgfollower status`
          : `the server is stopped (--no-start). next: pg_ctl start -D ${result.dataDirectory}, then pgfollower run`,
      );
    });
}

async function bootstrapFromArchiveCommand(
  env: CommandEnv,
  ctx: Context,
  flags: BootstrapFlags,
): Promise<void> {
  const { output } = env;
  const { openArchiveStore } = await import('../../archive/store/open-store.js');
  const { bootstrapFromArchive } = await import('../../bootstrap/from-archive.js');
  const { recordRestoreMeasurements } = await import('../../bootstrap/restore-measurements.js');
  const store = openArchiveStore(ctx.config);
  try {
    const result = await bootstrapFromArchive(ctx, store, {
      backupId: flags.backup,
      tablespaceMapping: parseTablespaceMapping(flags.tablespaceMapping),
      force: flags.force === true,
      start: flags.start,
      restoreCommand: restoreCommandFor(ctx.config, { configFile: ctx.configFile }),
      timeoutMs: durationMs.parse(flags.timeout ?? '10m'),
      confirm: confirmPlan(output, flags.yes === true),
    });
    await recordRestoreMeasurements(ctx, result);
    await notifyLifecycle(ctx, {
      kind: 'bootstrap',
      message: `bootstrap from archive backup ${result.backup.id} done: ${result.state}`,
    });
    if (flags.json) {
      output.json(result);
      return;
    }
    output.print(formatChecklist(result.checks));
    output.print(
      `bootstrap from backup ${result.backup.id} done in ${(result.durationMs / 1000).toFixed(1)} s: restored ${formatBytes(result.backup.rawBytes)} in ${(result.restoreMs / 1000).toFixed(1)} s into ${result.dataDirectory}`,
    );
    if (result.movedAside)
      output.print(
        `the previous directory is kept at ${result.movedAside}; remove it once you no longer need it`,
      );
    if (result.state === 'streaming')
      output.print('streaming from the leader. next: pgfollower run, then pgfollower status');
    else if (result.state === 'archive-recovery')
      output.print(
        `the leader does not answer: replayed from the archive up to ${result.replayLsn ?? '?'}; the follower waits in archive-recovery and streams once the leader answers${result.slotName ? ` (slot ${result.slotName} is created by slot repair in pgfollower run)` : ''}. next: pgfollower run`,
      );
    else
      output.print(
        `the server is stopped (--no-start). next: pg_ctl start -D ${result.dataDirectory}, then pgfollower run`,
      );
  } finally {
    store.close();
  }
}
