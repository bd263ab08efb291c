import { describe, expect, it } from 'vitest';
import { isHttpPeer, labelPeer, parseStatusPosition } from '../../../src/failover/peers.js';
import { newestSegment } from '../../../src/failover/archive-drain.js';
import { parseLsn } from '../../../src/postgres/lsn.js';

describe('peers', () => {
  it('tells URLs from conninfo and never labels a peer with its password', () => {
    expect(isHttpPeer('http://10.0.0.2:8008')).toBe(true);
    expect(isHttpPeer('host=10.0.0.2 port=5432')).toBe(false);
    expect(labelPeer('host=10.0.0.2 port=5433 password=secret')).toBe('10.0.0.2:5433');
    expect(labelPeer('http://10.0.0.2:8008/')).toBe('http://10.0.0.2:8008');
  });

  it('reads the local position from a supervisor /status answer in its several shapes', () => {
    const sourced = {
      local: {
        ok: true,
        value: { inRecovery: true, timeline: 2, receiveLsn: '50331648', replayLsn: '0/2FFFFFF' },
      },
    };
    expect(parseStatusPosition(sourced)).toEqual({ inRecovery: true, timeline: 2, lsn: 50331648n });
    const wrapped = { snapshot: { local: { inRecovery: false, timeline: 3, currentLsn: '1/0' } } };
    expect(parseStatusPosition(wrapped)).toEqual({ inRecovery: false, timeline: 3, lsn: parseLsn('1/0') });
    expect(parseStatusPosition({ local: { ok: false, error: 'down' } })).toBeUndefined();
    expect(parseStatusPosition('nope')).toBeUndefined();
  });
});

describe('archive drain', () => {
  it('finds the newest archived segment number', () => {
    expect(newestSegment([])).toBeNull();
    expect(
      newestSegment(['000000010000000000000003', '000000010000000100000000', '000000010000000000000009']),
    ).toBe(256n);
  });
});
