import { setTimeout as sleep } from 'node:timers/promises';
import { computeBackoffMs } from '../util/backoff.js';
import type { Logger } from '../logging/logger.js';
import { acceptsNotification, DeliveryError, type Channel } from './channels/index.js';
import type { AlertMetrics } from './metrics.js';
import type { Notification } from './types.js';
import { withDeadline } from '../util/deadline.js';

export interface DeliveryResult {
  channel: string;
  type: Channel['type'];
  ok: boolean;
  attempts: number;
  elapsedMs: number;
  /** Last error, when not ok. */
  error?: string;
  /** Not ok because we were shutting down, not because the channel failed: send again after a restart. */
  cancelled?: boolean;
  /** Not ok, and the last error was one a later try may get past (receiver down, 5xx, timeout). */
  retryable?: boolean;
}

/** The longest a receiver's Retry-After is honoured; beyond that our own backoff applies. */
const maxRetryAfterMs = 30_000;

/**
 * Delivers one notification through one channel: one attempt per `timeoutMs`, retried with the
 * daemon's backoff (jitter) while the error is retryable, at most `retries` more times. Never
 * throws: a failing channel is logged and counted, and monitoring goes on.
 */
export async function deliverWithRetry(
  channel: Channel,
  notification: Notification,
  options: { signal: AbortSignal; logger: Logger; metrics: AlertMetrics },
): Promise<DeliveryResult> {
  const { config } = channel;
  const started = performance.now();
  const log = options.logger.child({
    channel: channel.name,
    alert: notification.alert,
    status: notification.status,
  });
  let attempt = 0;
  for (;;) {
    attempt += 1;
    try {
      await withDeadline(options.signal, config.timeoutMs, (signal) => channel.send(notification, signal));
      options.metrics.notifications.inc({ channel: channel.name, result: 'sent' });
      const elapsedMs = Math.round(performance.now() - started);
      log.info(
        { attempts: attempt, elapsedMs },
        `sent ${notification.status} ${notification.alert} to ${channel.name}`,
      );
      return { channel: channel.name, type: channel.type, ok: true, attempts: attempt, elapsedMs };
    } catch (error) {
      options.metrics.deliveryErrors.inc({ channel: channel.name });
      const retryable = error instanceof DeliveryError ? error.retryable : true;
      const lastError = error instanceof Error ? error.message : String(error);
      const left = config.retries - (attempt - 1);
      if (!retryable || left <= 0 || options.signal.aborted) {
        options.metrics.notifications.inc({
          channel: channel.name,
          result: options.signal.aborted ? 'cancelled' : 'failed',
        });
        log.error(
          { attempts: attempt, err: lastError },
          `could not send ${notification.status} ${notification.alert} to ${channel.name}: ${lastError}; ${
            retryable ? 'retries used up' : 'not retrying (fix the channel config)'
          }; monitoring continues, run \`pgfollower alerts test\` to check the channel`,
        );
        return {
          channel: channel.name,
          type: channel.type,
          ok: false,
          attempts: attempt,
          elapsedMs: Math.round(performance.now() - started),
          error: lastError,
          ...(options.signal.aborted ? { cancelled: true } : {}),
          ...(retryable ? { retryable: true } : {}),
        };
      }
      const backoff = computeBackoffMs(attempt - 1, { baseMs: config.retryDelayMs, maxMs: 30_000 });
      const retryAfter = error instanceof DeliveryError ? error.retryAfterMs : undefined;
      const delay =
        retryAfter !== undefined ? Math.min(Math.max(retryAfter, backoff), maxRetryAfterMs) : backoff;
      log.warn(
        { err: lastError, attempt },
        `${lastError}; retrying in ${(delay / 1000).toFixed(1)}s (${left} left)`,
      );
      try {
        await sleep(delay, undefined, { signal: options.signal });
      } catch {
        // Shutting down: the loop sees the aborted signal and gives up after counting.
      }
    }
  }
}

interface EnqueueOptions {
  /** Only these channels (by name), e.g. those still owed a notification after a restart. */
  only?: readonly string[];
  /** Called once per channel when its delivery finished (sent, failed or cancelled). */
  onDelivered?: (result: DeliveryResult) => void;
}

interface Dispatcher {
  /** Names of the channels that accept this notification. */
  targets(notification: Notification): string[];
  /** Queues a notification for every channel that accepts it; returns at once with their names. */
  enqueue(notification: Notification, options?: EnqueueOptions): string[];
  /** Waits until every queue is empty, at most `timeoutMs`; true when everything was delivered. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Swap the channels (config reload). Queued notifications keep their old channel. */
  setChannels(channels: readonly Channel[]): void;
}

/**
 * One queue per channel, so one slow or dead receiver never delays another, and notifications of
 * one channel arrive in order (a `resolved` never overtakes its `firing`). A queue holds at most
 * `maxQueue` notifications; beyond that the newest are dropped and counted.
 */
export function createDispatcher(options: {
  channels: readonly Channel[];
  logger: Logger;
  metrics: AlertMetrics;
  signal: AbortSignal;
  maxQueue?: number;
  onDelivered?: (notification: Notification, result: DeliveryResult) => void;
}): Dispatcher {
  const maxQueue = options.maxQueue ?? 100;
  let channels = options.channels;
  const tails = new Map<string, Promise<void>>();
  const depth = new Map<string, number>();

  return {
    targets(notification) {
      return channels.filter((c) => acceptsNotification(c.config, notification)).map((c) => c.name);
    },
    enqueue(notification, enqueueOptions = {}) {
      const queuedTo: string[] = [];
      for (const channel of channels) {
        if (!acceptsNotification(channel.config, notification)) continue;
        if (enqueueOptions.only && !enqueueOptions.only.includes(channel.name)) continue;
        const queued = depth.get(channel.name) ?? 0;
        if (queued >= maxQueue) {
          options.metrics.notifications.inc({ channel: channel.name, result: 'dropped' });
          enqueueOptions.onDelivered?.({
            channel: channel.name,
            type: channel.type,
            ok: false,
            attempts: 0,
            elapsedMs: 0,
            error: 'queue full',
            retryable: true,
          });
          options.logger.error(
            { channel: channel.name, alert: notification.alert },
            `alert queue of ${channel.name} is full (${maxQueue}): dropped ${notification.status} ${notification.alert}; the channel has been failing, check it with \`pgfollower alerts test\``,
          );
          continue;
        }
        depth.set(channel.name, queued + 1);
        const previous = tails.get(channel.name) ?? Promise.resolve();
        const next = previous.then(async () => {
          try {
            const result = await deliverWithRetry(channel, notification, options);
            options.onDelivered?.(notification, result);
            enqueueOptions.onDelivered?.(result);
          } catch (error) {
            // A rejected link would stop this channel's queue for good: log and keep it moving.
            options.logger.error(
              { err: error, channel: channel.name },
              'alert delivery bookkeeping failed (a bug); queue continues',
            );
          } finally {
            depth.set(channel.name, (depth.get(channel.name) ?? 1) - 1);
          }
        });
        tails.set(channel.name, next);
        queuedTo.push(channel.name);
      }
      return queuedTo;
    },
    async drain(timeoutMs) {
      const all = Promise.all(tails.values()).then(() => true);
      const timer = sleep(timeoutMs, false, { ref: false });
      return Promise.race([all, timer]);
    },
    setChannels(next) {
      channels = next;
    },
  };
}
