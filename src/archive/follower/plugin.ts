import { join } from 'node:path';
import type { Context } from '../../context.js';
import type {
  RunningService,
  SupervisorHandle,
  SupervisorPlugin,
  SupervisorService,
} from '../../daemon/types.js';
import { localConninfo, withClient } from '../../postgres/client.js';
import { walFileName } from '../../postgres/lsn.js';
import { alterSystem } from '../../postgres/standby-config.js';
import { openArchiveStore } from '../store/open-store.js';
import { fsArchiveTempDirs, orphanAgeMs, sweepOrphanTemps } from '../store/sweep.js';
import { startPrefetcher, type Prefetcher } from './prefetch.js';
import { createArchiveProbe } from './probe.js';
import { restoreCommandFor } from './restore-command.js';
import { spoolDirectoryFor } from './spool.js';

interface ArchivePluginOptions {
  /** Config file the restore_command's fallback reads; default: --config / PGFOLLOWER_CONFIG of this process. */
  configFile?: string | undefined;
}

/**
 * What the follower side of the archive plugs into `pgfollower run` (composed in src/app/plugins.ts):
 * - `archive-restore-command`: sets restore_command on a follower that lacks one (ALTER SYSTEM +
 *   reload; restore_command reloads on SIGHUP since PostgreSQL 14);
 * - `archive-prefetch`: the prefetch spool behind restore_command's fast path;
 * - the archive probe: newest archived segment and the first missing one, per tick.
 */
export function archivePlugin(
  ctx: Context,
  options: ArchivePluginOptions = {},
): SupervisorPlugin | undefined {
  if (ctx.config.archive.type === 'none') return undefined;
  const services: SupervisorService[] = [];

  const store = openArchiveStore(ctx.config);
  let prefetcher: Prefetcher | undefined;
  services.push(restoreCommandService(options.configFile ?? ctx.configFile));
  const spoolDir = spoolDirectoryFor(ctx.config);
  if (spoolDir && ctx.config.archive.prefetch > 0) {
    services.push({
      name: 'archive-prefetch',
      async start(handle: SupervisorHandle): Promise<RunningService> {
        prefetcher = await startPrefetcher(handle.context, {
          store,
          spoolDir,
          depth: handle.context.config.archive.prefetch,
          concurrency: handle.context.config.archive.prefetchConcurrency,
          position: () => replaySegment(handle),
          segmentSize: () => {
            const local = handle.latest()?.local;
            return (local?.ok ? local.value.walSegmentSizeBytes : null) ?? null;
          },
          dataDirectory: handle.context.config.node.dataDirectory,
        });
        const running = prefetcher;
        return { stop: () => running.stop() };
      },
    });
  }
  services.push(orphanSweepService(spoolDir));
  return {
    services,
    archiveProbe: createArchiveProbe(store, {
      clock: ctx.clock,
      prefetchStats: () => prefetcher?.stats(),
    }),
  };
}

/** Sweeps orphan temp files at start and then every 10 minutes (sweep.ts). */
const SWEEP_INTERVAL_MS = 10 * 60_000;

function orphanSweepService(spoolDir: string | undefined): SupervisorService {
  return {
    name: 'archive-orphan-sweep',
    start(handle) {
      const log = handle.context.logger.child({ component: 'archive' });
      const sweep = async (): Promise<void> => {
        const config = handle.context.config;
        const dirs: string[] = [];
        if (config.node.dataDirectory) dirs.push(join(config.node.dataDirectory, 'pg_wal'));
        if (spoolDir) dirs.push(spoolDir);
        if (config.archive.type === 'fs' && config.archive.fs) {
          dirs.push(...(await fsArchiveTempDirs(config.archive.fs.path)));
        }
        const removed = await sweepOrphanTemps(
          dirs,
          orphanAgeMs(config.archive.timeoutMs),
          handle.context.clock.now(),
        );
        if (removed.length > 0) {
          log.info(
            { removed },
            `removed ${removed.length} orphan temp file(s) left by killed archive writes`,
          );
        }
      };
      const run = (): void => {
        sweep().catch((error: unknown) =>
          log.warn(
            { err: (error as Error).message },
            'orphan temp file sweep failed; retrying in 10 minutes',
          ),
        );
      };
      run();
      const timer = setInterval(run, SWEEP_INTERVAL_MS);
      timer.unref();
      return { stop: async () => clearInterval(timer) };
    },
  };
}

function replaySegment(handle: SupervisorHandle): string | null {
  const local = handle.latest()?.local;
  const size = local?.ok ? local.value.walSegmentSizeBytes : null;
  if (!local?.ok || local.value.replayLsn === null || local.value.timeline === null || !size) return null;
  return walFileName(local.value.timeline, local.value.replayLsn, size);
}

function restoreCommandService(configFile: string | undefined): SupervisorService {
  return {
    name: 'archive-restore-command',
    async start(handle) {
      const ctx = handle.context;
      const log = ctx.logger.child({ component: 'archive' });
      const wanted = restoreCommandFor(ctx.config, { configFile });
      if (!wanted) return { stop: async () => undefined };
      try {
        await withClient(
          localConninfo(ctx.config.node),
          { connectTimeoutMs: ctx.config.monitor.queryTimeoutMs, signal: handle.signal },
          async (client) => {
            const { rows } = await client.query<{ standby: boolean; current: string }>(
              "SELECT pg_is_in_recovery() AS standby, current_setting('restore_command') AS current",
            );
            const row = rows[0];
            if (!row?.standby) return;
            if (row.current === wanted) return;
            if (row.current !== '') {
              log.warn(
                { current: row.current },
                'restore_command is set to something else; leaving it as the operator set it (archive fallback uses that command)',
              );
              return;
            }
            await alterSystem(client, { restore_command: wanted });
            log.info(
              { restoreCommand: wanted },
              'set restore_command (ALTER SYSTEM + reload): the follower can now replay from the archive when the leader has recycled WAL',
            );
          },
        );
      } catch (error) {
        log.warn(
          { err: (error as Error).message },
          'could not check restore_command on the local server; it will be checked at the next start',
        );
      }
      return { stop: async () => undefined };
    },
  };
}
