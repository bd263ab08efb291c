import { describe, expect, it } from 'vitest';
import { parseHistory, timelineOfSegment } from '../../../../src/archive/follower/coverage.js';
import { parseLsn } from '../../../../src/postgres/lsn.js';
import { SEG } from '../fixtures.js';

describe('timelines', () => {
  it('reads a history file and picks the timeline of each segment', () => {
    const spans = [
      { timeline: 1, begin: 0n },
      { timeline: 2, begin: parseLsn('0/5000060') },
    ];
    expect(parseHistory('1\t0/5000060\tno recovery target specified\n')).toEqual([
      { timeline: 1, switchLsn: parseLsn('0/5000060') },
    ]);
    expect(timelineOfSegment(spans, 4n, BigInt(SEG))).toBe(1);
    // the segment holding the switch point is read from the new timeline
    expect(timelineOfSegment(spans, 5n, BigInt(SEG))).toBe(2);
    expect(timelineOfSegment(spans, 6n, BigInt(SEG))).toBe(2);
  });
});
