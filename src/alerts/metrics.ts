import { Counter, Gauge, Registry } from 'prom-client';
import type { AlertState } from './types.js';
import { alertNames } from './types.js';

/**
 * Alert metrics, registered in the supervisor's registry (handle.metrics, served at /metrics), or
 * in a private one for one-shot commands (`alerts test`, lifecycle notices).
 */
export interface AlertMetrics {
  readonly registry: Registry;
  /**
   * Notifications by channel and outcome: sent, failed (after every retry), dropped (queue full),
   * cancelled (shutdown; re-sent after the restart).
   */
  notifications: Counter<'channel' | 'result'>;
  /** Every failed attempt, retried or not: a channel that needs retries shows here first. */
  deliveryErrors: Counter<'channel'>;
  /** 1 for each firing alert at its severity. */
  firing: Gauge<'alert' | 'severity'>;
}

export function createAlertMetrics(registry: Registry = new Registry()): AlertMetrics {
  return {
    registry,
    notifications: new Counter({
      name: 'pgfollower_alert_notifications_total',
      help: 'Alert notifications per channel by result (sent, failed after retries, dropped when the queue was full, cancelled at shutdown)',
      labelNames: ['channel', 'result'],
      registers: [registry],
    }),
    deliveryErrors: new Counter({
      name: 'pgfollower_alert_delivery_errors_total',
      help: 'Failed delivery attempts per channel, including attempts that were retried',
      labelNames: ['channel'],
      registers: [registry],
    }),
    firing: new Gauge({
      name: 'pgfollower_alert_firing',
      help: 'Firing alerts (1) by alert and severity; held (rate-limited) alerts count as firing',
      labelNames: ['alert', 'severity'],
      registers: [registry],
    }),
  };
}

/** Sets the firing gauge from the engine state: every alert name appears, 0 when not firing. */
export function recordFiring(metrics: AlertMetrics, state: AlertState): void {
  metrics.firing.reset();
  for (const name of alertNames) {
    const entry = state.alerts[name];
    const firing = entry?.phase === 'firing';
    metrics.firing.set({ alert: name, severity: firing ? entry.severity : 'none' }, firing ? 1 : 0);
  }
}
