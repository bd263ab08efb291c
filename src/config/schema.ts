import { z } from 'zod';
import { boundedDuration, boundedSize, durationSeconds } from './units.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TB = 1024 ** 4;
import { archiveSection } from './sections/archive.js';
import { alertsSection } from './sections/alerts.js';
import { clusterSection } from './sections/cluster.js';
import { backupSection } from './sections/backup.js';

// A process parses its configuration once (again on SIGHUP): zod's JIT, which compiles a parser
// with new Function on first use, costs more than it saves then (it doubled wal-push's parse).
z.config({ jitless: true });

const nameRe = /^[a-z0-9_]+$/;

const nodeSection = z.strictObject({
  /** Required for follower commands (checked by requireKeys, not here, so other commands run without it). */
  name: z.string().min(1).max(63).optional(),
  dataDirectory: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).default(5432),
  host: z.string().min(1).default('/var/run/postgresql'),
  /** Local user pgfollower connects as; defaults to libpq's PGUSER or the OS user. */
  user: z.string().min(1).optional(),
  database: z.string().min(1).default('postgres'),
  binDir: z.string().min(1).optional(),
  /**
   * OS user that owns the data directory and runs PostgreSQL programs. Used only when pgfollower
   * itself runs as root (PostgreSQL refuses to run as root); defaults to `postgres`.
   */
  osUser: z.string().min(1).default('postgres'),
  /** Free disk required beyond the leader's size before bootstrap, as a fraction (0.1 = 10%). */
  diskMargin: z.number().min(0).max(10).default(0.1),
  /**
   * Failover priority (repmgr's priority, Patroni's nofailover): among peers at the same position
   * promote prefers the higher one; 0 = this node never promotes without --force.
   */
  failoverPriority: z.number().int().min(0).max(1000).default(100),
  /**
   * A delayed follower (ms; the key is named as operators write it, `applyDelay: 5min`): written as
   * recovery_min_apply_delay. Lag figures and lag alerts discount
   * it; receive lag is still judged in full.
   */
  applyDelay: boundedDuration(0, 7 * DAY).default(0),
});

const leaderSection = z.strictObject({
  conninfo: z.string().min(1).optional(),
  connectTimeoutMs: boundedDuration(100, 5 * MINUTE).default(5000),
  /**
   * A copy from the leader (pg_basebackup in bootstrap and rebuild) that receives nothing for this
   * long is stopped: a silently dropped link never ends a copy by itself.
   */
  copyStallTimeoutMs: boundedDuration(5 * SECOND, HOUR).default(2 * MINUTE),
});

const slotSection = z.strictObject({
  enabled: z.boolean().default(true),
  name: z
    .string()
    .regex(nameRe, 'slot names use lower-case letters, digits and underscores')
    .max(63)
    .optional(),
});

const httpSection = z.strictObject({
  listen: z
    .string()
    .regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, 'write host:port, e.g. 127.0.0.1:8008')
    .default('127.0.0.1:8008'),
  enabled: z.boolean().default(true),
});

/** Seconds (or a duration such as 5m) of replay lag, at most 7 days. */
const lagSeconds = durationSeconds.pipe(z.number().max((DAY / 1000) * 7, 'at most 604800 (7 days)'));

const monitorSection = z
  .strictObject({
    intervalMs: boundedDuration(100, HOUR).default(1000),
    /** Bound for a single query; a tick never waits longer. */
    queryTimeoutMs: boundedDuration(100, 10 * MINUTE).default(3000),
    /** Lag under which a receiving follower counts as `streaming` rather than `catching-up`. */
    catchingUpBytes: boundedSize(0, 16 * TB).default(16 * 1024 * 1024),
    /** `pgfollower check` thresholds (flags override): replay lag in bytes and in seconds. */
    warnLagBytes: boundedSize(0, 16 * TB).default(64 * 1024 * 1024),
    critLagBytes: boundedSize(0, 16 * TB).default(1024 * 1024 * 1024),
    warnLagSeconds: lagSeconds.default(60),
    critLagSeconds: lagSeconds.default(300),
    stateFile: z.string().min(1).optional(),
  })
  // A WARNING threshold above the CRITICAL one would never warn: refuse it rather than guess.
  .superRefine((m, ctx) => {
    if (m.warnLagBytes > m.critLagBytes)
      ctx.addIssue({
        code: 'custom',
        path: ['warnLagBytes'],
        message: `warning threshold ${m.warnLagBytes} bytes is above the critical ${m.critLagBytes} bytes; lower warnLagBytes (--warn-lag) or raise critLagBytes (--crit-lag)`,
      });
    if (m.warnLagSeconds > m.critLagSeconds)
      ctx.addIssue({
        code: 'custom',
        path: ['warnLagSeconds'],
        message: `warning threshold ${m.warnLagSeconds}s is above the critical ${m.critLagSeconds}s; lower warnLagSeconds (--warn-seconds) or raise critLagSeconds (--crit-seconds)`,
      });
  });

const logSection = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  format: z.enum(['auto', 'json', 'pretty']).default('auto'),
});

export const configSchema = z.strictObject({
  node: nodeSection.prefault({}),
  leader: leaderSection.prefault({}),
  slot: slotSection.prefault({}),
  archive: archiveSection.prefault({}),
  http: httpSection.prefault({}),
  monitor: monitorSection.prefault({}),
  alerts: alertsSection.prefault({}),
  cluster: clusterSection.prefault({}),
  backup: backupSection.prefault({}),
  log: logSection.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
