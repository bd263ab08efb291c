import { Command, CommanderError, Option } from 'commander';
import { ExitCode, PgFollowerError, RefusedError, ConfigError, StoppedError } from '../errors.js';
import type { CommandEnv } from './command.js';
import { loadCommands } from './commands/index.js';
import type { GlobalOptions } from './context.js';
import { createConsoleOutput, type Output } from './output.js';
import { readPackageInfo } from '../exec/self.js';
import { formatChecklist } from './format.js';
import { addExamples } from './examples.js';

interface MainOptions {
  output?: Output;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/** Parses argv (without node and script), runs one command, returns the exit code. */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const output = options.output ?? createConsoleOutput();
  const signal = options.signal ?? new AbortController().signal;
  let exitCode: number = ExitCode.OK;

  const program = new Command('pgfollower')
    .description(
      'Supervisor for PostgreSQL follower hosts: bootstrap, monitor, archive fallback, safe failover, alerts',
    )
    .option(
      '-c, --config <file>',
      'configuration file (default: $PGFOLLOWER_CONFIG, else /etc/pgfollower/pgfollower.yaml if present)',
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
        'fatal',
        'silent',
      ]),
    )
    .addOption(new Option('--log-format <format>', 'log format').choices(['auto', 'json', 'pretty']))
    .version(readPackageInfo().version, '-V, --version', 'print the version of pgfollower')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => output.print(s.trimEnd()),
      writeErr: (s) => output.error(s.trimEnd()),
    });

  const env: CommandEnv = {
    output,
    signal,
    env: options.env ?? process.env,
    globals: () => program.opts<GlobalOptions>(),
    // Loaded on first use: it pulls in config validation, the logger and execa, which `--version`
    // and `--help` never need.
    context: async (contextOptions = {}) =>
      (await import('./context.js')).buildContext({
        ...contextOptions,
        global: program.opts<GlobalOptions>(),
        output,
        signal,
        env: options.env ?? process.env,
      }),
    setExitCode: (code) => {
      exitCode = code;
    },
    invoke: (args, out) => main(args, { output: out, signal, env: options.env }),
  };
  for (const register of await loadCommands(argv)) register(program, env);
  addExamples(program);

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    // Interrupted by SIGINT/SIGTERM: whatever the wait threw (AbortError, a cancelled child, a
    // connection closed under it), the command stopped as asked.
    if (signal.aborted && signal.reason instanceof StoppedError)
      return reportStopped(signal.reason, error, output);
    return reportError(error, output);
  }
}

function reportStopped(stopped: StoppedError, error: unknown, output: Output): number {
  output.error(`stopped: ${stopped.message}`);
  // A workflow that cleaned up says where it left things (a moved-aside directory, a kept slot).
  if (
    error instanceof PgFollowerError &&
    !(error instanceof StoppedError) &&
    error.code !== 'EXTERNAL_COMMAND_FAILED'
  ) {
    output.error(`while: ${error.message}`);
    if (error.hint) output.error(`next: ${error.hint}`);
  }
  return stopped.exitCode;
}

function reportError(error: unknown, output: Output): number {
  if (error instanceof CommanderError) {
    // help and version are not errors
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
    ) {
      return ExitCode.OK;
    }
    // `check` printed its UNKNOWN status line already (Nagios plugins exit 3 for usage errors).
    if (error.code === 'pgfollower.check.usage') return error.exitCode;
    return ExitCode.USAGE;
  }
  if (error instanceof PgFollowerError) {
    if (error instanceof RefusedError && error.checks.length > 0) {
      output.error(formatChecklist(error.checks));
    }
    output.error(`error: ${error.message}`);
    if (error instanceof ConfigError) output.error('fix the keys above; see docs/configuration.md');
    if (error.hint) output.error(`next: ${error.hint}`);
    return error.exitCode;
  }
  output.error('internal error (a bug in pgfollower; please report it with this trace):');
  output.error(error instanceof Error ? (error.stack ?? String(error)) : String(error));
  return ExitCode.INTERNAL;
}
