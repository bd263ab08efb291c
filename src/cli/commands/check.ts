import { readStatus } from '../../daemon/status-client.js';
import { checkLabel, evaluateCheck, unknownLine, type CheckResultLine } from '../../monitor/check.js';
import type { StatusDocument } from '../../monitor/status.js';
import { parseDurationSeconds, parseSize, sizeHint } from '../../config/units.js';
import { CommanderError } from 'commander';
import { NagiosCode, UsageError } from '../../errors.js';
import type { RegisterCommand } from '../command.js';

interface CheckFlags {
  warnLag?: string;
  critLag?: string;
  warnSeconds?: string;
  critSeconds?: string;
  direct?: boolean;
  json?: boolean;
}

/** The CommanderError code main() answers with the error's own exit code (UNKNOWN). */
const checkUsageCode = 'pgfollower.check.usage';

/**
 * A Nagios/Icinga plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN and one line with perfdata.
 * Every failure of its own (bad flags, unreadable config) is UNKNOWN, never a plugin crash.
 */
export const registerCheck: RegisterCommand = (program, env) => {
  program
    .command('check')
    .description(
      'Nagios/Icinga check of this follower: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one line with perfdata',
    )
    .option('--warn-lag <size>', 'WARNING above this replay lag (default monitor.warnLagBytes, 64MB)')
    .option('--crit-lag <size>', 'CRITICAL above this replay lag (default monitor.critLagBytes, 1GB)')
    .option(
      '--warn-seconds <duration>',
      'WARNING above this long behind: seconds or 90s, 5m (default monitor.warnLagSeconds, 60)',
    )
    .option(
      '--crit-seconds <duration>',
      'CRITICAL above this long behind: seconds or 90s, 5m (default monitor.critLagSeconds, 300)',
    )
    .option('--direct', 'query the servers even when a supervisor runs')
    .option(
      '--json',
      'print { status, exitCode, line, document } instead of the plugin line (same exit code)',
    )
    // A usage error is UNKNOWN with one status line, as for any other failure of the plugin itself.
    .showHelpAfterError(false)
    .configureOutput({ outputError: () => undefined })
    .exitOverride((error) => {
      if (error.exitCode === 0) throw error;
      const message = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, '; ');
      env.output.print(unknownLine(`usage: ${message}`).line);
      throw new CommanderError(NagiosCode.UNKNOWN, checkUsageCode, message);
    })
    .action(async (flags: CheckFlags) => {
      let result: CheckResultLine;
      let doc: StatusDocument | null = null;
      try {
        const configFile = env.globals().config ?? env.env.PGFOLLOWER_CONFIG;
        // Flags are checked first (with the defaults when there is no file), then the file's presence.
        const ctx = await env.context({
          needBinaries: false,
          overrides: {
            monitor: {
              warnLagBytes: parseSizeFlag(flags.warnLag, '--warn-lag'),
              critLagBytes: parseSizeFlag(flags.critLag, '--crit-lag'),
              warnLagSeconds: parseSeconds(flags.warnSeconds, '--warn-seconds'),
              critLagSeconds: parseSeconds(flags.critSeconds, '--crit-seconds'),
            },
          },
        });
        if (!configFile)
          throw new UsageError(
            'no configuration: pass --config FILE (before check) or set PGFOLLOWER_CONFIG',
          );
        const m = ctx.config.monitor;
        doc = await readStatus(ctx, { direct: flags.direct });
        result = evaluateCheck(doc, {
          warnLagBytes: m.warnLagBytes,
          critLagBytes: m.critLagBytes,
          warnLagSeconds: m.warnLagSeconds,
          critLagSeconds: m.critLagSeconds,
        });
      } catch (error) {
        result = unknownLine(
          (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, '; '),
        );
      }
      if (flags.json) {
        env.output.json({
          status: checkLabel(result.code),
          exitCode: result.code,
          line: result.line,
          document: doc,
        });
      } else env.output.print(result.line);
      env.setExitCode(result.code);
    });
};

function parseSizeFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = parseSize(value);
  if (n === undefined) throw new UsageError(`${flag} ${value}: not a size; ${sizeHint}`);
  return n;
}

function parseSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = parseDurationSeconds(value);
  if (n === undefined) throw new UsageError(`${flag} ${value}: write seconds (60) or a duration (90s, 5m)`);
  return n;
}
