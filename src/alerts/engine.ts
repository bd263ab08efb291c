import type { AlertsConfig } from '../config/sections/alerts.js';
import type { Snapshot } from '../monitor/snapshot.js';
import { observeSnapshot, type Observation } from './rules.js';
import {
  compareSeverity,
  makeDedupKey,
  type ActiveAlert,
  type AlertName,
  type AlertState,
  type Notification,
} from './types.js';

export type EngineConfig = Pick<Readonly<AlertsConfig>, 'rules' | 'repeatIntervalMs' | 'rateLimitMs'>;

interface EvaluateResult {
  state: AlertState;
  notifications: Notification[];
}

/** Lag grows whenever these fire: while one pages, lag alerts hold (neither fire nor resolve). */
const lagInhibitors: readonly AlertName[] = ['disconnected', 'stalled'];
const lagAlerts: readonly AlertName[] = ['lag-bytes', 'lag-seconds'];

/**
 * The rule engine: a pure function of the previous state, one snapshot and the time. No I/O, no
 * clock of its own: the service persists the state and sends the notifications.
 *
 * - pending -> firing once the condition held for the rule's `for`;
 * - firing -> resolved once the value stayed under the lower (clear) threshold for `clearFor`;
 * - severity only rises while firing (an escalation waits `for` too), so a value hovering around
 *   the critical threshold pages once;
 * - a still-firing alert repeats every `repeatIntervalMs`;
 * - an alert that fires again within `rateLimitMs` of its last page is held (no page, no
 *   resolved) until the rate limit passes, and sent then only if it still fires.
 */
export function evaluate(
  previous: AlertState,
  snapshot: Snapshot,
  now: number,
  config: EngineConfig,
): EvaluateResult {
  const state: AlertState = structuredClone(previous);
  const notifications: Notification[] = [];
  const observations = observeSnapshot(config.rules, snapshot);
  const seen = new Set<AlertName>();

  // State alerts first, so lag alerts can see whether an inhibitor fires after this tick.
  const ordered = [
    ...observations.filter((o) => !lagAlerts.includes(o.alert)),
    ...observations.filter((o) => lagAlerts.includes(o.alert)),
  ];
  for (const raw of ordered) {
    seen.add(raw.alert);
    const inhibited =
      lagAlerts.includes(raw.alert) &&
      !raw.suppressed &&
      lagInhibitors.some((name) => state.alerts[name]?.phase === 'firing');
    const observation: Observation = inhibited ? { ...raw, level: 'unknown', clear: false } : raw;
    step(state, observation, snapshot.node, now, config, notifications);
  }

  // A rule disabled by a config reload: resolve what it paged, forget the rest.
  for (const name of Object.keys(state.alerts) as AlertName[]) {
    if (seen.has(name)) continue;
    const entry = state.alerts[name];
    if (entry)
      resolve(state, entry, snapshot.node, now, `rule ${name} was disabled`, entry.value, notifications);
  }
  return { state, notifications };
}

function step(
  state: AlertState,
  o: Observation,
  node: string,
  now: number,
  config: EngineConfig,
  out: Notification[],
): void {
  const existing = state.alerts[o.alert];
  if (o.level === 'unknown') return;

  if (!existing) {
    if (o.level === 'ok') return;
    const entry: ActiveAlert = {
      alert: o.alert,
      phase: 'pending',
      severity: o.level,
      since: now,
      firedAt: null,
      escalatingSince: null,
      clearingSince: null,
      notifiedAt: null,
      value: o.value,
      threshold: o.threshold,
      message: o.message,
    };
    state.alerts[o.alert] = entry;
    if (o.forMs <= 0) fire(state, entry, node, now, config, out);
    return;
  }

  if (existing.phase === 'pending') {
    if (o.level === 'ok') {
      // Never paged: drop silently.
      delete state.alerts[o.alert];
      return;
    }
    existing.severity = o.level;
    existing.value = o.value;
    existing.threshold = o.threshold;
    existing.message = o.message;
    if (now - existing.since >= o.forMs) fire(state, existing, node, now, config, out);
    return;
  }

  // Firing.
  if (o.suppressed) {
    resolve(state, existing, node, now, o.message, o.value, out);
    return;
  }
  if (o.clear) {
    existing.clearingSince ??= now;
    existing.escalatingSince = null;
    if (now - existing.clearingSince >= o.clearForMs) {
      resolve(state, existing, node, now, o.message, o.value, out);
      return;
    }
  } else {
    existing.clearingSince = null;
  }
  if (o.level !== 'ok') {
    existing.value = o.value;
    existing.message = o.message;
    if (compareSeverity(o.level, existing.severity) > 0) {
      existing.escalatingSince ??= now;
      if (now - existing.escalatingSince >= o.forMs) {
        existing.severity = o.level;
        existing.threshold = o.threshold;
        existing.escalatingSince = null;
        page(state, existing, node, now, out, false);
        return;
      }
    } else {
      existing.escalatingSince = null;
    }
  }
  if (existing.notifiedAt === null) {
    const last = state.history[existing.alert]?.lastPageAt ?? Number.NEGATIVE_INFINITY;
    if (now - last >= config.rateLimitMs) page(state, existing, node, now, out, false);
  } else if (now - existing.notifiedAt >= config.repeatIntervalMs) {
    page(state, existing, node, now, out, true);
  }
}

function fire(
  state: AlertState,
  entry: ActiveAlert,
  node: string,
  now: number,
  config: EngineConfig,
  out: Notification[],
): void {
  entry.phase = 'firing';
  entry.firedAt = now;
  const last = state.history[entry.alert]?.lastPageAt;
  // Flapping: it paged a moment ago and resolved since; hold it until the rate limit passes.
  if (last !== undefined && now - last < config.rateLimitMs) return;
  page(state, entry, node, now, out, false);
}

function page(
  state: AlertState,
  entry: ActiveAlert,
  node: string,
  now: number,
  out: Notification[],
  repeat: boolean,
): void {
  entry.notifiedAt = now;
  state.history[entry.alert] = { lastPageAt: now, resolvedAt: null };
  out.push({
    kind: 'alert',
    status: 'firing',
    alert: entry.alert,
    severity: entry.severity,
    node,
    value: entry.value,
    threshold: entry.threshold,
    message: entry.message,
    startsAt: new Date(entry.firedAt ?? now).toISOString(),
    dedupKey: makeDedupKey(node, entry.alert),
    ...(repeat ? { repeat: true } : {}),
  });
}

function resolve(
  state: AlertState,
  entry: ActiveAlert,
  node: string,
  now: number,
  message: string,
  value: number | string | null,
  out: Notification[],
): void {
  delete state.alerts[entry.alert];
  const history = state.history[entry.alert];
  if (history) history.resolvedAt = now;
  // Held by the rate limit and never sent: receivers still hold the earlier `resolved`.
  if (entry.phase !== 'firing' || entry.notifiedAt === null) return;
  out.push({
    kind: 'alert',
    status: 'resolved',
    alert: entry.alert,
    severity: entry.severity,
    node,
    value,
    threshold: entry.threshold,
    message: `resolved: ${message}`,
    startsAt: new Date(entry.firedAt ?? entry.since).toISOString(),
    endsAt: new Date(now).toISOString(),
    dedupKey: makeDedupKey(node, entry.alert),
  });
}
