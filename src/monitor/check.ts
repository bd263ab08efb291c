import { NagiosCode } from '../errors.js';
import { formatBytes } from '../config/units.js';
import type { StatusDocument } from './status.js';

export interface CheckThresholds {
  warnLagBytes: number;
  critLagBytes: number;
  warnLagSeconds: number;
  critLagSeconds: number;
}

export type NagiosStatus = (typeof NagiosCode)[keyof typeof NagiosCode];
const labels = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
/** Which finding wins: CRITICAL over WARNING over UNKNOWN over OK (a known problem beats not knowing). */
const rank: Record<NagiosStatus, number> = { 0: 0, 3: 1, 1: 2, 2: 3 };

export function checkLabel(code: NagiosStatus): (typeof labels)[number] {
  return labels[code];
}

export interface CheckResultLine {
  code: NagiosStatus;
  /** One line: `PGFOLLOWER WARNING - replica_a catching-up: ... | perfdata`. */
  line: string;
}

/**
 * The Nagios/Icinga verdict for a status document: the worst finding wins, every finding is named,
 * perfdata (`'label'=value[UOM];warn;crit;min`) carries the numbers for graphs. Unknown numbers are
 * `U` as the plugin guidelines say. https://nagios-plugins.org/doc/guidelines.html#AEN200
 */
export function evaluateCheck(doc: StatusDocument, t: CheckThresholds): CheckResultLine {
  const findings: Array<{ code: NagiosStatus; text: string }> = [];
  const add = (code: NagiosStatus, text: string): void => {
    findings.push({ code, text });
  };

  if (doc.role === 'down') add(NagiosCode.CRITICAL, `local server not running (${doc.reason})`);
  else if (doc.role === 'replica') {
    if (doc.state === 'stalled')
      add(NagiosCode.CRITICAL, `stalled: next WAL ${doc.neededSegment ?? '?'} is on no source`);
    if (doc.state === 'archive-recovery')
      add(NagiosCode.WARNING, 'not streaming: replaying from the archive');
    if (doc.state === 'disconnected')
      add(
        NagiosCode.WARNING,
        doc.leader.reachable ? 'WAL receiver not streaming' : 'leader unreachable, lag unknown',
      );
    // Unknown is never OK (the leader cannot be queried while the receiver streams): UNKNOWN unless
    // something worse is found. A disconnected follower already says so above.
    if (doc.lagBytes === null && doc.state !== 'disconnected')
      add(
        NagiosCode.UNKNOWN,
        `replay lag unknown: leader not queried${doc.leader.error ? ` (${doc.leader.error})` : ''}`,
      );
    if (doc.lagBytes !== null) {
      if (doc.lagBytes > t.critLagBytes)
        add(NagiosCode.CRITICAL, `replay lag ${formatBytes(doc.lagBytes)} > ${formatBytes(t.critLagBytes)}`);
      else if (doc.lagBytes > t.warnLagBytes)
        add(NagiosCode.WARNING, `replay lag ${formatBytes(doc.lagBytes)} > ${formatBytes(t.warnLagBytes)}`);
    }
    if (doc.replayLagSeconds !== null) {
      const s = doc.replayLagSeconds;
      if (s > t.critLagSeconds) add(NagiosCode.CRITICAL, `${s.toFixed(0)}s behind > ${t.critLagSeconds}s`);
      else if (s > t.warnLagSeconds)
        add(NagiosCode.WARNING, `${s.toFixed(0)}s behind > ${t.warnLagSeconds}s`);
    }
    // A cascaded follower: the data served is as old as its lag to the primary, whatever the
    // upstream says; judged with the same thresholds, named apart.
    const primary = doc.primary;
    if (primary?.lagBytes != null) {
      const b = primary.lagBytes;
      if (b > t.critLagBytes)
        add(
          NagiosCode.CRITICAL,
          `replay lag to the primary ${formatBytes(b)} > ${formatBytes(t.critLagBytes)}`,
        );
      else if (b > t.warnLagBytes)
        add(
          NagiosCode.WARNING,
          `replay lag to the primary ${formatBytes(b)} > ${formatBytes(t.warnLagBytes)}`,
        );
    }
    if (primary?.replayLagSeconds != null) {
      const s = primary.replayLagSeconds;
      if (s > t.critLagSeconds)
        add(NagiosCode.CRITICAL, `${s.toFixed(0)}s behind the primary > ${t.critLagSeconds}s`);
      else if (s > t.warnLagSeconds)
        add(NagiosCode.WARNING, `${s.toFixed(0)}s behind the primary > ${t.warnLagSeconds}s`);
    }
    if (doc.slot.name && doc.slot.exists === false)
      add(NagiosCode.CRITICAL, `slot ${doc.slot.name} missing on the leader`);
    if (doc.slot.walStatus === 'lost') add(NagiosCode.CRITICAL, `slot ${doc.slot.name ?? '?'} lost`);
    if (doc.slot.walStatus === 'unreserved')
      add(NagiosCode.WARNING, `slot ${doc.slot.name ?? '?'} about to be invalidated (wal_status unreserved)`);
  }

  const code = findings.reduce<NagiosStatus>(
    (worst, f) => (rank[f.code] > rank[worst] ? f.code : worst),
    NagiosCode.OK,
  );
  // The lag's direction matters as much as its size: "will be caught up in ~4 min" or "not catching up".
  const catchUp = doc.role === 'replica' && doc.catchUp ? `; ${doc.catchUp.text}` : '';
  const summary =
    (findings.length > 0
      ? findings
          .sort((a, b) => rank[b.code] - rank[a.code])
          .map((f) => f.text)
          .join('; ')
      : doc.role === 'primary'
        ? 'primary (not following)'
        : `lag ${doc.lagBytes === null ? 'unknown' : formatBytes(doc.lagBytes)}, ${doc.replayLagSeconds === null ? '?' : doc.replayLagSeconds.toFixed(0)}s`) +
    catchUp;
  // An unknown value is a bare `U`: with a unit attached ("UB") parsers such as Icinga 2's reject it.
  const value = (v: string | number | null, uom: string): string => (v === null ? 'U' : `${v}${uom}`);
  const perf = [
    `lag_bytes=${value(doc.lagBytes, 'B')};${t.warnLagBytes};${t.critLagBytes};0`,
    `lag_seconds=${value(doc.replayLagSeconds === null ? null : doc.replayLagSeconds.toFixed(3), 's')};${t.warnLagSeconds};${t.critLagSeconds};0`,
    `receive_lag_bytes=${value(doc.receiveLagBytes, 'B')};;;0`,
    `timeline=${doc.timeline ?? 'U'}`,
  ];
  if (doc.catchUp?.etaSeconds != null)
    perf.push(`catchup_eta_seconds=${doc.catchUp.etaSeconds.toFixed(0)}s;;;0`);
  if (doc.primary) {
    const p = doc.primary;
    perf.push(
      `primary_lag_bytes=${value(p.lagBytes, 'B')};${t.warnLagBytes};${t.critLagBytes};0`,
      `primary_lag_seconds=${value(p.replayLagSeconds === null ? null : p.replayLagSeconds.toFixed(3), 's')};${t.warnLagSeconds};${t.critLagSeconds};0`,
    );
  }
  if (doc.slot.safeWalSizeBytes !== null) perf.push(`slot_safe_wal_size=${doc.slot.safeWalSizeBytes}B;;;0`);
  return {
    code,
    line: `PGFOLLOWER ${labels[code]} - ${doc.node} ${doc.state}: ${summary} | ${perf.join(' ')}`,
  };
}

export function unknownLine(message: string): CheckResultLine {
  return { code: NagiosCode.UNKNOWN, line: `PGFOLLOWER UNKNOWN - ${message}` };
}
