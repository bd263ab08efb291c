import type { Context } from '../context.js';
import type { SupervisorPlugin } from '../daemon/types.js';
import { createAlertService } from './service.js';

/** The alerts plug-in of `pgfollower run` (composed in src/app/plugins.ts). */
export function alertsPlugin(ctx: Context): SupervisorPlugin | undefined {
  if (!ctx.config.alerts.enabled) {
    ctx.logger.info('alerts.enabled is false: no alert rules are evaluated');
    return undefined;
  }
  return { services: [createAlertService()] };
}
