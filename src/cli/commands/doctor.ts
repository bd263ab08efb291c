import { ConfigError, ExitCode } from '../../errors.js';
import { configFailure, runDoctor, type DoctorReport } from '../../doctor/doctor.js';
import type { RegisterCommand } from '../command.js';

const marks = { ok: '[ ok ]', fail: '[FAIL]', skip: '[skip]' } as const;

/**
 * `pgfollower doctor [--json]`: one line per check with what to fix; exit 0 only when none failed,
 * 2 when the configuration itself is invalid, 1 for any other failed check.
 */
export const registerDoctor: RegisterCommand = (program, env) => {
  program
    .command('doctor')
    .description(
      'check this host: programs, config, leader (SQL and replication), slot, archive, restore_command, privileges, systemd unit, clocks; say what to fix',
    )
    .option('--unit <file>', 'the systemd unit to check (default: the installed pgfollower.service)')
    .option('--json', 'print { ok, configFile, checks: [{ name, status, detail, fix }] }')
    .action(async (flags: { unit?: string; json?: boolean }) => {
      let report: DoctorReport;
      let exitCode: number = ExitCode.OK;
      try {
        const ctx = await env.context({
          needBinaries: false,
          require: ['node.name', 'node.dataDirectory', 'leader.conninfo'],
        });
        report = await runDoctor(ctx, { unitFile: flags.unit });
        if (!report.ok) exitCode = ExitCode.FAILED;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        report = configFailure(env.globals().config ?? env.env.PGFOLLOWER_CONFIG, error.message);
        exitCode = ExitCode.USAGE;
      }
      if (flags.json) env.output.json(report);
      else {
        for (const check of report.checks) {
          env.output.print(`${marks[check.status]} ${check.name}: ${check.detail}`);
          if (check.status === 'fail' && check.fix) env.output.print(`       fix: ${check.fix}`);
        }
        const failed = report.checks.filter((c) => c.status === 'fail').length;
        env.output.print(
          failed === 0
            ? 'all checks passed'
            : `${failed} check${failed === 1 ? '' : 's'} failed: fix them in order, then run pgfollower doctor again`,
        );
      }
      env.setExitCode(exitCode);
    });
};
