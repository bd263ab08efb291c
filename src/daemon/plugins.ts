import { alertsPlugin } from '../alerts/plugin.js';
import { archivePlugin } from '../archive/plugin.js';
import type { Context } from '../context.js';
import type { ArchiveProbe, SupervisorService } from './types.js';

/**
 * What `pgfollower run` plugs into the supervisor besides its own sd-notify service. Other domains
 * add their factory to `supervisorPlugins` below (one import + one entry) rather than editing the
 * run command, e.g. `(ctx) => ({ services: [createAlertsService(ctx)] })`. A factory returns
 * undefined when its feature is not configured.
 */
export interface SupervisorPlugin {
  services?: SupervisorService[];
  archiveProbe?: ArchiveProbe;
}

export type SupervisorPluginFactory = (
  ctx: Context,
) => SupervisorPlugin | undefined | Promise<SupervisorPlugin | undefined>;

/** Every plugin of `pgfollower run`, in start order (services stop in reverse). */
export const supervisorPlugins: SupervisorPluginFactory[] = [
  (ctx) => archivePlugin(ctx),
  (ctx) => alertsPlugin(ctx),
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
