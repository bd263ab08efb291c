import type { Context } from '../context.js';
import type { SupervisorPlugin } from '../daemon/plugins.js';
import type { RunningService, SupervisorHandle, SupervisorService } from '../daemon/types.js';
import { connect, localConninfo, withClient } from '../postgres/client.js';
import { walFileName } from '../postgres/lsn.js';
import { alterSystem } from '../postgres/standby-config.js';
import { openArchiveStore } from './open-store.js';
import { startPrefetcher, type Prefetcher } from './prefetch.js';
import { createArchiveProbe } from './probe.js';
import { restoreCommandFor } from './restore-command.js';
import type { Snapshot } from '../monitor/snapshot.js';
import { repairLostSlot } from './slot-repair.js';
import { spoolDirectoryFor } from './spool.js';

export interface ArchivePluginOptions {
  /** Config file the restore_command's fallback reads; default: --config / PGFOLLOWER_CONFIG of this process. */
  configFile?: string | undefined;
}

/**
 * What the archive domain plugs into `pgfollower run` (src/daemon/plugins.ts):
 * - `archive-restore-command`: sets restore_command on a follower that lacks one (ALTER SYSTEM +
 *   reload; restore_command reloads on SIGHUP since PostgreSQL 14);
 * - `archive-prefetch`: the prefetch spool behind restore_command's fast path;
 * - `slot-repair`: recreates this follower's slot when the leader invalidated it ('slot:lost'),
 *   emitting 'slot:recreated', so a lost slot does not leave the follower archive-only forever;
 * - the archive probe: newest archived segment and the first missing one, per tick.
 * Slot repair runs whether or not an archive is configured.
 */
export function archivePlugin(ctx: Context, options: ArchivePluginOptions = {}): SupervisorPlugin {
  const services: SupervisorService[] = [];
  if (ctx.config.slot.enabled && ctx.config.slot.name) services.push(slotRepairService(ctx.config.slot.name));
  if (ctx.config.archive.type === 'none') return { services };

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
          dataDirectory: handle.context.config.node.dataDirectory,
        });
        const running = prefetcher;
        return { stop: () => running.stop() };
      },
    });
  }
  return { services, archiveProbe: createArchiveProbe(store, { prefetchStats: () => prefetcher?.stats() }) };
}

function replaySegment(handle: SupervisorHandle): string | null {
  const local = handle.latest()?.local;
  if (!local?.ok || local.value.replayLsn === null || local.value.timeline === null) return null;
  return walFileName(local.value.timeline, local.value.replayLsn);
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
          { connectTimeoutMs: ctx.config.monitor.queryTimeoutMs },
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

function slotRepairService(slotName: string): SupervisorService {
  return {
    name: 'slot-repair',
    start(handle) {
      const log = handle.context.logger.child({ component: 'slot-repair', slot: slotName });
      let busy = false;
      let lastAttempt = 0;
      const onLost = (): void => {
        const now = Date.now();
        if (busy || now - lastAttempt < 10_000) return;
        busy = true;
        lastAttempt = now;
        void (async () => {
          const conninfo = handle.context.config.leader.conninfo;
          if (!conninfo) return;
          const client = await connect(conninfo, {
            connectTimeoutMs: handle.context.config.leader.connectTimeoutMs,
          });
          try {
            const result = await repairLostSlot(client, slotName);
            if (result.action === 'recreated' || result.action === 'created') {
              log.warn(
                { restartLsn: result.restartLsn },
                `${result.detail}; the follower replays the gap from the archive, then streams again`,
              );
              handle.events.emit('slot:recreated', { slot: slotName, restartLsn: result.restartLsn });
            } else {
              log.info(result.detail);
            }
          } finally {
            await client.end().catch(() => undefined);
          }
        })()
          .catch((error: unknown) =>
            log.warn({ err: (error as Error).message }, 'slot repair failed; retrying on the next slot:lost'),
          )
          .finally(() => {
            busy = false;
          });
      };
      // 'slot:lost' fires on the transition only. A recreated slot can be invalidated again by the
      // next checkpoint before any tick sees it healthy (it reserves from the last REDO point), so
      // every snapshot that still shows it lost or missing retries too, at most every 10 s.
      const onSnapshot = (snapshot: Snapshot): void => {
        const slot = snapshot.leader.ok ? snapshot.leader.value.slot : null;
        if (slot && (slot.walStatus === 'lost' || !slot.exists)) onLost();
      };
      handle.events.on('slot:lost', onLost);
      handle.events.on('snapshot', onSnapshot);
      return {
        stop: async () => {
          handle.events.off('slot:lost', onLost);
          handle.events.off('snapshot', onSnapshot);
        },
      };
    },
  };
}
