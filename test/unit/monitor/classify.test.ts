import { describe, expect, it } from 'vitest';
import { classify, type ClassifyOptions } from '../../../src/monitor/classify.js';
import { parseLsn } from '../../../src/postgres/lsn.js';
import { T0, leaderSample, localSample, previousSnapshot, receiver, unclassified } from './fixtures.js';

const options: ClassifyOptions = { catchingUpBytes: 16 * 1024 * 1024, stallAfterMs: 30_000 };
const MB = 1024n * 1024n;

describe('classify', () => {
  it('stopped when the local server does not answer', () => {
    const v = classify(
      undefined,
      unclassified({ local: { error: 'connect ECONNREFUSED /tmp/.s.PGSQL.5433' } }),
      options,
    );
    expect(v.state).toBe('stopped');
    expect(v.reason).toMatch(/ECONNREFUSED/);
  });

  it('primary when not in recovery', () => {
    const local = localSample({
      inRecovery: false,
      timeline: 2,
      walReceiver: null,
      currentLsn: parseLsn('0/5000000'),
    });
    expect(classify(undefined, unclassified({ local }), options).state).toBe('primary');
  });

  it('streaming at rest, catching-up beyond catchingUpBytes', () => {
    expect(classify(undefined, unclassified(), options).state).toBe('streaming');
    const behind = classify(undefined, unclassified({ lag: { replayLagBytes: 40n * MB } }), options);
    expect(behind.state).toBe('catching-up');
    expect(behind.reason).toMatch(/40 MB behind/);
    expect(classify(undefined, unclassified({ lag: { replayLagBytes: 16n * MB } }), options).state).toBe(
      'streaming',
    );
  });

  it('a receiver whose details are hidden (no pg_monitor) is judged by lag and the reason says what to grant', () => {
    const local = localSample({
      walReceiver: receiver({ status: 'hidden', senderHost: null, senderPort: null }),
    });
    const v = classify(undefined, unclassified({ local }), options);
    expect(v.state).toBe('streaming');
    expect(v.reason).toMatch(/grant pg_monitor/);
  });

  it('says when replay is paused', () => {
    const local = localSample({ replayPaused: true });
    const v = classify(undefined, unclassified({ local, lag: { replayLagBytes: 20n * MB } }), options);
    expect(v.state).toBe('catching-up');
    expect(v.reason).toMatch(/replay paused/);
  });

  it('archive-recovery when the receiver is down and replay advances', () => {
    const before = unclassified({
      local: localSample({ walReceiver: null, replayLsn: parseLsn('0/5000028') }),
      leader: { error: 'connection refused' },
    });
    const prev = previousSnapshot(before, 'disconnected');
    const now = unclassified({
      at: T0 + 1000,
      local: localSample({
        walReceiver: null,
        replayLsn: parseLsn('0/6000028'),
        receiveLsn: parseLsn('0/5000028'),
      }),
      leader: { error: 'connection refused' },
    });
    const v = classify(prev, now, options);
    expect(v.state).toBe('archive-recovery');
    expect(v.neededSegment).toBe('000000010000000000000006');
    expect(v.replayProgressAt).toBe(T0 + 1000);
  });

  it('not archive-recovery while replay drains WAL the receiver already wrote', () => {
    const prev = previousSnapshot(
      unclassified({
        local: localSample({ replayLsn: parseLsn('0/3000060'), receiveLsn: parseLsn('0/30000D8') }),
      }),
      'streaming',
    );
    const now = unclassified({
      at: T0 + 1000,
      local: localSample({
        walReceiver: null,
        replayLsn: parseLsn('0/30000D8'),
        receiveLsn: parseLsn('0/30000D8'),
      }),
      leader: { error: 'Client has encountered a connection error and is not queryable' },
    });
    expect(classify(prev, now, options).state).toBe('disconnected');
  });

  it('disconnected when the leader is unreachable and replay stands still', () => {
    const local = localSample({ walReceiver: receiver({ status: 'waiting' }) });
    const prev = previousSnapshot(unclassified({ local }), 'streaming');
    const v = classify(
      prev,
      unclassified({ at: T0 + 1000, local, leader: { error: 'timeout expired' } }),
      options,
    );
    expect(v.state).toBe('disconnected');
    expect(v.reason).toMatch(/leader unreachable \(timeout expired\)/);
    expect(v.replayProgressAt).toBe(T0);
  });

  it('stalled when the leader already removed the segment replay needs and no archive has it', () => {
    const local = localSample({ walReceiver: null, replayLsn: parseLsn('0/3000148') });
    const leader = leaderSample({
      currentLsn: parseLsn('0/9000000'),
      oldestSegment: '000000010000000000000007',
      slot: {
        name: 'replica_a',
        exists: true,
        active: false,
        walStatus: 'lost',
        safeWalSizeBytes: null,
        restartLsn: null,
      },
    });
    const prev = previousSnapshot(unclassified({ local, leader }), 'stopped');
    const v = classify(prev, unclassified({ at: T0 + 1000, local, leader }), options);
    expect(v.state).toBe('stalled');
    expect(v.neededSegment).toBe('000000010000000000000003');
    expect(v.reason).toMatch(
      /already removed 000000010000000000000003 .*oldest it has: 000000010000000000000007/,
    );
    expect(v.reason).toMatch(/pgfollower rebuild/);
  });

  it('not stalled when the leader removed only WAL the follower already received (replay behind its own pg_wal)', () => {
    // Replay lags the receiver by 6 segments; the receiver restarts (leader restart) and the leader's
    // checkpoint recycled everything before the slot's restart_lsn (= the follower's flush position).
    const local = localSample({
      walReceiver: receiver({ status: 'starting' }),
      replayLsn: parseLsn('0/3000148'),
      receiveLsn: parseLsn('0/9000000'),
    });
    const leader = leaderSample({
      currentLsn: parseLsn('0/9000000'),
      oldestSegment: '000000010000000000000009',
    });
    const prev = previousSnapshot(unclassified({ local, leader }), 'catching-up');
    const v = classify(prev, unclassified({ at: T0 + 1000, local, leader }), options);
    expect(v.state).toBe('disconnected');
    expect(v.neededSegment).toBe('000000010000000000000009');
    // Once the leader lacks what the follower has not received, it is stalled.
    const gone = leaderSample({
      currentLsn: parseLsn('0/B000000'),
      oldestSegment: '00000001000000000000000A',
    });
    expect(classify(prev, unclassified({ at: T0 + 1000, local, leader: gone }), options).state).toBe(
      'stalled',
    );
  });

  it('archive-recovery (waiting) when the leader removed the segment but the archive has it; stalled when not', () => {
    const local = localSample({ walReceiver: null });
    const leader = leaderSample({
      currentLsn: parseLsn('0/9000000'),
      oldestSegment: '000000010000000000000007',
    });
    const prev = previousSnapshot(unclassified({ local, leader }), 'disconnected');
    const has = classify(
      prev,
      unclassified({
        at: T0 + 1000,
        local,
        leader,
        archive: {
          ok: true,
          value: {
            newestSegment: '000000010000000000000008',
            missingSegment: null,
            fetchedSegments: 0,
            spooledSegments: 0,
          },
        },
      }),
      options,
    );
    expect(has.state).toBe('archive-recovery');
    const lacks = classify(
      prev,
      unclassified({
        at: T0 + 1000,
        local,
        leader,
        archive: {
          ok: true,
          value: {
            newestSegment: '000000010000000000000002',
            missingSegment: '000000010000000000000003',
            fetchedSegments: 0,
            spooledSegments: 0,
          },
        },
      }),
      options,
    );
    expect(lacks.state).toBe('stalled');
    expect(lacks.reason).toMatch(/archive lacks it too \(first missing: 000000010000000000000003\)/);
  });

  it('disconnected (not stalled) when the leader still has the segment but the receiver does not stream', () => {
    const local = localSample({ walReceiver: null });
    const leader = leaderSample({ currentLsn: parseLsn('0/9000000') });
    const prev = previousSnapshot(unclassified({ local, leader }), 'streaming', T0 - 600_000);
    const v = classify(prev, unclassified({ at: T0 + 1000, local, leader }), options);
    expect(v.state).toBe('disconnected');
    expect(v.reason).toMatch(/pg_hba.conf/);
  });

  it('without the leader pg_wal listing, stalled only after replay stood still for stallAfterMs', () => {
    const local = localSample({ walReceiver: null });
    const leader = leaderSample({ currentLsn: parseLsn('0/9000000'), oldestSegment: null });
    const prev = previousSnapshot(unclassified({ local, leader }), 'disconnected', T0 - 10_000);
    expect(classify(prev, unclassified({ at: T0, local, leader }), options).state).toBe('disconnected');
    const later = previousSnapshot(unclassified({ local, leader }), 'disconnected', T0 - 31_000);
    const v = classify(later, unclassified({ at: T0, local, leader }), options);
    expect(v.state).toBe('stalled');
    expect(v.reason).toMatch(/has not moved for 31s/);
  });
});
