import type { Options as ExecaOptions, ResultPromise } from 'execa';
import { ExternalCommandError } from '../errors.js';

/** uid/gid PostgreSQL programs run under when pgfollower itself is root. */
export interface RunAs {
  uid: number;
  gid: number;
  user: string;
  home?: string;
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  /** Called with each stderr line while the program runs (progress output). */
  onStderrLine?: (line: string) => void;
  /** Leave the child running after we return (pg_ctl start's postmaster is already detached). */
  hint?: string;
  /**
   * spawn only: stdout is not collected but left for the caller to read as a stream of Buffers
   * (pg_basebackup -D - writes a whole backup there).
   */
  streamStdout?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs external programs: argument arrays only (never a shell string built from input), an
 * AbortSignal on every child, PostgreSQL programs as the unprivileged OS user when we are root.
 */
export interface Exec {
  readonly runAs: RunAs | undefined;
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Like run, but resolves with the exit code instead of throwing on a non-zero exit. */
  tryRun(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * Start a long-running child; the caller owns it (awaits it, reads its streams). Wrapped in an
   * object because the child is itself a promise (of its end), which an async function would adopt.
   */
  spawn(file: string, args: readonly string[], options?: RunOptions): Promise<{ child: ResultPromise }>;
}

/**
 * execa is loaded when the first program runs, not at start: wal-push and wal-fetch (once per WAL
 * segment) run none, and loading it costs about as much CPU as starting Node.
 */
export const loadExeca = async (): Promise<typeof import('execa')> => import('execa');

export function createExec(runAs?: RunAs): Exec {
  const base = (options: RunOptions = {}): ExecaOptions => ({
    cancelSignal: options.signal,
    timeout: options.timeoutMs,
    cwd: options.cwd ?? (runAs ? '/' : undefined),
    env: runAs
      ? { ...options.env, HOME: runAs.home ?? process.env.HOME, USER: runAs.user, LOGNAME: runAs.user }
      : options.env,
    extendEnv: true,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    uid: runAs?.uid,
    gid: runAs?.gid,
    reject: false,
    stripFinalNewline: true,
    lines: false,
    encoding: 'utf8',
    forceKillAfterDelay: 5000,
    ...(options.streamStdout ? { buffer: { stdout: false } } : {}),
  });

  async function execute(
    file: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const { execa } = await loadExeca();
    const child = execa(file, args, base(options));
    if (options.onStderrLine && child.stderr) {
      let buffer = '';
      child.stderr.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const parts = buffer.split(/\r|\n/);
        buffer = parts.pop() ?? '';
        for (const line of parts) if (line.trim()) options.onStderrLine?.(line);
      });
    }
    const result = await child;
    const stdout = String(result.stdout ?? '');
    const stderr = String(result.stderr ?? '');
    if (result.isCanceled) {
      throw new ExternalCommandError(file, `${basename(file)} was cancelled`, {
        stderrTail: tail(stderr),
        cause: result,
      });
    }
    if (result.timedOut) {
      throw new ExternalCommandError(file, `${basename(file)} timed out after ${options.timeoutMs} ms`, {
        stderrTail: tail(stderr),
        cause: result,
      });
    }
    // Killed by a signal (the OOM killer, an operator's kill, a shutdown): the program ran, so this is
    // not a missing binary. PostgreSQL's own programs print nothing when SIGKILLed.
    if (result.signal !== undefined && result.exitCode === undefined) {
      throw new ExternalCommandError(
        file,
        `${basename(file)} was killed by signal ${result.signal}${result.signalDescription ? ` (${result.signalDescription})` : ''}`,
        {
          stderrTail: tail(stderr),
          signal: result.signal,
          cause: result,
          hint: 'something outside pgfollower stopped it: look for the OOM killer (dmesg, journalctl -k) or an operator; then run the command again',
        },
      );
    }
    if (result.failed && result.exitCode === undefined) {
      throw new ExternalCommandError(file, `could not run ${file}: ${result.shortMessage}`, {
        cause: result,
        hint: options.hint ?? 'check node.binDir and that PostgreSQL client/server programs are installed',
      });
    }
    return { stdout, stderr, exitCode: result.exitCode ?? 1 };
  }

  return {
    runAs,
    tryRun: execute,
    async spawn(file, args, options = {}) {
      const { execa } = await loadExeca();
      return { child: execa(file, args, { ...base(options), reject: false }) };
    },
    async run(file, args, options = {}) {
      const result = await execute(file, args, options);
      if (result.exitCode !== 0) {
        const last = tail(result.stderr || result.stdout);
        throw new ExternalCommandError(
          file,
          `${basename(file)} exited with status ${result.exitCode}${last ? `:\n${indent(last)}` : ''}`,
          { exitCode: result.exitCode, stderrTail: last, hint: options.hint },
        );
      }
      return result;
    },
  };
}

function basename(file: string): string {
  return file.split('/').pop() ?? file;
}

export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Each line of `text` indented by four spaces (a program's output quoted under a message). */
export function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/**
 * The unprivileged user to run PostgreSQL as, when we are root; undefined otherwise.
 * PostgreSQL refuses to start as root, and files it owns must belong to that user.
 */
export async function resolveRunAs(osUser: string): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const { execa } = await loadExeca();
  const lookup = await execa('getent', ['passwd', osUser], { reject: false });
  const fields = String(lookup.stdout ?? '').split(':');
  if (lookup.exitCode !== 0 || fields.length < 6) {
    throw new ExternalCommandError(
      'getent',
      `pgfollower runs as root but OS user "${osUser}" does not exist`,
      {
        hint: `create it (useradd --system ${osUser}) or set node.osUser to the user that owns the data directory`,
      },
    );
  }
  return { user: osUser, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
}
