import { z } from 'zod';
import { boundedDuration, boundedSize } from '../units.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How long a condition must hold, or stay clear: up to a day. */
const holdDuration = boundedDuration(0, DAY);
const lagSize = boundedSize(0, 1024 ** 4 * 16);
const lagDuration = boundedDuration(0, 7 * DAY);

/**
 * `alerts:` section. Owned by the alerts domain (src/alerts/). Every rule has sensible defaults so
 * `alerts: { channels: [...] }` is a complete configuration; see docs/alerts.md.
 */

/** Alert names as they appear in notifications, dedup keys, metrics and `channels[].alerts`. */
export const alertNames = [
  'lag-bytes',
  'lag-seconds',
  'disconnected',
  'archive-recovery',
  'stalled',
  'slot-wal-status',
  'leader-wal-full',
  'archiver-failing',
  'archive-gap',
  'local-unreachable',
] as const;

export const severities = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof severities)[number];
const severity = z.enum(severities);
/** A rule's own severity: `info` is for tests and lifecycle notices, never a rule. */
const ruleSeverity = z.enum(['warning', 'critical']);

/** Hysteresis shared by every rule: how long the condition must stay clear before `resolved`. */
const clearFor = holdDuration.default(60_000);

function thresholdRule(
  unit: typeof lagSize | typeof lagDuration,
  defaults: { warning: number; critical: number },
) {
  return z
    .strictObject({
      enabled: z.boolean().default(true),
      warning: unit.default(defaults.warning),
      critical: unit.default(defaults.critical),
      /** The value must stay above a threshold this long before the alert fires. */
      for: holdDuration.default(30_000),
      /**
       * Clears only below `clearBelow` x the threshold (0.8 = 20 % under it), for `clearFor`: a value
       * hovering around the threshold does not flap.
       */
      clearBelow: z.number().gt(0).max(1).default(0.8),
      clearFor,
    })
    .superRefine((rule, ctx) => {
      if (rule.critical < rule.warning) {
        ctx.addIssue({
          code: 'custom',
          path: ['critical'],
          message: 'critical must be at least warning (critical is the larger lag)',
        });
      }
    });
}

function stateRule(defaults: { severity: Severity; for: number; clearFor?: number }) {
  return z.strictObject({
    enabled: z.boolean().default(true),
    severity: ruleSeverity.default(defaults.severity === 'critical' ? 'critical' : 'warning'),
    for: holdDuration.default(defaults.for),
    clearFor: holdDuration.default(defaults.clearFor ?? 30_000),
  });
}

export const alertRulesSection = z.strictObject({
  /** Bytes the follower's replay is behind the leader's current LSN. */
  lagBytes: thresholdRule(lagSize, { warning: 64 * 1024 * 1024, critical: 1024 * 1024 * 1024 }).prefault({}),
  /** Time the replayed state is behind the leader (0 when caught up with an idle leader). */
  lagSeconds: thresholdRule(lagDuration, { warning: 60_000, critical: 300_000 }).prefault({}),
  /** No WAL source answers: neither streaming nor the archive. */
  disconnected: stateRule({ severity: 'critical', for: 60_000 }).prefault({}),
  /** Replaying from the archive for longer than `for` (streaming is broken or far behind). */
  archiveRecovery: stateRule({ severity: 'warning', for: 600_000 }).prefault({}),
  /** The follower needs WAL that no source has: only a rebuild helps. */
  stalled: stateRule({ severity: 'critical', for: 0 }).prefault({}),
  /** The follower's slot on the leader: `unreserved` (about to be lost) and `lost`. */
  slotWalStatus: z
    .strictObject({
      enabled: z.boolean().default(true),
      unreserved: ruleSeverity.default('warning'),
      lost: ruleSeverity.default('critical'),
      for: holdDuration.default(0),
      clearFor,
    })
    .prefault({}),
  /** The leader's pg_wal forecast (by the monitor) to fill within this time. */
  leaderWalFull: z
    .strictObject({
      enabled: z.boolean().default(true),
      warning: boundedDuration(MINUTE, 14 * DAY).default(24 * 3_600_000),
      critical: boundedDuration(MINUTE, 14 * DAY).default(4 * 3_600_000),
      for: holdDuration.default(300_000),
      clearFor: holdDuration.default(600_000),
    })
    .superRefine((rule, ctx) => {
      if (rule.critical > rule.warning) {
        ctx.addIssue({
          code: 'custom',
          path: ['critical'],
          message: 'critical is the shorter time to full: it must not exceed warning',
        });
      }
    })
    .prefault({}),
  /** The leader's archive_command keeps failing (pg_stat_archiver). */
  archiverFailing: stateRule({ severity: 'warning', for: 120_000 }).prefault({}),
  /** A segment between the follower's position and the leader is missing from the archive. */
  archiveGap: stateRule({ severity: 'warning', for: 0 }).prefault({}),
  /** The supervisor cannot query the local server. */
  localUnreachable: stateRule({ severity: 'critical', for: 30_000 }).prefault({}),
});

/** Keys every channel accepts. */
const channelCommon = {
  /** Name in logs, metrics and `alerts test --channel`; defaults to `<type>-<position>`. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, ".", "_" and "-"')
    .max(63)
    .optional(),
  /** Least severity sent to this channel. */
  minSeverity: severity.default('warning'),
  /** Only these alerts (names such as lag-bytes, stalled); all when absent. */
  alerts: z
    .array(z.enum(alertNames, { error: `an alert name: ${alertNames.join(', ')}` }))
    .min(1)
    .optional(),
  /** Also send lifecycle notices (bootstrap/promote/follow/rebuild done). */
  lifecycle: z.boolean().default(false),
  /** Bound for one delivery attempt. */
  timeoutMs: boundedDuration(100, 5 * MINUTE).default(5000),
  /** Further attempts after a failed one (with backoff and jitter). */
  retries: z.number().int().min(0).max(10).default(3),
  /** First backoff; doubles each retry, capped at 30 s. */
  retryDelayMs: boundedDuration(0, 10 * MINUTE).default(1000),
};

const httpUrl = z.url({
  protocol: /^https?$/,
  error: 'write an http:// or https:// URL',
});

export const webhookChannel = z.strictObject({
  type: z.literal('webhook'),
  ...channelCommon,
  url: httpUrl,
  /** Extra request headers, e.g. `Authorization: Bearer ...`. */
  headers: z.record(z.string().min(1), z.string()).default({}),
});

export const slackChannel = z.strictObject({
  type: z.literal('slack'),
  ...channelCommon,
  /** Slack incoming-webhook URL (a secret). */
  webhookUrl: httpUrl,
  /** Overrides the webhook's default channel, e.g. `#db-oncall`. */
  channel: z.string().min(1).optional(),
});

export const pagerdutyChannel = z.strictObject({
  type: z.literal('pagerduty'),
  ...channelCommon,
  /** Events API v2 integration key (a secret). */
  routingKey: z.string().min(1),
  url: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
  /** Lifecycle notices go to PagerDuty as change events. */
  changeUrl: httpUrl.default('https://events.pagerduty.com/v2/change/enqueue'),
});

export const commandChannel = z.strictObject({
  type: z.literal('command'),
  ...channelCommon,
  /** Program to run (absolute path or found in PATH); never run through a shell. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  timeoutMs: boundedDuration(100, HOUR).default(10_000),
});

export const channelSchema = z.discriminatedUnion('type', [
  webhookChannel,
  slackChannel,
  pagerdutyChannel,
  commandChannel,
]);

export const alertsSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /**
     * Firing alerts are kept here across restarts. Default: `alerts.json` beside `monitor.stateFile`,
     * else `pgfollower-alerts.json` beside the data directory.
     */
    stateFile: z.string().min(1).optional(),
    /** A still-firing alert is sent again this often. */
    repeatIntervalMs: boundedDuration(MINUTE, 7 * DAY).default(4 * 3_600_000),
    /** An alert that resolved and fires again within this time is not sent again until it passes. */
    rateLimitMs: boundedDuration(0, 7 * DAY).default(600_000),
    rules: alertRulesSection.prefault({}),
    channels: z.array(channelSchema).default([]),
  })
  .superRefine((alerts, ctx) => {
    const seen = new Set<string>();
    alerts.channels.forEach((channel, index) => {
      if (channel.name === undefined) return;
      if (seen.has(channel.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['channels', index, 'name'],
          message: `channel name "${channel.name}" is used twice; names must be unique`,
        });
      }
      seen.add(channel.name);
    });
  });

export type AlertsConfig = z.infer<typeof alertsSection>;
export type AlertRulesConfig = z.infer<typeof alertRulesSection>;
export type ChannelConfig = z.infer<typeof channelSchema>;
