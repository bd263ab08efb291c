import type { AlertRulesConfig } from '../config/sections/alerts.js';
import { formatBytes, formatDurationMs } from '../config/units.js';
import { catchUpClause } from '../monitor/catchup.js';
import { applyDelayClause } from '../monitor/lag.js';
import type { Snapshot } from '../monitor/snapshot.js';
import type { AlertName, RuleSeverity } from './types.js';

/**
 * What one rule sees in one snapshot. Pure data: the engine (engine.ts) turns a stream of these
 * into pending/firing/resolved with `for`, hysteresis and rate limits.
 */
export interface Observation {
  alert: AlertName;
  /**
   * `unknown`: the source the rule needs did not answer this tick. Unknown neither fires nor
   * clears, so a flaky connection cannot page or silently resolve anything.
   */
  level: RuleSeverity | 'ok' | 'unknown';
  /** Below the lower (clear) threshold: counts towards `clearFor`. Always true when level is ok for state rules. */
  clear: boolean;
  /** The node is a primary: leader-oriented alerts resolve at once instead of waiting for clearFor. */
  suppressed: boolean;
  value: number | string | null;
  threshold: number | string | null;
  message: string;
  forMs: number;
  clearForMs: number;
}

type Rules = Readonly<AlertRulesConfig>;

/** Evaluates every enabled rule against one snapshot. */
export function observeSnapshot(rules: Rules, snapshot: Snapshot): Observation[] {
  const observations: Observation[] = [];
  const primary = snapshot.state === 'primary';
  const push = (enabled: boolean, make: () => Omit<Observation, 'suppressed'>): void => {
    if (!enabled) return;
    const observation = make();
    if (primary && observation.alert !== 'local-unreachable') {
      observations.push({
        ...observation,
        level: 'ok',
        clear: true,
        suppressed: true,
        message: `${snapshot.node} is a primary now: follower alerts no longer apply`,
      });
      return;
    }
    observations.push({ ...observation, suppressed: false });
  };

  push(rules.lagBytes.enabled, () => observeLagBytes(rules, snapshot));
  push(rules.lagSeconds.enabled, () => observeLagSeconds(rules, snapshot));
  push(rules.disconnected.enabled, () =>
    observeState(
      rules.disconnected,
      'disconnected',
      snapshot,
      snapshot.state === 'disconnected',
      () =>
        `${snapshot.node} is disconnected: no WAL from the leader or the archive (${snapshot.reason}); check the leader and the network, then \`pgfollower status\``,
    ),
  );
  push(rules.archiveRecovery.enabled, () =>
    observeState(
      rules.archiveRecovery,
      'archive-recovery',
      snapshot,
      snapshot.state === 'archive-recovery',
      () =>
        `${snapshot.node} has replayed from the archive for over ${formatDurationMs(rules.archiveRecovery.for)} (${snapshot.reason}); streaming is broken: check primary_conninfo, the slot and the leader's logs`,
    ),
  );
  push(rules.stalled.enabled, () =>
    observeState(
      rules.stalled,
      'stalled',
      snapshot,
      snapshot.state === 'stalled',
      () =>
        `${snapshot.node} is stalled: it needs WAL ${snapshot.neededSegment ?? '(unknown segment)'} that neither the leader nor the archive has; only a rebuild helps: run \`pgfollower rebuild\``,
    ),
  );
  push(rules.slotWalStatus.enabled, () => observeSlot(rules, snapshot));
  push(rules.leaderWalFull.enabled, () => observeLeaderWalFull(rules, snapshot));
  push(rules.archiverFailing.enabled, () => observeArchiver(rules, snapshot));
  push(rules.archiveGap.enabled, () => observeArchiveGap(rules, snapshot));
  push(rules.localUnreachable.enabled, () => {
    const local = snapshot.local;
    return {
      alert: 'local-unreachable',
      level: local.ok ? 'ok' : rules.localUnreachable.severity,
      clear: local.ok,
      value: local.ok ? null : (local.code ?? 'error'),
      threshold: null,
      message: local.ok
        ? `the supervisor reaches the local server of ${snapshot.node} again`
        : `the supervisor cannot query the local server of ${snapshot.node}: ${local.error}; check \`systemctl status postgresql\` and the server log`,
      forMs: rules.localUnreachable.for,
      clearForMs: rules.localUnreachable.clearFor,
    };
  });
  return observations;
}

function classifyAbove(value: number, warning: number, critical: number): RuleSeverity | 'ok' {
  if (value >= critical) return 'critical';
  if (value >= warning) return 'warning';
  return 'ok';
}

function observeLagBytes(rules: Rules, snapshot: Snapshot): Omit<Observation, 'suppressed'> {
  const rule = rules.lagBytes;
  const raw = snapshot.lag.replayLagBytes;
  const base = { alert: 'lag-bytes' as const, forMs: rule.for, clearForMs: rule.clearFor };
  if (raw === null) {
    return { ...base, level: 'unknown', clear: false, value: null, threshold: rule.warning, message: '' };
  }
  // Byte lags fit a double exactly up to 8 PB; notifications carry plain numbers.
  const value = Math.max(0, Number(raw));
  const level = classifyAbove(value, rule.warning, rule.critical);
  const threshold = level === 'critical' ? rule.critical : rule.warning;
  return {
    ...base,
    level,
    clear: value < rule.warning * rule.clearBelow,
    value,
    threshold,
    message:
      level === 'ok'
        ? `${snapshot.node} replay is ${formatBytes(value)} behind the leader (warning at ${formatBytes(rule.warning)})`
        : `${snapshot.node} replay is ${formatBytes(value)} behind the leader${applyDelayClause(snapshot.lag)} (${level} at ${formatBytes(threshold)}; ${snapshot.reason})${catchUpClause(snapshot.catchUp)}; check replay (paused? long queries?) and the receiver with \`pgfollower status\``,
  };
}

function observeLagSeconds(rules: Rules, snapshot: Snapshot): Omit<Observation, 'suppressed'> {
  const rule = rules.lagSeconds;
  const raw = snapshot.lag.replayLagSeconds;
  const base = { alert: 'lag-seconds' as const, forMs: rule.for, clearForMs: rule.clearFor };
  if (raw === null) {
    return {
      ...base,
      level: 'unknown',
      clear: false,
      value: null,
      threshold: rule.warning / 1000,
      message: '',
    };
  }
  const valueMs = Math.max(0, raw * 1000);
  const level = classifyAbove(valueMs, rule.warning, rule.critical);
  const thresholdMs = level === 'critical' ? rule.critical : rule.warning;
  return {
    ...base,
    level,
    clear: valueMs < rule.warning * rule.clearBelow,
    value: Math.round(raw * 10) / 10,
    threshold: thresholdMs / 1000,
    message:
      level === 'ok'
        ? `${snapshot.node} replay is ${formatDurationMs(valueMs)} behind the leader (warning at ${formatDurationMs(rule.warning)})`
        : `${snapshot.node} replay is ${formatDurationMs(valueMs)} behind the leader${applyDelayClause(snapshot.lag)} (${level} at ${formatDurationMs(thresholdMs)}; ${snapshot.reason})${catchUpClause(snapshot.catchUp)}; check replay (paused? long queries?) and the receiver with \`pgfollower status\``,
  };
}

function observeState(
  rule: Readonly<{ severity: RuleSeverity; for: number; clearFor: number }>,
  alert: AlertName,
  snapshot: Snapshot,
  condition: boolean,
  message: () => string,
): Omit<Observation, 'suppressed'> {
  return {
    alert,
    level: condition ? rule.severity : 'ok',
    clear: !condition,
    value: snapshot.state,
    threshold: rule.for / 1000,
    message: condition ? message() : `${snapshot.node} is ${snapshot.state} (${snapshot.reason})`,
    forMs: rule.for,
    clearForMs: rule.clearFor,
  };
}

function observeSlot(rules: Rules, snapshot: Snapshot): Omit<Observation, 'suppressed'> {
  const rule = rules.slotWalStatus;
  const base = {
    alert: 'slot-wal-status' as const,
    forMs: rule.for,
    clearForMs: rule.clearFor,
    threshold: null,
  };
  if (!snapshot.leader.ok) return { ...base, level: 'unknown', clear: false, value: null, message: '' };
  const slot = snapshot.leader.value.slot;
  // No slot row: slots are disabled (or not looked at), nothing to say.
  if (slot === null) return { ...base, level: 'ok', clear: true, value: null, message: 'no slot in use' };
  if (!slot.exists) {
    return {
      ...base,
      level: rule.lost,
      clear: false,
      value: 'missing',
      message: `replication slot ${slot.name} does not exist on the leader: the leader may recycle WAL this follower needs; recreate it (the supervisor does when it can) or check who dropped it`,
    };
  }
  const status = slot.walStatus;
  if (status === 'lost') {
    return {
      ...base,
      level: rule.lost,
      clear: false,
      value: status,
      message: `replication slot ${slot.name} is lost (max_slot_wal_keep_size exceeded): the leader removed WAL this follower needed; expect archive recovery or a rebuild (\`pgfollower status\`)`,
    };
  }
  if (status === 'unreserved') {
    const left = slot.safeWalSizeBytes;
    return {
      ...base,
      level: rule.unreserved,
      clear: false,
      value: status,
      message: `replication slot ${slot.name} is unreserved: the leader will remove WAL this follower needs at the next checkpoint${left === null ? '' : ` (${formatBytes(left)} left)`}; the follower must catch up now or raise max_slot_wal_keep_size`,
    };
  }
  return {
    ...base,
    level: 'ok',
    clear: true,
    value: status,
    message: `replication slot ${slot.name} is ${status ?? 'fine'}`,
  };
}

function observeLeaderWalFull(rules: Rules, snapshot: Snapshot): Omit<Observation, 'suppressed'> {
  const rule = rules.leaderWalFull;
  const base = { alert: 'leader-wal-full' as const, forMs: rule.for, clearForMs: rule.clearFor };
  if (!snapshot.leader.ok)
    return { ...base, level: 'unknown', clear: false, value: null, threshold: null, message: '' };
  // The monitor's slot forecast: how long until the WAL this follower's slot retains reaches
  // max_slot_wal_keep_size, after which the leader invalidates the slot (the follower then needs the
  // archive, or a rebuild). The leader's free disk cannot be read over SQL, so this is the budget
  // pgfollower can see; without max_slot_wal_keep_size the slot-wal-status rule and docs warn instead.
  const forecast = snapshot.forecast;
  if (!forecast || forecast.limit === null) {
    // The leader answered but there is nothing to forecast: no slot, a lost one (restart_lsn is
    // NULL; slot-wal-status pages for that) or no max_slot_wal_keep_size. A page from before must
    // resolve, not repeat forever.
    return {
      ...base,
      level: 'ok',
      clear: true,
      value: null,
      threshold: null,
      message: 'no slot of this follower retains WAL toward max_slot_wal_keep_size on the leader',
    };
  }
  const seconds = forecast.secondsUntilFull;
  if (seconds === null) {
    return {
      ...base,
      level: 'ok',
      clear: true,
      value: null,
      threshold: rule.warning / 1000,
      message: 'the WAL retained by the slot is not growing toward max_slot_wal_keep_size',
    };
  }
  const ms = seconds * 1000;
  const level: RuleSeverity | 'ok' = ms <= rule.critical ? 'critical' : ms <= rule.warning ? 'warning' : 'ok';
  const threshold = (level === 'critical' ? rule.critical : rule.warning) / 1000;
  return {
    ...base,
    level,
    clear: level === 'ok',
    value: Math.round(seconds),
    threshold,
    message: `the slot retains ${formatBytes(forecast.retainedBytes)} on the leader and reaches max_slot_wal_keep_size in ${formatDurationMs(ms)}${forecast.headroomBytes === null ? '' : ` (${formatBytes(forecast.headroomBytes)} left)`}; then the leader invalidates the slot and this follower must catch up from the archive or be rebuilt: find why it falls behind`,
  };
}

function observeArchiver(rules: Rules, snapshot: Snapshot): Omit<Observation, 'suppressed'> {
  const rule = rules.archiverFailing;
  const base = {
    alert: 'archiver-failing' as const,
    forMs: rule.for,
    clearForMs: rule.clearFor,
    threshold: null,
  };
  if (!snapshot.leader.ok || snapshot.leader.value.archiver === null) {
    return { ...base, level: 'unknown', clear: false, value: null, message: '' };
  }
  const a = snapshot.leader.value.archiver;
  // pg_stat_archiver: failing while the last failure is newer than the last success.
  const failing =
    a.lastFailedTime !== null && (a.lastArchivedTime === null || a.lastFailedTime > a.lastArchivedTime);
  return {
    ...base,
    level: failing ? rule.severity : 'ok',
    clear: !failing,
    value: a.failedCount,
    message: failing
      ? `the leader's archive_command is failing (last failed WAL ${a.lastFailedWal ?? '?'}, ${a.failedCount} failures): WAL piles up in the leader's pg_wal and the archive falls behind; check the leader's log for archive_command errors`
      : "the leader's archiver succeeds again",
  };
}

function observeArchiveGap(rules: Rules, snapshot: Snapshot): Omit<Observation, 'suppressed'> {
  const rule = rules.archiveGap;
  const base = { alert: 'archive-gap' as const, forMs: rule.for, clearForMs: rule.clearFor, threshold: null };
  const archive = snapshot.archive;
  if (archive === null)
    return { ...base, level: 'ok', clear: true, value: null, message: 'no archive configured' };
  if (!archive.ok) return { ...base, level: 'unknown', clear: false, value: null, message: '' };
  // The probe names the first segment from the follower's position that the archive lacks; on a
  // healthy streaming follower that is the leader's current, unfinished segment. Only a segment the
  // archive has moved past (older than its newest) or the leader says it archived is a gap.
  const missing = isGap(archive.value.missingSegment, archive.value.newestSegment, snapshot)
    ? archive.value.missingSegment
    : null;
  return {
    ...base,
    level: missing === null ? 'ok' : rule.severity,
    clear: missing === null,
    value: missing,
    message:
      missing === null
        ? 'the archive has every segment the follower needs'
        : `WAL segment ${missing} is missing from the archive (between this follower and the leader): archive recovery cannot pass it; check the leader's archive_command and \`pgfollower wal-push\` logs`,
  };
}

const SEGMENT_RE = /^[0-9A-F]{24}$/;

/**
 * A missing segment is a gap when the leader has finished and archived past it: it is older than
 * the newest segment in the archive, or not newer than the leader's last archived WAL
 * (pg_stat_archiver). Segments are archived in order, so either means it will not arrive by itself.
 */
export function isGap(missing: string | null, newest: string | null, snapshot: Snapshot): boolean {
  if (missing === null || !SEGMENT_RE.test(missing)) return false;
  const leader = snapshot.leader.ok ? snapshot.leader.value : undefined;
  // The position part of a name (log id, segment; fixed-width hex) sorts as the positions do, for
  // any segment size: no size needed, none guessed.
  const position = (name: string): string => name.slice(8);
  if (newest !== null && SEGMENT_RE.test(newest) && position(missing) < position(newest)) return true;
  const archived = leader?.archiver?.lastArchivedWal ?? null;
  return archived !== null && SEGMENT_RE.test(archived) && position(missing) <= position(archived);
}
