import type { z } from 'zod';
import type { pagerdutyChannel } from '../../config/sections/alerts.js';
import type { Notification } from '../types.js';
import type { Channel } from './channel.js';
import { postJson } from './http.js';

/**
 * PagerDuty Events API v2. Alerts are `trigger` / `resolve` events with a `dedup_key` that is
 * stable per node and alert, so a repeat or an escalation updates the open incident and
 * `resolve` closes it, across supervisor restarts too. Lifecycle notices are change events.
 * https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
 */
export function formatPagerDutyEvent(
  routingKey: string,
  notification: Notification,
): Record<string, unknown> {
  if (notification.status === 'resolved') {
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: notification.dedupKey };
  }
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: notification.dedupKey,
    payload: {
      // PagerDuty truncates summaries at 1024 characters; cut ourselves so the end stays readable.
      summary: truncate(`${notification.alert} on ${notification.node}: ${notification.message}`, 1024),
      source: notification.node,
      severity: notification.severity,
      timestamp: notification.startsAt,
      component: 'postgresql',
      group: 'pgfollower',
      class: notification.alert,
      custom_details: {
        value: notification.value,
        threshold: notification.threshold,
        message: notification.message,
        startsAt: notification.startsAt,
        repeat: notification.repeat ?? false,
      },
    },
  };
}

function formatPagerDutyChange(routingKey: string, notification: Notification): Record<string, unknown> {
  return {
    routing_key: routingKey,
    payload: {
      summary: truncate(`${notification.alert} on ${notification.node}: ${notification.message}`, 1024),
      source: notification.node,
      timestamp: notification.startsAt,
      custom_details: { kind: notification.alert, message: notification.message },
    },
  };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function createPagerDutyChannel(
  name: string,
  config: Readonly<z.infer<typeof pagerdutyChannel>>,
): Channel {
  return {
    name,
    type: 'pagerduty',
    config,
    async send(notification, signal) {
      if (notification.status === 'event') {
        await postJson(config.changeUrl, formatPagerDutyChange(config.routingKey, notification), {
          signal,
          what: `pagerduty ${name} (change event)`,
        });
        return;
      }
      await postJson(config.url, formatPagerDutyEvent(config.routingKey, notification), {
        signal,
        what: `pagerduty ${name}`,
      });
    },
  };
}
