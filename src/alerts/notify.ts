import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { acceptsNotification } from './channels/channel.js';
import { createChannels } from './channels/index.js';
import { deliverWithRetry, type DeliveryResult } from './deliver.js';
import { createAlertMetrics } from './metrics.js';
import { makeDedupKey, type Notification } from './types.js';
import { withDeadline } from '../util/deadline.js';

type LifecycleKind = 'bootstrap' | 'promote' | 'follow' | 'rebuild';

export function makeLifecycleNotification(
  kind: LifecycleKind,
  node: string,
  message: string,
  now: number,
): Notification {
  return {
    kind: 'lifecycle',
    status: 'event',
    alert: kind,
    severity: 'info',
    node,
    value: null,
    threshold: null,
    message,
    startsAt: new Date(now).toISOString(),
    dedupKey: makeDedupKey(node, kind),
  };
}

/** The longest a command waits for lifecycle notices: the command's own work is already done. */
const lifecycleDeadlineMs = 10_000;

/**
 * Tells the channels that ask for lifecycle notices (`lifecycle: true`) that a command finished:
 * bootstrap, promote, follow, rebuild. Never throws and never fails the command: failures are
 * logged and returned. Each channel's timeout and retries apply, within `deadlineMs` overall.
 */
export async function notifyLifecycle(
  ctx: Context,
  event: { kind: LifecycleKind; message: string; node?: string },
  options: { deadlineMs?: number } = {},
): Promise<DeliveryResult[]> {
  try {
    const alerts = ctx.config.alerts;
    if (!alerts.enabled) return [];
    const node = event.node ?? ctx.config.node.name ?? 'unknown';
    const notification = makeLifecycleNotification(event.kind, node, event.message, ctx.clock.now());
    const channels = createChannels(alerts).filter((c) => c.config.lifecycle);
    const metrics = createAlertMetrics();
    const logger = ctx.logger.child({ component: 'alerts' });
    return await withDeadline(ctx.signal, options.deadlineMs ?? lifecycleDeadlineMs, (signal) =>
      Promise.all(channels.map((c) => deliverWithRetry(c, notification, { signal, logger, metrics }))),
    );
  } catch (error) {
    ctx.logger.error(
      { err: error },
      `could not send the ${event.kind} notice to alert channels; the ${event.kind} itself is unaffected`,
    );
    return [];
  }
}

/**
 * `pgfollower alerts test`: a `firing` then a `resolved` test notification through every
 * configured channel (or one), so PagerDuty closes the test incident it opened.
 */
export async function sendTestNotifications(
  ctx: Context,
  options: { channel?: string; resolve?: boolean } = {},
): Promise<Array<DeliveryResult & { step: 'firing' | 'resolved' }>> {
  const all = createChannels(ctx.config.alerts);
  const channels = options.channel === undefined ? all : all.filter((c) => c.name === options.channel);
  if (options.channel !== undefined && channels.length === 0) {
    throw new UsageError(
      `no alert channel named "${options.channel}"; configured: ${all.map((c) => c.name).join(', ') || '(none)'}`,
    );
  }
  const node = ctx.config.node.name ?? 'unknown';
  const now = ctx.clock.now();
  const firing: Notification = {
    kind: 'test',
    status: 'firing',
    alert: 'test',
    severity: 'info',
    node,
    value: null,
    threshold: null,
    message: `test notification from pgfollower on ${node}: if you read this, the channel works; nothing is wrong`,
    startsAt: new Date(now).toISOString(),
    dedupKey: makeDedupKey(node, 'test'),
  };
  const metrics = createAlertMetrics();
  const logger = ctx.logger.child({ component: 'alerts' });
  return Promise.all(
    channels.map(async (channel) => {
      const sent = await deliverWithRetry(channel, firing, { signal: ctx.signal, logger, metrics });
      const results: Array<DeliveryResult & { step: 'firing' | 'resolved' }> = [{ ...sent, step: 'firing' }];
      if (sent.ok && options.resolve !== false) {
        const resolved: Notification = {
          ...firing,
          status: 'resolved',
          message: `resolved: ${firing.message}`,
          endsAt: new Date(ctx.clock.now()).toISOString(),
        };
        results.push({
          ...(await deliverWithRetry(channel, resolved, { signal: ctx.signal, logger, metrics })),
          step: 'resolved',
        });
      }
      return results;
    }),
  ).then((lists) => lists.flat());
}

/**
 * The leader's archive backlog alert from `archive push-ahead` (it runs without the supervisor's
 * rule engine): `firing` when more WAL waits to be archived than archive.pushBacklogAlertBytes,
 * `resolved` when it is down to half. Never throws: a failed delivery is logged and returned.
 */
export async function notifyArchiveBacklog(
  ctx: Context,
  backlog: {
    status: 'firing' | 'resolved';
    segments: number;
    bytes: number;
    thresholdBytes: number;
    since: number;
  },
): Promise<DeliveryResult[]> {
  try {
    const alerts = ctx.config.alerts;
    if (!alerts.enabled) return [];
    const node = ctx.config.node.name ?? 'leader';
    const mb = (bytes: number): string => `${Math.round(bytes / 1048576)} MB`;
    const notification: Notification = {
      kind: 'alert',
      status: backlog.status,
      alert: 'archive-backlog',
      severity: 'critical',
      node,
      value: backlog.bytes,
      threshold: backlog.thresholdBytes,
      message:
        backlog.status === 'firing'
          ? `${backlog.segments} WAL segments (${mb(backlog.bytes)}) on leader ${node} wait to be archived (alert above ${mb(backlog.thresholdBytes)}); pg_wal grows until the archive keeps up and nothing is dropped: check the archive's speed and errors, and the leader's free disk`
          : `resolved: the archive backlog on leader ${node} is down to ${backlog.segments} segments`,
      startsAt: new Date(backlog.since).toISOString(),
      ...(backlog.status === 'resolved' ? { endsAt: new Date(ctx.clock.now()).toISOString() } : {}),
      dedupKey: makeDedupKey(node, 'archive-backlog'),
    };
    const metrics = createAlertMetrics();
    const logger = ctx.logger.child({ component: 'alerts' });
    return await Promise.all(
      createChannels(alerts)
        .filter((c) => acceptsNotification(c.config, notification))
        .map((c) => deliverWithRetry(c, notification, { signal: ctx.signal, logger, metrics })),
    );
  } catch (error) {
    ctx.logger.error({ err: error }, 'could not send the archive backlog alert to alert channels');
    return [];
  }
}
