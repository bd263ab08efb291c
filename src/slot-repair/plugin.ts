import type { Context } from '../context.js';
import type { SupervisorPlugin, SupervisorService } from '../daemon/types.js';
import { describeMaintenance, readMaintenance, resolveMaintenanceFile } from '../daemon/maintenance.js';
import type { Snapshot } from '../monitor/snapshot.js';
import { connect } from '../postgres/client.js';
import { repairLostSlot } from './slot-repair.js';

/**
 * Slot repair in `pgfollower run` (composed in src/app/plugins.ts): recreates this follower's slot
 * when the leader invalidated it ('slot:lost'), emitting 'slot:recreated', so a lost slot does not
 * leave the follower archive-only forever. Runs whether or not an archive is configured.
 */
export function slotRepairPlugin(ctx: Context): SupervisorPlugin | undefined {
  if (!ctx.config.slot.enabled || !ctx.config.slot.name) return undefined;
  return { services: [slotRepairService(ctx.config.slot.name)] };
}

function slotRepairService(slotName: string): SupervisorService {
  return {
    name: 'slot-repair',
    start(handle) {
      const log = handle.context.logger.child({ component: 'slot-repair', slot: slotName });
      let busy = false;
      let lastAttempt = 0;
      /** What was last said about a repair not made, so it is logged once, not every tick. */
      let lastNotice = '';
      const notice = (text: string): void => {
        if (text !== lastNotice) log.warn(text);
        lastNotice = text;
      };
      const onLost = (): void => {
        const now = handle.context.clock.now();
        if (busy || now - lastAttempt < 10_000) return;
        const maintenance = readMaintenance(resolveMaintenanceFile(handle.context.config), now);
        if (maintenance) {
          // An operator at work on the leader may have dropped the slot on purpose.
          notice(`slot ${slotName} is lost; repair held: ${describeMaintenance(maintenance)}`);
          return;
        }
        // A new slot reserves WAL on the leader at once; a follower that is down cannot use it, so
        // recreating it then only pins WAL (and the next checkpoint may invalidate it again).
        const local = handle.latest()?.local;
        if (!local?.ok || !local.value.inRecovery) {
          notice(
            `slot ${slotName} is lost or missing on the leader; it is recreated once this follower runs again (a slot nobody uses only pins the leader's WAL)`,
          );
          return;
        }
        busy = true;
        lastAttempt = now;
        void (async () => {
          const conninfo = handle.context.config.leader.conninfo;
          if (!conninfo) return;
          const client = await connect(conninfo, {
            connectTimeoutMs: handle.context.config.leader.connectTimeoutMs,
            signal: handle.signal,
          });
          try {
            const result = await repairLostSlot(client, slotName);
            if (result.action === 'refused') {
              notice(result.detail);
            } else if (result.action === 'recreated' || result.action === 'created') {
              lastNotice = '';
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
          .catch((error: unknown) => {
            // Stopping ends the connection on purpose: nothing failed.
            if (handle.signal.aborted) return;
            log.warn({ err: (error as Error).message }, 'slot repair failed; retrying on the next slot:lost');
          })
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
