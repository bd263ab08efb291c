import { existsSync } from 'node:fs';
import type { Context } from '../../context.js';
import { ExitCode, PgFollowerError } from '../../errors.js';
import { maskConninfo } from '../../postgres/conninfo.js';
import type { PgTools } from '../../postgres/cluster.js';
import { restoreAside } from '../../postgres/data-directory.js';
import { rewindMarker, type RebuildPlan } from './plan.js';

/**
 * The clone failed: the configured path now holds nothing (bootstrap removed its incomplete copy)
 * or a `.failed-` copy sits next to it. A follower's old directory goes back in place, so the node
 * is as it was; an old leader's stays aside (started as is, it would be a second primary).
 */
export async function explainCloneFailure(
  ctx: Context,
  tools: PgTools,
  plan: RebuildPlan,
  error: unknown,
  old: string | undefined,
): Promise<PgFollowerError> {
  const cause = error instanceof Error ? error.message : String(error);
  if (!old) {
    return error instanceof PgFollowerError
      ? error
      : new PgFollowerError('REBUILD_FAILED', `rebuild failed: ${cause}`, ExitCode.FAILED, { cause: error });
  }
  if (plan.wasStandby && !existsSync(plan.dataDirectory) && !existsSync(rewindMarker(plan.dataDirectory))) {
    try {
      await restoreAside(tools, old, { configured: plan.dataDirectory });
      return new PgFollowerError(
        'REBUILD_FAILED',
        `rebuild by clone failed: ${cause}\nthe previous data directory was put back in place at ${plan.dataDirectory}; the node is as before`,
        ExitCode.FAILED,
        { cause: error, hint: 'fix the cause above and run pgfollower rebuild again' },
      );
    } catch (restoreError) {
      ctx.logger.error({ err: restoreError }, 'could not put the previous directory back');
    }
  }
  if (existsSync(rewindMarker(plan.dataDirectory))) {
    // pg_rewind started on that directory and did not finish: it may be half rewound, and started
    // as is it would run on silently inconsistent data. Never offer it as a way back.
    return new PgFollowerError(
      'REBUILD_FAILED',
      `rebuild by clone failed: ${cause}\nthe previous data directory is kept at ${old}, but an unfinished pg_rewind may have changed it (${rewindMarker(plan.dataDirectory)}): do not start it`,
      ExitCode.FAILED,
      {
        cause: error,
        hint: `fix the cause above and run pgfollower rebuild --leader '${maskConninfo(plan.leaderConninfo)}' --clone --yes again (it clones into ${plan.dataDirectory}); keep ${old} until the new copy streams`,
      },
    );
  }
  return new PgFollowerError(
    'REBUILD_FAILED',
    `rebuild by clone failed: ${cause}\nthe previous data directory is kept, untouched, at ${old}`,
    ExitCode.FAILED,
    {
      cause: error,
      hint: `run pgfollower rebuild --leader '${maskConninfo(plan.leaderConninfo)}' --yes again (it clones into ${plan.dataDirectory}); to go back instead: mv ${old} ${plan.dataDirectory}${plan.wasStandby ? '' : ' (an old leader: make it a standby before starting it, or it becomes a second primary)'}`,
    },
  );
}
