import { ExitCode, PgFollowerError } from '../../errors.js';
import type { RegisterCommand } from '../command.js';

/**
 * `pgfollower wal-fetch %f %p`: the follower's restore_command fallback (the generated
 * restore_command first tries the prefetch spool with a shell `mv`). Exit 0 when restored, 1 for
 * "not in the archive" and for every failure: PostgreSQL treats any status above 125 as fatal and
 * stops recovery, so nothing here may return one.
 */
export const registerWalFetch: RegisterCommand = (program, env) => {
  program
    .command('wal-fetch')
    .description("restore one WAL file from the archive; restore_command = 'pgfollower wal-fetch %f %p'")
    .argument('<name>', 'WAL file name PostgreSQL asks for (%f)')
    .argument('<path>', 'where to put it (%p)')
    .option('--no-spool', 'do not look in or write to the prefetch spool')
    .action(async (name: string, path: string, options: { spool: boolean }) => {
      try {
        const ctx = await env.context({
          needBinaries: false,
          cacheConfig: true,
        });
        const { openArchiveStore } = await import('../../archive/store/open-store.js');
        const { fetchWal } = await import('../../archive/follower/fetch.js');
        const { spoolDirectoryFor } = await import('../../archive/follower/spool.js');
        const store = openArchiveStore(ctx.config);
        try {
          const spoolDir =
            options.spool && ctx.config.archive.prefetch > 0 ? spoolDirectoryFor(ctx.config) : undefined;
          const result = await fetchWal(ctx, store, name, path, { spoolDir });
          const log = ctx.logger.child({ component: 'wal-fetch', file: name });
          if (result.outcome === 'not-found') {
            // PostgreSQL asks for files that do not exist yet all the time (next segment, next
            // timeline's history): a quiet line, status 1.
            log.debug(`${name} is not in ${store.description}; PostgreSQL will try streaming or ask again`);
            env.setExitCode(ExitCode.FAILED);
          } else {
            log.debug({ outcome: result.outcome, ms: result.ms }, `restored ${name}`);
          }
        } finally {
          store.close();
        }
      } catch (error) {
        // Everything is "not available now" to PostgreSQL; say why on stderr (it lands in the server log).
        const message = error instanceof PgFollowerError ? error.message : String(error);
        const hint = error instanceof PgFollowerError && error.hint ? ` (next: ${error.hint})` : '';
        env.output.error(`pgfollower wal-fetch ${name}: ${message}${hint}; PostgreSQL will retry`);
        if (!(error instanceof PgFollowerError))
          env.output.error(error instanceof Error ? (error.stack ?? '') : '');
        // Our own codes (1 failed, 2 usage or config, 3 refused) are all "not available" to
        // PostgreSQL; anything else becomes 1.
        env.setExitCode(
          error instanceof PgFollowerError && error.exitCode <= ExitCode.REFUSED
            ? error.exitCode
            : ExitCode.FAILED,
        );
      }
    });
};
