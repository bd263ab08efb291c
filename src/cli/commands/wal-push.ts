import type { RegisterCommand } from '../command.js';

/**
 * `pgfollower wal-push %p`: the leader's archive_command. Exit 0 only when the file is durably in
 * the archive (or already there with identical content); non-zero otherwise, so PostgreSQL keeps
 * the segment and retries. Domain code is imported lazily: this runs once per segment.
 */
export const registerWalPush: RegisterCommand = (program, env) => {
  program
    .command('wal-push')
    .description("archive one WAL file; use as the leader's archive_command = 'pgfollower wal-push %p'")
    .argument('<path>', 'the file to archive (%p), relative to the data directory')
    .option(
      '--force-partial',
      'archive a segment that may still be written (no .ready status, not older than the current one) as <name>.partial',
    )
    .action(async (path: string, flags: { forcePartial?: boolean }) => {
      const ctx = await env.context({
        needBinaries: false,
        cacheConfig: true,
      });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { pushWal } = await import('../../archive/leader/push.js');
      const store = openArchiveStore(ctx.config);
      try {
        await pushWal(ctx, store, path, { forcePartial: flags.forcePartial === true });
      } finally {
        store.close();
      }
    });
};
