import { describe, expect, it } from 'vitest';
import { evaluateCheck, type CheckThresholds } from '../../../src/monitor/check.js';
import { buildStatus, formatStatus } from '../../../src/monitor/status.js';
import { parseLsn } from '../../../src/postgres/lsn.js';
import { leaderSample, localSample, previousSnapshot, unclassified } from './fixtures.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';

const t: CheckThresholds = {
  warnLagBytes: 64 * 1048576,
  critLagBytes: 1024 * 1048576,
  warnLagSeconds: 60,
  critLagSeconds: 300,
};

function doc(state: Snapshot['state'], parts: Parameters<typeof unclassified>[0] = {}) {
  return buildStatus(
    { ...previousSnapshot(unclassified(parts), state), reason: `${state} (recorded)` },
    'direct',
  );
}

describe('check', () => {
  it('OK with perfdata at rest', () => {
    const r = evaluateCheck(doc('streaming'), t);
    expect(r.code).toBe(0);
    expect(r.line).toBe(
      'PGFOLLOWER OK - replica_a streaming: lag 0 B, 0s | lag_bytes=0B;67108864;1073741824;0 lag_seconds=0.000s;60;300;0 receive_lag_bytes=0B;;;0 timeline=1',
    );
  });

  it('WARNING and CRITICAL by bytes and seconds; the worst wins', () => {
    expect(evaluateCheck(doc('catching-up', { lag: { replayLagBytes: 100n * 1048576n } }), t).code).toBe(1);
    expect(evaluateCheck(doc('catching-up', { lag: { replayLagBytes: 2048n * 1048576n } }), t).code).toBe(2);
    expect(evaluateCheck(doc('catching-up', { lag: { replayLagSeconds: 61 } }), t).code).toBe(1);
    const both = evaluateCheck(
      doc('catching-up', { lag: { replayLagBytes: 100n * 1048576n, replayLagSeconds: 301 } }),
      t,
    );
    expect(both.code).toBe(2);
    expect(both.line).toMatch(/301s behind > 300s; replay lag 100 MB > 64 MB/);
  });

  it('CRITICAL when stopped, stalled or the slot is lost; WARNING when disconnected', () => {
    expect(evaluateCheck(doc('stopped', { local: { error: 'refused' } }), t).code).toBe(2);
    expect(evaluateCheck(doc('stalled'), t).code).toBe(2);
    const lostSlot = leaderSample({
      slot: {
        name: 'replica_a',
        exists: true,
        active: false,
        walStatus: 'lost',
        safeWalSizeBytes: null,
        restartLsn: null,
      },
    });
    expect(evaluateCheck(doc('streaming', { leader: lostSlot }), t).line).toMatch(
      /CRITICAL.*slot replica_a lost/,
    );
    const r = evaluateCheck(
      doc('disconnected', {
        leader: { error: 'refused' },
        lag: { replayLagBytes: null, replayLagSeconds: null },
      }),
      t,
    );
    expect(r.code).toBe(1);
    expect(r.line).toMatch(/ lag_bytes=U;67108864;1073741824;0 lag_seconds=U;60;300;0 /);
  });

  // Issue 14 defect 3: the leader could not be queried while the receiver streamed, and check said
  // `OK ... lag 0 B` (lagBytes ?? 0).
  it('unknown lag is never OK: UNKNOWN when nothing worse is found, the worse finding otherwise', () => {
    const unknownLag = { leader: { error: 'timeout' }, lag: { replayLagBytes: null, receiveLagBytes: null } };
    const r = evaluateCheck(doc('streaming', unknownLag), t);
    expect(r.code).toBe(3);
    expect(r.line).toMatch(
      /^PGFOLLOWER UNKNOWN - replica_a streaming: replay lag unknown: leader not queried \(timeout\) \| lag_bytes=U;/,
    );
    expect(r.line).not.toMatch(/0 B/);
    const late = evaluateCheck(
      doc('streaming', { ...unknownLag, lag: { ...unknownLag.lag, replayLagSeconds: 400 } }),
      t,
    );
    expect(late.code).toBe(2);
    expect(late.line).toMatch(/400s behind > 300s; replay lag unknown/);
    const archive = evaluateCheck(doc('archive-recovery', unknownLag), t);
    expect(archive.code).toBe(1);
  });

  it('the status document and its human summary name state, numbers and the next step', () => {
    const d = doc('stalled', {
      local: localSample({ walReceiver: null, replayLsn: parseLsn('0/3000148') }),
    });
    expect(d).toMatchObject({ role: 'replica', replayLsn: '0/3000148', leaderLsn: '0/3000148', lagBytes: 0 });
    const text = formatStatus(d);
    expect(text.split('\n')[0]).toBe('replica_a: stalled (replica, timeline 1)');
    expect(text).toMatch(/^next: no source has the next WAL/m);
  });
});
