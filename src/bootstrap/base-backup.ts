import type { Context } from '../context.js';
import { ExternalCommandError } from '../errors.js';
import type { PgBinaries } from '../postgres/binaries.js';
import { withPasswordFile } from '../postgres/passfile.js';

export interface BaseBackupOptions {
  conninfo: string;
  targetDirectory: string;
  /** Expected total bytes, for progress before pg_basebackup's own estimate arrives. */
  expectedBytes?: number;
  /** Use these programs (the leader's major) instead of ctx.bin. */
  bin?: PgBinaries;
  onProgress?: (doneBytes: number, totalBytes: number | undefined) => void;
  /** Extra pg_basebackup arguments (e.g. --max-rate). */
  extraArgs?: string[];
}

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
  try {
    await ctx.exec.run(bin.path('pg_basebackup'), args, {
      signal: ctx.signal,
      env: { LC_ALL: 'C', ...passEnv },
      onStderrLine: (line) => {
        const match = PROGRESS_RE.exec(line);
        if (match) {
          const done = Number(match[1]) * 1024;
          const total = Number(match[2]) * 1024;
          last = done;
          options.onProgress?.(done, total || options.expectedBytes);
        } else if (!/^\s*$/.test(line)) {
          ctx.logger.debug({ line }, 'pg_basebackup');
        }
      },
      hint: 'check the leader log; a password must come from ~/.pgpass or PGPASSWORD, never a prompt',
    });
  } catch (error) {
    if (error instanceof ExternalCommandError) {
      ctx.logger.warn({ copiedBytes: last }, 'pg_basebackup failed');
    }
    throw error;
  }
}
