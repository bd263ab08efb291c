import { readStatus } from '../../daemon/status-client.js';
import { formatStatus } from '../../monitor/status.js';
import type { RegisterCommand } from '../command.js';
import type { Context } from '../../context.js';
import type { StatusDocument } from '../../monitor/status.js';
import { computeWaysBack, formatWaysBack, needsWayBack, type WaysBack } from '../../backup/ways-back.js';

export const registerStatus: RegisterCommand = (program, env) => {
  program
    .command('status')
    .description(
      "show this follower's state, lag and slot (asks the running supervisor, else queries the servers itself)",
    )
    .option('--json', 'print one JSON object (node, role, state, timeline, LSNs, lag, slot, ...)')
    .option('--direct', 'query the servers even when a supervisor runs')
    .action(async (flags: { json?: boolean; direct?: boolean }) => {
      const ctx = await env.context({
        needBinaries: false,
      });
      const doc = await readStatus(ctx, { direct: flags.direct });
      const ways = needsWayBack(doc) ? await waysBackFor(ctx, doc) : undefined;
      if (flags.json) env.output.json(ways ? { ...doc, waysBack: ways } : doc);
      else {
        env.output.print(formatStatus(doc));
        if (ways) env.output.print(formatWaysBack(ways).join('\n'));
        if (doc.source === 'direct')
          env.output.error('(no supervisor answered on http.listen; queried directly)');
      }
    });
};

/**
 * For a follower that is stalled or behind: the estimate's inputs (this host's measured rates, the
 * newest backup), without sampling the leader's WAL rate (no answer here needs it).
 */
async function waysBackFor(ctx: Context, doc: StatusDocument): Promise<WaysBack | undefined> {
  const { openArchiveStore } = await import('../../archive/store/open-store.js');
  const { computeEstimate, gatherEstimateInputs } = await import('../../backup/estimate.js');
  const store = ctx.config.archive.type === 'none' ? undefined : openArchiveStore(ctx.config);
  try {
    const inputs = await gatherEstimateInputs(ctx, store, {
      walBytesPerSecond: 0,
      supervisor: doc.source === 'supervisor' ? doc : null,
    });
    return computeWaysBack(doc, computeEstimate(inputs), { archiveConfigured: store !== undefined });
  } catch (error) {
    ctx.logger.info({ err: (error as Error).message }, 'no estimate of the ways back');
    return undefined;
  } finally {
    store?.close();
  }
}
