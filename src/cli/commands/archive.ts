import { ExitCode, UsageError } from '../../errors.js';
import type { RegisterCommand } from '../command.js';
import { parseLsnFlag, parsePositiveIntFlag } from '../flags.js';

/**
 * `pgfollower archive check [--json]`: is every segment from the follower's replay position (or
 * --start) to the leader's current position in the archive, on the right timelines? Exit 0 / 1.
 * `pgfollower archive prefetch`: runs the prefetcher in the foreground, for hosts that run
 * restore_command's fast path without `pgfollower run`.
 */
export const registerArchive: RegisterCommand = (program, env) => {
  // program.command (not new Command + addCommand) so it inherits exitOverride and the output routing.
  const archive = program.command('archive').description('inspect the WAL archive and run its prefetcher');

  archive
    .command('check')
    .description("verify the archive covers replay position (or --start) to the leader's current LSN")
    .option('--start <lsn|segment>', 'start here instead of the follower replay position')
    .option('--end <lsn>', "end here instead of the leader's current position", parseLsnFlag)
    .option('--timeline <n>', 'timeline of --end (default: the leader’s)', parsePositiveIntFlag)
    .option('--json', 'print the report as JSON')
    .action(async (options: { start?: string; end?: string; timeline?: number; json?: boolean }) => {
      const ctx = await env.context({
        needBinaries: false,
      });
      const { runArchiveCheck } = await import('../../archive/follower/check.js');
      const report = await runArchiveCheck(ctx, options);
      if (options.json) env.output.json(report);
      else {
        const out = env.output;
        out.print(`archive ${report.archive}`);
        out.print(
          `from ${report.start.lsn} (${report.start.segment}) to ${report.end.lsn} (${report.end.segment}, timeline ${report.end.timeline})`,
        );
        out.print(
          `${report.present} of ${report.expected} segments present; newest archived: ${report.newestSegment ?? 'none'}`,
        );
        if (report.ok) out.print('ok: the archive covers the whole range');
        else {
          out.print(
            `MISSING ${report.missingCount}: ${report.missing.join(', ')}${report.missingCount > report.missing.length ? ', ...' : ''}`,
          );
          out.error(
            'next: if the leader still has these segments, re-archive them there (pgfollower wal-push pg_wal/<name>, for finished segments); if not, a follower that needs them cannot catch up from the archive: rebuild it (pgfollower rebuild)',
          );
        }
      }
      if (!report.ok) env.setExitCode(ExitCode.FAILED);
    });

  archive
    .command('prefetch')
    .description('keep the next archive.prefetch segments ready in the spool until stopped (Ctrl-C)')
    .action(async () => {
      const ctx = await env.context({
        needBinaries: true,
      });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { startPrefetcher } = await import('../../archive/follower/prefetch.js');
      const { spoolDirectoryFor } = await import('../../archive/follower/spool.js');
      const spoolDir = spoolDirectoryFor(ctx.config);
      if (!spoolDir || ctx.config.archive.prefetch === 0) {
        throw new UsageError(
          'prefetch needs archive.prefetch > 0 and node.dataDirectory or archive.spoolDirectory',
        );
      }
      const store = openArchiveStore(ctx.config);
      try {
        const prefetcher = await startPrefetcher(ctx, {
          store,
          spoolDir,
          depth: ctx.config.archive.prefetch,
          concurrency: ctx.config.archive.prefetchConcurrency,
          dataDirectory: ctx.config.node.dataDirectory,
        });
        env.output.error(`prefetching into ${spoolDir} from ${store.description}; stop with Ctrl-C`);
        await prefetcher.done;
      } finally {
        store.close();
      }
    });

  archive
    .command('push-ahead')
    .description(
      'leader side: push every ready WAL segment as soon as it appears, so archive_command returns without starting Node (Ctrl-C stops)',
    )
    .option('-D, --data-directory <dir>', "the leader's data directory (default node.dataDirectory)")
    .action(async (flags: { dataDirectory?: string }) => {
      const ctx = await env.context({
        needBinaries: false,
        require: ['node.dataDirectory'],
        overrides: { node: { dataDirectory: flags.dataDirectory } },
      });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { archiveCommandFor, pushSpoolFor, startPushAhead } =
        await import('../../archive/leader/push-ahead.js');
      const dataDirectory = ctx.config.node.dataDirectory as string;
      const spoolDir = pushSpoolFor(ctx.config) as string;
      const store = openArchiveStore(ctx.config);
      try {
        let since = ctx.clock.now();
        const pusher = await startPushAhead(ctx, {
          store,
          dataDirectory,
          spoolDir,
          concurrency: ctx.config.archive.pushConcurrency,
          backlogAlertBytes: ctx.config.archive.pushBacklogAlertBytes,
          onBacklogAlert: (alert) => {
            if (alert.status === 'firing') since = ctx.clock.now();
            import('../../alerts/notify.js')
              .then(({ notifyArchiveBacklog }) => notifyArchiveBacklog(ctx, { ...alert, since }))
              .catch((error: unknown) => ctx.logger.error({ err: error }, 'archive backlog alert not sent'));
          },
        });
        env.output.error(
          `pushing ready segments of ${dataDirectory} ahead to ${store.description}; stop with Ctrl-C`,
        );
        env.output.error(
          `archive_command = '${archiveCommandFor(ctx.config, { configFile: ctx.configFile }).replace(/'/g, "''")}'`,
        );
        await pusher.done;
        env.output.error(
          `stopped after pushing ${pusher.pushed} segments ahead (${pusher.failed} failed and were left to archive_command)`,
        );
      } finally {
        store.close();
      }
    });

  archive
    .command('command')
    .description("print the leader's archive_command for postgresql.conf (with the push-ahead fast path)")
    .option('--json', 'print { archiveCommand } as JSON')
    .action(async (flags: { json?: boolean }) => {
      const ctx = await env.context({ needBinaries: false });
      const { archiveCommandFor } = await import('../../archive/leader/push-ahead.js');
      const command = archiveCommandFor(ctx.config, { configFile: ctx.configFile });
      if (flags.json) env.output.json({ archiveCommand: command });
      else env.output.print(`archive_command = '${command.replace(/'/g, "''")}'`);
    });
};
