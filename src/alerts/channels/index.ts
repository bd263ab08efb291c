import type { AlertsConfig, ChannelConfig } from '../../config/sections/alerts.js';
import type { Channel } from './channel.js';
import { createCommandChannel } from './command.js';
import { createPagerDutyChannel } from './pagerduty.js';
import { createSlackChannel } from './slack.js';
import { createWebhookChannel } from './webhook.js';

export { acceptsNotification, DeliveryError, type Channel } from './channel.js';

export function resolveChannelName(config: Readonly<ChannelConfig>, index: number): string {
  return config.name ?? `${config.type}-${index + 1}`;
}

export function createChannel(config: Readonly<ChannelConfig>, index: number): Channel {
  const name = resolveChannelName(config, index);
  switch (config.type) {
    case 'webhook':
      return createWebhookChannel(name, config);
    case 'slack':
      return createSlackChannel(name, config);
    case 'pagerduty':
      return createPagerDutyChannel(name, config);
    case 'command':
      return createCommandChannel(name, config);
  }
}

export function createChannels(config: Readonly<AlertsConfig>): Channel[] {
  return config.channels.map((c, i) => createChannel(c, i));
}
