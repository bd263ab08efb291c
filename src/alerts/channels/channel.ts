import type { ChannelConfig } from '../../config/sections/alerts.js';
import { compareSeverity, type Notification } from '../types.js';

/**
 * One place notifications go. `send` makes one attempt and throws a DeliveryError when it failed;
 * retries, timeouts, logging and counting live in deliver.ts so every channel behaves alike.
 */
export interface Channel {
  readonly name: string;
  readonly type: ChannelConfig['type'];
  readonly config: Readonly<ChannelConfig>;
  send(notification: Notification, signal: AbortSignal): Promise<void>;
}

/** One failed attempt: whether another attempt may succeed, and how long the receiver asked us to wait. */
export class DeliveryError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  /** HTTP status or program exit code, when there was one. */
  readonly status: number | undefined;
  constructor(
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; status?: number; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryError';
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/** Whether this channel wants this notification (severity floor, alert filter, lifecycle opt-in). */
export function acceptsNotification(config: Readonly<ChannelConfig>, notification: Notification): boolean {
  if (notification.kind === 'test') return true;
  if (notification.kind === 'lifecycle') return config.lifecycle;
  if (compareSeverity(notification.severity, config.minSeverity) < 0) return false;
  if (config.alerts && !(config.alerts as readonly string[]).includes(notification.alert)) return false;
  return true;
}
