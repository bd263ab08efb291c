import type { webhookChannel } from '../../config/sections/alerts.js';
import type { z } from 'zod';
import type { Notification } from '../types.js';
import type { Channel } from './channel.js';
import { postJson } from './http.js';

/** POSTs the notification itself as JSON: `{ status, alert, severity, node, value, threshold, message, startsAt, endsAt?, dedupKey, kind }`. */
export function createWebhookChannel(
  name: string,
  config: Readonly<z.infer<typeof webhookChannel>>,
): Channel {
  return {
    name,
    type: 'webhook',
    config,
    async send(notification: Notification, signal: AbortSignal) {
      await postJson(config.url, notification, { headers: config.headers, signal, what: `webhook ${name}` });
    },
  };
}
