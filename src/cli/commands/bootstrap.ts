import type { Command } from 'commander';
import { bootstrapFollower } from '../../bootstrap/bootstrap.js';
import type { CommandEnv } from '../command.js';
import { parseRateFlag } from '../flags.js';
import { formatChecklist } from '../format.js';
import { formatBytes } from '../../config/units.js';
import { restoreCommandFor } from '../../archive/follower/restore-command.js';
import { notifyLifecycle } from '../../alerts/notify.js';

interface BootstrapFlags {
  force?: boolean;
  start: boolean;
  yes?: boolean;
  dataDirectory?: string;
  leader?: string;
  json?: boolean;
  maxRate?: string;
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
    .option('--json', 'print the result as JSON')
    .action(async (flags: BootstrapFlags) => {
      const ctx = await env.context({
        require: ['node.name', 'node.dataDirectory', 'leader.conninfo'],
        overrides: { node: { dataDirectory: flags.dataDirectory }, leader: { conninfo: flags.leader } },
      });
      const { output } = env;
      const result = await bootstrapFollower(ctx, {
        force: flags.force === true,
        start: flags.start,
        maxRate: flags.maxRate,
        restoreCommand: restoreCommandFor(ctx.config, { configFile: ctx.configFile }),
        confirm:
          flags.yes || !output.isTTY
            ? undefined
            : async (plan) => {
                output.error(plan);
                return output.confirm('proceed?');
              },
      });
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
