/**
 * One error hierarchy and one exit-code table for the whole program (documented in docs/exit-codes.md).
 * A PgFollowerError is operator-facing: something outside pgfollower is wrong and the message says how
 * to fix it. Anything else that escapes is a bug: main prints the stack and exits INTERNAL.
 */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  REFUSED: 3,
  INTERNAL: 70,
  /** Stopped by SIGINT (128 + 2) or SIGTERM (128 + 15), after cleaning up. */
  STOPPED_SIGINT: 130,
  STOPPED_SIGTERM: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Nagios plugin convention used by `pgfollower check` (its own table, by that protocol). */
export const NagiosCode = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;

interface PgFollowerErrorOptions {
  cause?: unknown;
  /** What the operator should do next. */
  hint?: string;
}

export class PgFollowerError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(
    code: string,
    message: string,
    exitCode: ExitCode = ExitCode.FAILED,
    options: PgFollowerErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

export interface ConfigProblem {
  /** Dotted key path, e.g. `archive.s3.bucket`. */
  key: string;
  message: string;
}

export class ConfigError extends PgFollowerError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], source?: string) {
    const where = source ? ` in ${source}` : '';
    const lines = problems.map((p) => `  - ${p.key || '(top level)'}: ${p.message}`);
    super(
      'CONFIG_INVALID',
      `configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}${where}:\n${lines.join('\n')}`,
      ExitCode.USAGE,
    );
    this.problems = problems;
  }
}

export class UsageError extends PgFollowerError {
  constructor(message: string, options: PgFollowerErrorOptions = {}) {
    super('USAGE', message, ExitCode.USAGE, options);
  }
}

/** A named safety check. Refusals are data: printed as a checklist and returned with --json. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** Numbers behind the verdict (bytes, seconds, LSNs as strings). */
  numbers?: Record<string, string | number | boolean | null>;
  /** true when --force may override this check. */
  forceable?: boolean;
}

export class RefusedError extends PgFollowerError {
  readonly checks: readonly CheckResult[];
  constructor(message: string, checks: readonly CheckResult[] = [], options: PgFollowerErrorOptions = {}) {
    super('REFUSED', message, ExitCode.REFUSED, options);
    this.checks = checks;
  }
}

export class ExternalCommandError extends PgFollowerError {
  readonly command: string;
  readonly commandExitCode: number | undefined;
  readonly stderrTail: string;
  /** The signal that killed the program (`SIGKILL`), when one did. */
  readonly commandSignal: string | undefined;
  constructor(
    command: string,
    message: string,
    details: {
      exitCode?: number | undefined;
      signal?: string | undefined;
      stderrTail?: string;
      cause?: unknown;
      hint?: string;
    },
  ) {
    super('EXTERNAL_COMMAND_FAILED', message, ExitCode.FAILED, { cause: details.cause, hint: details.hint });
    this.command = command;
    this.commandExitCode = details.exitCode;
    this.commandSignal = details.signal;
    this.stderrTail = details.stderrTail ?? '';
  }
}

export class ArchiveError extends PgFollowerError {
  /** true for errors worth retrying (network, throttling, 5xx). */
  readonly transient: boolean;
  constructor(
    message: string,
    options: PgFollowerErrorOptions & { transient?: boolean; code?: string } = {},
  ) {
    super(options.code ?? 'ARCHIVE', message, ExitCode.FAILED, options);
    this.transient = options.transient ?? false;
  }
}

/** PostgreSQL unreachable or a query failed in a way the operator must fix. */
export class DatabaseUnavailableError extends PgFollowerError {
  constructor(message: string, options: PgFollowerErrorOptions = {}) {
    super('DATABASE_UNAVAILABLE', message, ExitCode.FAILED, options);
  }
}

/**
 * The reason an operator's SIGINT/SIGTERM aborts the command's signal with (src/cli/bin.ts). Whatever
 * a wait throws once it is aborted, main reports "stopped" and exits 130/143, never "a bug".
 */
export class StoppedError extends PgFollowerError {
  readonly signalName: 'SIGINT' | 'SIGTERM';
  constructor(signalName: 'SIGINT' | 'SIGTERM') {
    super(
      'STOPPED',
      `received ${signalName}`,
      signalName === 'SIGINT' ? ExitCode.STOPPED_SIGINT : ExitCode.STOPPED_SIGTERM,
    );
    this.signalName = signalName;
  }
}
