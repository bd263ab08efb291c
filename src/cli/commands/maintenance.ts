import type { RegisterCommand } from '../command.js';
import { UsageError } from '../../errors.js';
import { durationMs, formatDurationMs } from '../../config/units.js';
import {
  describeMaintenance,
  endMaintenance,
  readMaintenance,
  resolveMaintenanceFile,
  startMaintenance,
} from '../../daemon/maintenance.js';

const DEFAULT_WINDOW = '1h';

export const registerMaintenance: RegisterCommand = (program, env) => {
  program
    .command('maintenance')
    .description(
      'maintenance on|off|status: the supervisor keeps monitoring but holds alerts and slot repair; ends by itself',
    )
    .argument('<action>', 'on, off or status')
    .option('--for <duration>', `how long the window lasts (default ${DEFAULT_WINDOW})`)
    .option('--reason <text>', 'said in every held notification and log line')
    .option('--json', 'print the window as JSON')
    .action(async (action: string, flags: { for?: string; reason?: string; json?: boolean }) => {
      const out = env.output;
      const ctx = await env.context({ needBinaries: false });
      const file = resolveMaintenanceFile(ctx.config);
      if (!file) {
        throw new UsageError('no place for the maintenance file', {
          hint: 'set monitor.stateFile (or node.dataDirectory) as `pgfollower run` uses it',
        });
      }
      const now = ctx.clock.now();
      if (action === 'on') {
        const parsed = durationMs.safeParse(flags.for ?? DEFAULT_WINDOW);
        if (!parsed.success || parsed.data <= 0) {
          throw new UsageError(`--for ${flags.for ?? ''}: not a duration`, { hint: 'write e.g. 30m, 2h' });
        }
        const window = { since: now, until: now + parsed.data, reason: flags.reason ?? null };
        await startMaintenance(file, window);
        if (flags.json) out.json({ maintenance: true, file, ...iso(window) });
        else
          out.print(
            `${describeMaintenance(window)}: alerts and slot repair held for ${formatDurationMs(parsed.data)}; monitoring goes on. End it early with: pgfollower maintenance off`,
          );
        return;
      }
      if (action === 'off') {
        const was = readMaintenance(file, now);
        await endMaintenance(file);
        if (flags.json) out.json({ maintenance: false, file, ended: was ? iso(was) : null });
        else
          out.print(
            was
              ? 'maintenance ended: alerts still firing are sent now, slot repair resumes'
              : 'no maintenance window was in force',
          );
        return;
      }
      if (action === 'status') {
        const current = readMaintenance(file, now);
        if (flags.json) out.json({ maintenance: current !== null, file, ...(current ? iso(current) : {}) });
        else out.print(current ? describeMaintenance(current) : 'no maintenance window in force');
        return;
      }
      throw new UsageError(`maintenance ${action}: unknown action`, { hint: 'use on, off or status' });
    });
};

function iso(m: { since: number; until: number; reason: string | null }) {
  return { since: new Date(m.since).toISOString(), until: new Date(m.until).toISOString(), reason: m.reason };
}
