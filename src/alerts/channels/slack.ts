import type { z } from 'zod';
import type { slackChannel } from '../../config/sections/alerts.js';
import type { Notification } from '../types.js';
import type { Channel } from './channel.js';
import { postJson } from './http.js';

const colors = { critical: '#d62728', warning: '#ff9f1a', info: '#1f77b4', resolved: '#2ca02c' } as const;

/** Slack incoming-webhook message: a one-line `text` (what notifications show) and an attachment with the numbers. */
export function formatSlackMessage(notification: Notification, channel?: string): Record<string, unknown> {
  const headline =
    notification.status === 'resolved'
      ? `:white_check_mark: RESOLVED ${notification.alert} on ${notification.node}`
      : notification.status === 'event'
        ? `:information_source: ${notification.alert} on ${notification.node}`
        : `${notification.severity === 'critical' ? ':rotating_light:' : ':warning:'} ${notification.severity.toUpperCase()} ${notification.alert} on ${notification.node}${notification.repeat ? ' (still firing)' : ''}`;
  const fields: Array<{ title: string; value: string; short: boolean }> = [];
  if (notification.value !== null)
    fields.push({ title: 'value', value: String(notification.value), short: true });
  if (notification.threshold !== null)
    fields.push({ title: 'threshold', value: String(notification.threshold), short: true });
  fields.push({ title: 'since', value: notification.startsAt, short: true });
  if (notification.endsAt) fields.push({ title: 'resolved at', value: notification.endsAt, short: true });
  return {
    ...(channel ? { channel } : {}),
    text: `${headline}: ${notification.message}`,
    attachments: [
      {
        color: notification.status === 'resolved' ? colors.resolved : colors[notification.severity],
        fallback: notification.message,
        fields,
        footer: `pgfollower ${notification.dedupKey}`,
      },
    ],
  };
}

export function createSlackChannel(name: string, config: Readonly<z.infer<typeof slackChannel>>): Channel {
  return {
    name,
    type: 'slack',
    config,
    async send(notification, signal) {
      await postJson(config.webhookUrl, formatSlackMessage(notification, config.channel), {
        signal,
        what: `slack ${name}`,
      });
    },
  };
}
