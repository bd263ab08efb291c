import type { Context } from '../context.js';
import type { SupervisorPlugin } from '../daemon/plugins.js';
import { createAlertService } from './service.js';

/** The alerts plug-in of `pgfollower run` (registered in src/daemon/plugins.ts). */
export function alertsPlugin(ctx: Context): SupervisorPlugin | undefined {
  if (!ctx.config.alerts.enabled) {
    ctx.logger.info('alerts.enabled is false: no alert rules are evaluated');
    return undefined;
  }
  return { services: [createAlertService()] };
}
