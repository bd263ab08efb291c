import { durationMs, formatBytes, sizeBytes } from '../../config/units.js';
import { UsageError } from '../../errors.js';
import type { RegisterCommand } from '../command.js';

interface EstimateFlags {
  json?: boolean;
  outage?: string;
  targetRestore?: string;
  databaseSize?: string;
  cloneRate?: string;
  restoreRate?: string;
  replayRate?: string;
  walRate?: string;
}

/**
 * `pgfollower estimate [--json]`: how long a rebuild from the leader or a restore from the archive
 * would take, how long this follower may be down and still stream, and how often to take base
 * backups for a restore-time target. Formulas in docs/estimates.md.
 */
export const registerEstimate: RegisterCommand = (program, env) => {
  program
    .command('estimate')
    .description(
      'restore-time maths: rebuild vs restore time, survivable outage, catch-up, backup interval, RPO',
    )
    .option('--outage <duration>', 'catch-up time after an outage this long (e.g. 4h)')
    .option('--target-restore <duration>', 'backup interval that keeps a restore within this (e.g. 30m)')
    .option('--database-size <size>', 'instead of the measured database size (e.g. 500GB)')
    .option('--clone-rate <size>', 'bytes per second of a clone from the leader (e.g. 200MB)')
    .option('--restore-rate <size>', 'bytes per second of a backup restore')
    .option('--replay-rate <size>', 'bytes per second of WAL replay from the archive')
    .option('--wal-rate <size>', "bytes per second of the leader's WAL")
    .option('--json', 'print the estimate as JSON')
    .action(async (flags: EstimateFlags) => {
      const parse = <T>(
        schema: { safeParse(v: unknown): { success: boolean; data?: T } },
        value: string | undefined,
        name: string,
      ): T | undefined => {
        if (value === undefined) return undefined;
        const result = schema.safeParse(value);
        if (!result.success)
          throw new UsageError(`${name}: "${value}" is not valid`, { hint: 'write e.g. 4h, 30m, 200MB' });
        return result.data;
      };
      const outageMs = parse<number>(durationMs, flags.outage, '--outage');
      const targetMs = parse<number>(durationMs, flags.targetRestore, '--target-restore');
      const ctx = await env.context({ needBinaries: false });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { computeEstimate, gatherEstimateInputs } = await import('../../backup/estimate.js');
      const store = ctx.config.archive.type === 'none' ? undefined : openArchiveStore(ctx.config);
      try {
        const inputs = await gatherEstimateInputs(ctx, store, {
          databaseBytes: parse<number>(sizeBytes, flags.databaseSize, '--database-size'),
          cloneBytesPerSecond: parse<number>(sizeBytes, flags.cloneRate, '--clone-rate'),
          restoreBytesPerSecond: parse<number>(sizeBytes, flags.restoreRate, '--restore-rate'),
          replayBytesPerSecond: parse<number>(sizeBytes, flags.replayRate, '--replay-rate'),
          walBytesPerSecond: parse<number>(sizeBytes, flags.walRate, '--wal-rate'),
        });
        const estimate = computeEstimate(inputs, {
          outageSeconds: outageMs === undefined ? undefined : outageMs / 1000,
          targetRestoreSeconds: targetMs === undefined ? undefined : targetMs / 1000,
        });
        if (flags.json) {
          env.output.json(estimate);
          return;
        }
        const out = env.output;
        const sec = (n: number | null): string =>
          n === null ? 'unknown' : `${n.toFixed(0)} s (${(n / 3600).toFixed(2)} h)`;
        out.print(`rebuild from the leader:       ${sec(estimate.rebuildFromLeaderSeconds)}`);
        out.print(`restore from the archive:      ${sec(estimate.restoreFromArchiveSeconds)}`);
        out.print(
          `max survivable outage:         ${sec(estimate.maxSurvivableOutageSeconds)} (then catch up from the archive or restore)`,
        );
        if (estimate.outageSeconds !== undefined)
          out.print(`catch-up after ${flags.outage}:          ${sec(estimate.catchUpSecondsAfterOutage)}`);
        if (estimate.targetRestoreSeconds !== undefined)
          out.print(
            `backup interval for ${flags.targetRestore}:   ${sec(estimate.recommendedBackupIntervalSeconds)}`,
          );
        out.print(
          `WAL at risk now (RPO):         ${estimate.rpoBytes === null ? 'unknown' : formatBytes(estimate.rpoBytes)}`,
        );
        out.print('inputs:');
        for (const [name, input] of Object.entries(estimate.inputs))
          out.print(
            `  ${name}: ${input.value === null ? 'unknown' : name.endsWith('PerSecond') ? `${formatBytes(input.value)}/s` : formatBytes(input.value)} (${input.source}${input.detail ? `: ${input.detail}` : ''})`,
          );
        for (const note of estimate.notes) out.print(`note: ${note}`);
      } finally {
        store?.close();
      }
    });
};
