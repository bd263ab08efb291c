import { describe, expect, it } from 'vitest';
import { checkCoverage, timelineOfSegment } from '../../../../src/archive/follower/coverage.js';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { timelineDir } from '../../../../src/archive/store/layout.js';
import { ArchiveError } from '../../../../src/errors.js';
import { parseLsn } from '../../../../src/postgres/lsn.js';
import { unitContext } from '../../../helpers/context.js';
import { SEG, tempDir } from '../fixtures.js';

describe('timelines', () => {
  it('picks the timeline of each segment from the history spans', () => {
    const spans = [
      { timeline: 1, begin: 0n },
      { timeline: 2, begin: parseLsn('0/5000060') },
    ];
    expect(timelineOfSegment(spans, 4n, BigInt(SEG))).toBe(1);
    // the segment holding the switch point is read from the new timeline
    expect(timelineOfSegment(spans, 5n, BigInt(SEG))).toBe(2);
    expect(timelineOfSegment(spans, 6n, BigInt(SEG))).toBe(2);
  });

  it('reads the archived history file: a missing one is reported, a damaged one refused', async () => {
    const store = createFsStore({ path: await tempDir(), fsync: false });
    const request = {
      startLsn: parseLsn('0/1000000'),
      endLsn: parseLsn('0/3000000'),
      endTimeline: 2,
      segmentSize: BigInt(SEG),
    };
    const missing = await checkCoverage(unitContext(), store, request);
    expect(missing.missing[0]).toBe('00000002.history');

    await store.put(`${timelineDir(2)}00000002.history`, Buffer.from('1\t0/2000000\tpromoted\n'), {});
    const read = await checkCoverage(unitContext(), store, request);
    expect(read.missing).not.toContain('00000002.history');
    expect(read.timelines).toEqual([1, 2]);

    // A store keeps the first copy of a key: the damaged file goes into a second archive.
    const other = createFsStore({ path: await tempDir(), fsync: false });
    await other.put(`${timelineDir(2)}00000002.history`, Buffer.from('not a history file\n'), {});
    const damaged = checkCoverage(unitContext(), other, request);
    await expect(damaged).rejects.toBeInstanceOf(ArchiveError);
    await expect(damaged).rejects.toThrow(/00000002\.history in the archive is not a timeline history file/);
  });
});
