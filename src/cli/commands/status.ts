import { readStatus } from '../../daemon/status-client.js';
import { formatStatus } from '../../monitor/status.js';
import type { RegisterCommand } from '../command.js';

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
      if (flags.json) env.output.json(doc);
      else {
        env.output.print(formatStatus(doc));
        if (doc.source === 'direct')
          env.output.error('(no supervisor answered on http.listen; queried directly)');
      }
    });
};
