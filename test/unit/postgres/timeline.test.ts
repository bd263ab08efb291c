import { describe, expect, it } from 'vitest';
import { compareTimelines, describeVerdict, parseTimelineHistory } from '../../../src/postgres/timeline.js';
import { parseLsn } from '../../../src/postgres/lsn.js';

const history2 = parseTimelineHistory('1\t0/403A478\tno recovery target specified\n');
const history3 = parseTimelineHistory(
  '# comment\n1\t0/403A478\tno recovery target specified\n2\t0/5000000\tno recovery target specified\n',
);

describe('timeline history', () => {
  it('parses the .history format, skipping comments', () => {
    expect(history3).toEqual([
      { timeline: 1, switchLsn: parseLsn('0/403A478'), reason: 'no recovery target specified' },
      { timeline: 2, switchLsn: parseLsn('0/5000000'), reason: 'no recovery target specified' },
    ]);
    expect(() => parseTimelineHistory('garbage line')).toThrow(/not a timeline history line/);
  });

  it('can follow when not past the fork point, including exactly at it', () => {
    const before = compareTimelines(1, parseLsn('0/4000000'), 2, history2);
    expect(before).toMatchObject({ kind: 'can-follow', marginBytes: 0x3a478n });
    const at = compareTimelines(1, parseLsn('0/403A478'), 2, history2);
    expect(at).toMatchObject({ kind: 'can-follow', marginBytes: 0n });
  });

  it('reports divergence with the bytes past the fork point', () => {
    const verdict = compareTimelines(1, parseLsn('0/4041BE8'), 2, history2);
    expect(verdict).toMatchObject({ kind: 'diverged', forkLsn: parseLsn('0/403A478'), pastBytes: 0x7770n });
    expect(describeVerdict(verdict)).toBe(
      "leader's timeline 2 forked from timeline 1 at 0/403A478; this node has 30576 bytes of WAL past that point",
    );
  });

  it('uses the switch point of our own timeline in a longer history', () => {
    expect(compareTimelines(2, parseLsn('0/4FFFFFF'), 3, history3).kind).toBe('can-follow');
    expect(compareTimelines(2, parseLsn('0/5000001'), 3, history3).kind).toBe('diverged');
  });

  it('same timeline is always fine; newer or foreign timelines are unrelated', () => {
    expect(compareTimelines(2, parseLsn('9/0'), 2, history2).kind).toBe('same-timeline');
    expect(compareTimelines(3, 0n, 2, history2)).toMatchObject({ kind: 'unrelated' });
    // Timeline 2 of some other promotion is not in timeline 3's history.
    expect(compareTimelines(4, 0n, 5, history3)).toMatchObject({ kind: 'unrelated' });
  });
});
