import type { Context } from '../context.js';
import { ExternalCommandError } from '../errors.js';
import type { PgBinaries } from '../postgres/binaries.js';
import { withPasswordFile } from '../postgres/passfile.js';
import { formatBytes } from '../config/units.js';

interface BaseBackupOptions {
  conninfo: string;
  targetDirectory: string;
  /** Expected total bytes, for progress before pg_basebackup's own estimate arrives. */
  expectedBytes?: number;
  /** Use these programs (the leader's major) instead of ctx.bin. */
  bin?: PgBinaries;
  onProgress?: (doneBytes: number, totalBytes: number | undefined) => void;
  /** Extra pg_basebackup arguments (e.g. --max-rate). */
  extraArgs?: string[];
  /** Stop a copy that received nothing for this long (default leader.copyStallTimeoutMs). */
  stallTimeoutMs?: number;
}

/** pg_basebackup's words for a connection lost or never made (libpq's messages, LC_ALL=C). */
const LINK_LOST_RE =
  /server closed the connection unexpectedly|could not receive data|timeout expired|Connection reset by peer|Connection refused|No route to host/;
/** pg_basebackup's line when the leader's checkpoint is done and the copy starts. */
const COPY_START_RE = /checkpoint completed/;
/** pg_basebackup's line after the last file: what follows (WAL end, fsync) is not a copy any more. */
const COPY_DONE_RE = /write-ahead log end point/;

const PROGRESS_RE = /(\d+)\/(\d+) kB/;

/**
 * `pg_basebackup -X stream` into an empty or absent directory, with fast checkpoint and progress.
 * Runs as the PostgreSQL OS user so the copy is owned by it. pg_basebackup removes what it wrote
 * when it fails; a killed one may leave files, which is why callers back up into a staging
 * directory and rename it into place only after success.
 */
export async function runBaseBackup(ctx: Context, options: BaseBackupOptions): Promise<void> {
  // A password in the conninfo goes to a temporary passfile, never onto the command line.
  return withPasswordFile(options.conninfo, ctx.exec.runAs, (conninfo, passEnv) =>
    runWith(ctx, options, conninfo, passEnv),
  );
}

async function runWith(
  ctx: Context,
  options: BaseBackupOptions,
  conninfo: string,
  passEnv: Record<string, string>,
): Promise<void> {
  const bin = options.bin ?? ctx.bin;
  const args = [
    '--pgdata',
    options.targetDirectory,
    '--dbname',
    conninfo,
    '--wal-method=stream',
    '--checkpoint=fast',
    '--progress',
    '--verbose',
    '--no-password',
    ...(options.extraArgs ?? []),
  ];
  let last = 0;
  const stallMs = options.stallTimeoutMs ?? ctx.config.leader.copyStallTimeoutMs;
  const watchdog = stallWatchdog(ctx.signal, stallMs);
  try {
    await ctx.exec.run(bin.path('pg_basebackup'), args, {
      signal: watchdog.signal,
      env: { LC_ALL: 'C', ...passEnv },
      onStderrLine: (line) => {
        const match = PROGRESS_RE.exec(line);
        if (match) {
          const done = Number(match[1]) * 1024;
          const total = Number(match[2]) * 1024;
          if (done > last) watchdog.progress();
          last = done;
          options.onProgress?.(done, total || options.expectedBytes);
        } else if (!/^\s*$/.test(line)) {
          if (COPY_START_RE.test(line)) watchdog.progress();
          if (COPY_DONE_RE.test(line)) watchdog.disarm();
          ctx.logger.debug({ line }, 'pg_basebackup');
        }
      },
      hint: 'check the leader log; a password must come from ~/.pgpass or PGPASSWORD, never a prompt',
    });
  } catch (error) {
    if (watchdog.stalled) {
      throw new ExternalCommandError(
        'pg_basebackup',
        `the copy from the leader received nothing for ${Math.round(stallMs / 1000)} s (after ${formatBytes(last)}); stopped it`,
        {
          cause: error,
          hint: 'the link to the leader drops packets or the leader is stuck: check the network path and the leader log, then run the same command again (leader.copyStallTimeoutMs sets this bound)',
        },
      );
    }
    if (error instanceof ExternalCommandError) {
      ctx.logger.warn({ copiedBytes: last }, 'pg_basebackup failed');
      // A connection lost mid-copy is the network's or the leader's, not a password's.
      if (LINK_LOST_RE.test(error.stderrTail)) {
        throw new ExternalCommandError('pg_basebackup', error.message, {
          exitCode: error.commandExitCode,
          stderrTail: error.stderrTail,
          cause: error,
          hint: `the connection to the leader was lost after ${formatBytes(last)}: check the network path and the leader log (a restart, wal_sender_timeout), then run the same command again; the partial copy was removed`,
        });
      }
    }
    throw error;
  } finally {
    watchdog.dispose();
  }
}

interface StallWatchdog {
  /** Aborts with the parent, or when armed and no progress came for the bound. */
  signal: AbortSignal;
  readonly stalled: boolean;
  /** The copy started or bytes arrived: (re)arms the watchdog. */
  progress(): void;
  /** The copy is over; nothing more to watch. */
  disarm(): void;
  dispose(): void;
}

/**
 * Stops a copy that stopped moving. Armed when the copy starts (the leader's checkpoint before it
 * may take long on a busy leader and is not a stall), disarmed after the last file. pg_basebackup
 * reports progress at most once a second; any growth re-arms it.
 */
function stallWatchdog(parent: AbortSignal, stallMs: number): StallWatchdog {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  let lastAt: number | undefined;
  let stalled = false;
  const timer = setInterval(
    () => {
      if (lastAt === undefined || performance.now() - lastAt < stallMs) return;
      stalled = true;
      clearInterval(timer);
      controller.abort(new Error(`no progress for ${stallMs} ms`));
    },
    Math.min(1000, stallMs / 4),
  );
  return {
    signal: controller.signal,
    get stalled() {
      return stalled;
    },
    progress() {
      lastAt = performance.now();
    },
    disarm() {
      lastAt = undefined;
      clearInterval(timer);
    },
    dispose() {
      clearInterval(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}
