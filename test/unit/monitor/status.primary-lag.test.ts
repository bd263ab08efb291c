import { describe, expect, it } from 'vitest';
import { evaluateCheck, type CheckThresholds } from '../../../src/monitor/check.js';
import { buildStatus, formatStatus } from '../../../src/monitor/status.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';
import { previousSnapshot, unclassified } from './fixtures.js';

const t: CheckThresholds = {
  warnLagBytes: 64 * 1048576,
  critLagBytes: 1024 * 1048576,
  warnLagSeconds: 60,
  critLagSeconds: 300,
};

/** A cascaded follower at rest on its upstream, `primaryLag` behind cluster.primary. */
function cascaded(primaryLag: Partial<Snapshot['lag']> | 'unreachable'): Snapshot {
  const base = previousSnapshot(unclassified({}), 'streaming');
  return {
    ...base,
    topology: {
      failoverPriority: 100,
      applyDelayMs: 0,
      upstream: { host: '10.0.0.2', port: 5432 },
      primary: { host: '10.0.0.1', port: 5432 },
    },
    primary:
      primaryLag === 'unreachable'
        ? {
            sample: { ok: false, error: 'connect ECONNREFUSED' },
            lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
            last: null,
          }
        : {
            sample: {
              ok: true,
              value: { inRecovery: false, currentLsn: 1n << 32n, timeline: 1, primaryNow: 0 },
            },
            lag: { replayLagBytes: 0n, receiveLagBytes: 0n, replayLagSeconds: 0, ...primaryLag },
            last: { lsn: 1n << 32n, timeline: 1, seenAt: 0 },
          },
  };
}

describe('lag to cluster.primary (a cascaded follower)', () => {
  it('is in the status document and the human status beside the lag to the upstream', () => {
    const doc = buildStatus(
      cascaded({ replayLagBytes: 200n * 1048576n, receiveLagBytes: 100n * 1048576n, replayLagSeconds: 12 }),
      'direct',
    );
    expect(doc.lagBytes).toBe(0);
    expect(doc.primary).toMatchObject({
      host: '10.0.0.1',
      port: 5432,
      reachable: true,
      isStandby: false,
      lagBytes: 200 * 1048576,
      receiveLagBytes: 100 * 1048576,
      replayLagSeconds: 12,
      lsn: '1/0',
    });
    expect(formatStatus(doc)).toMatch(
      /lag to the primary 10\.0\.0\.1:5432: 200 MB replay, 100 MB receive, 12s behind/,
    );
  });

  it('check judges it with the same thresholds, named apart, with its own perfdata', () => {
    const warn = evaluateCheck(buildStatus(cascaded({ replayLagBytes: 100n * 1048576n }), 'direct'), t);
    expect(warn.code).toBe(1);
    expect(warn.line).toMatch(/streaming: replay lag to the primary 100 MB > 64 MB \|/);
    expect(warn.line).toMatch(
      / primary_lag_bytes=104857600B;67108864;1073741824;0 primary_lag_seconds=0\.000s;60;300;0/,
    );
    const crit = evaluateCheck(buildStatus(cascaded({ replayLagSeconds: 301 }), 'direct'), t);
    expect(crit.code).toBe(2);
    expect(crit.line).toMatch(/301s behind the primary > 300s/);
    expect(evaluateCheck(buildStatus(cascaded({}), 'direct'), t).code).toBe(0);
  });

  it('an unreachable primary is unknown lag, not 0 and not a finding', () => {
    const doc = buildStatus(cascaded('unreachable'), 'direct');
    expect(doc.primary).toMatchObject({ reachable: false, lagBytes: null, error: 'connect ECONNREFUSED' });
    expect(formatStatus(doc)).toMatch(
      /lag to the primary 10\.0\.0\.1:5432: unknown \(connect ECONNREFUSED\)/,
    );
    const r = evaluateCheck(doc, t);
    expect(r.code).toBe(0);
    expect(r.line).toMatch(/ primary_lag_bytes=U;/);
  });
});
