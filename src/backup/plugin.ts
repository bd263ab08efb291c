import { openArchiveStore } from '../archive/store/open-store.js';
import type { Context } from '../context.js';
import type { SupervisorPlugin, SupervisorService } from '../daemon/types.js';
import type { Snapshot } from '../monitor/snapshot.js';
import { executeExpire, planExpire } from './expire.js';
import { listBackups } from './list.js';
import { takeBackup } from './take.js';

/**
 * Scheduled base backups in `pgfollower run` (composed in src/app/plugins.ts), when
 * `backup.enabled` is set on this follower (one follower per cluster should have it). A backup is
 * due `backup.schedule` after the newest complete one in the archive, plus a jitter of up to 10 %
 * so followers of many clusters sharing a store do not start together; it starts only while the
 * follower is `streaming` (a lagging follower would back up stale data and compete with catch-up),
 * and is followed by `backup expire`. A failed attempt is retried after a quarter of the schedule
 * (at most an hour).
 */
export function backupPlugin(ctx: Context): SupervisorPlugin | undefined {
  if (!ctx.config.backup.enabled || ctx.config.archive.type === 'none') return undefined;
  return { services: [backupScheduleService()] };
}

/** When the next backup is due, from the newest one's end (ms since the epoch). */
export function nextBackupDue(
  lastFinishedMs: number | undefined,
  scheduleMs: number,
  random: () => number,
): number {
  if (lastFinishedMs === undefined) return 0;
  return lastFinishedMs + scheduleMs + Math.floor(random() * scheduleMs * 0.1);
}

function backupScheduleService(): SupervisorService {
  return {
    name: 'backup-schedule',
    start(handle) {
      const log = handle.context.logger.child({ component: 'backup-schedule' });
      const abort = new AbortController();
      let due: number | undefined;
      let running: Promise<void> | undefined;
      const ctxNow = (): Context => ({ ...handle.context, signal: abort.signal });

      const plan = async (): Promise<void> => {
        const ctx = ctxNow();
        const store = openArchiveStore(ctx.config);
        try {
          const newest = (await listBackups(store, abort.signal))
            .filter((b) => b.descriptor)
            .at(-1)?.descriptor;
          due = nextBackupDue(
            newest ? Date.parse(newest.finishedAt) : undefined,
            ctx.config.backup.schedule,
            Math.random,
          );
          log.info(
            { due: new Date(due).toISOString(), newest: newest?.id },
            newest
              ? `next base backup due ${new Date(due).toISOString()}`
              : 'no backup in the archive: taking one once streaming',
          );
        } finally {
          store.close();
        }
      };

      const run = async (): Promise<void> => {
        const ctx = ctxNow();
        const store = openArchiveStore(ctx.config);
        try {
          log.info('starting the scheduled base backup');
          const backup = await takeBackup(ctx, store);
          const expirePlan = await planExpire(ctx, store);
          const removed = await executeExpire(ctx, store, expirePlan);
          log.info(
            { id: backup.id, removedBackups: removed.removedBackups, removedWal: removed.removedWal },
            `scheduled backup ${backup.id} done; expired ${removed.removedBackups.length} backup(s), ${removed.removedLeftovers.length} leftover folder(s) and ${removed.removedWal} WAL file(s)`,
          );
          due = nextBackupDue(Date.parse(backup.finishedAt), ctx.config.backup.schedule, Math.random);
        } catch (error) {
          const retryMs = Math.min(3600_000, ctx.config.backup.schedule / 4);
          due = ctx.clock.now() + retryMs;
          if (!abort.signal.aborted)
            log.warn(
              { err: (error as Error).message },
              `scheduled backup failed; retrying in ${Math.round(retryMs / 60_000)} min`,
            );
        } finally {
          store.close();
        }
      };

      const onSnapshot = (snapshot: Snapshot): void => {
        if (running || abort.signal.aborted) return;
        if (due === undefined) {
          running = plan()
            .catch((error: unknown) => {
              due = undefined;
              log.warn(
                { err: (error as Error).message },
                'cannot read the archive for the backup schedule; retrying',
              );
            })
            .finally(() => {
              running = undefined;
            });
          return;
        }
        if (handle.context.clock.now() < due || snapshot.state !== 'streaming') return;
        running = run().finally(() => {
          running = undefined;
        });
      };
      handle.events.on('snapshot', onSnapshot);
      return {
        stop: async () => {
          handle.events.off('snapshot', onSnapshot);
          abort.abort();
          await running?.catch(() => undefined);
        },
      };
    },
  };
}
