import { alertNames, type Severity } from '../config/sections/alerts.js';

export { alertNames };
export type { Severity } from '../config/sections/alerts.js';

export type AlertName = (typeof alertNames)[number];

export type RuleSeverity = Exclude<Severity, 'info'>;

const severityRank: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function compareSeverity(a: Severity, b: Severity): number {
  return severityRank[a] - severityRank[b];
}

/** What one notification says; the webhook body is exactly this. */
export interface Notification {
  /** `firing` / `resolved` for alerts; `event` for lifecycle notices. */
  status: 'firing' | 'resolved' | 'event';
  /** An AlertName, `test`, or a lifecycle kind (`bootstrap`, `promote`, `follow`, `rebuild`). */
  alert: string;
  severity: Severity;
  node: string;
  /** The measured value (bytes, seconds, or a state word); null when not a measurement. */
  value: number | string | null;
  threshold: number | string | null;
  /** For humans: what is wrong and what to do next. */
  message: string;
  /** ISO 8601: when the alert fired (or the event happened). */
  startsAt: string;
  /** ISO 8601: when it resolved; only on `resolved`. */
  endsAt?: string;
  /** Stable for one alert on one node: PagerDuty `dedup_key`, and a key for any receiver. */
  dedupKey: string;
  /** true when this repeats a still-firing alert (repeatIntervalMs). */
  repeat?: boolean;
  /** `alert` (rules), `lifecycle`, or `test` (`pgfollower alerts test`). */
  kind: 'alert' | 'lifecycle' | 'test';
  /** Set when a maintenance window held this notification (not delivered): which window. */
  held?: string;
}

/** One alert the engine tracks: pending (condition true, `for` not yet elapsed) or firing. */
export interface ActiveAlert {
  alert: AlertName;
  phase: 'pending' | 'firing';
  severity: RuleSeverity;
  /** When the condition was first seen (pending start). */
  since: number;
  /** When it fired; null while pending. */
  firedAt: number | null;
  /** When the current severity first appeared while firing at a lower one (escalation pending). */
  escalatingSince: number | null;
  /** When the condition was first seen clear in the current clear streak. */
  clearingSince: number | null;
  /** Last firing notification sent; null when rate-limited (held) so far. */
  notifiedAt: number | null;
  value: number | string | null;
  threshold: number | string | null;
  message: string;
}

export interface AlertHistory {
  /** Last firing notification (first page, escalation or repeat) of this alert. */
  lastPageAt: number;
  resolvedAt: number | null;
}

/** The engine's whole state: small, JSON-serialisable, persisted across restarts. */
export interface AlertState {
  version: 1;
  alerts: Partial<Record<AlertName, ActiveAlert>>;
  history: Partial<Record<AlertName, AlertHistory>>;
}

/**
 * A notification not yet confirmed by every channel it was meant for. Kept in the state file next
 * to the engine state, so a crash between deciding to page and the page arriving re-sends it after
 * the restart (at least once), while a confirmed one is never sent again.
 */
export interface OutboxEntry {
  notification: Notification;
  /** Channel names still owed this notification. */
  channels: string[];
}

/** What the state file holds. */
export interface PersistedAlerts extends AlertState {
  outbox?: OutboxEntry[];
}

export function createAlertState(): AlertState {
  return { version: 1, alerts: {}, history: {} };
}

export function makeDedupKey(node: string, alert: string): string {
  return `pgfollower/${node}/${alert}`;
}
