import { alertsPlugin } from '../alerts/plugin.js';
import { archivePlugin } from '../archive/follower/plugin.js';
import { backupPlugin } from '../backup/plugin.js';
import type { Context } from '../context.js';
import type { ArchiveProbe } from '../monitor/snapshot.js';
import type { SupervisorPlugin, SupervisorService } from '../daemon/types.js';
import { slotRepairPlugin } from '../slot-repair/plugin.js';

/**
 * The composition of `pgfollower run`: which domains plug into the supervisor, in start order
 * (services stop in reverse). It lives here, above every domain, so the daemon never imports the
 * domains that plug into it. A new domain adds one import and one entry.
 */
type SupervisorPluginFactory = (
  ctx: Context,
) => SupervisorPlugin | undefined | Promise<SupervisorPlugin | undefined>;

const supervisorPlugins: SupervisorPluginFactory[] = [
  (ctx) => slotRepairPlugin(ctx),
  (ctx) => archivePlugin(ctx),
  (ctx) => alertsPlugin(ctx),
  (ctx) => backupPlugin(ctx),
];

/** Services of every registered plugin, and the one archive probe (the first that offers one). */
export async function collectPlugins(
  ctx: Context,
  factories: readonly SupervisorPluginFactory[] = supervisorPlugins,
): Promise<{ services: SupervisorService[]; archiveProbe: ArchiveProbe | undefined }> {
  const services: SupervisorService[] = [];
  let archiveProbe: ArchiveProbe | undefined;
  for (const factory of factories) {
    const plugin = await factory(ctx);
    if (!plugin) continue;
    services.push(...(plugin.services ?? []));
    archiveProbe ??= plugin.archiveProbe;
  }
  return { services, archiveProbe };
}
