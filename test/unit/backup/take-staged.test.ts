import { describe, expect, it } from 'vitest';
import { completeTars, type SeenTar } from '../../../src/backup/take-staged.js';

const seen = (entries: Record<string, [number, bigint]>): Map<string, SeenTar> =>
  new Map(Object.entries(entries).map(([name, [firstPoll, mtimeNs]]) => [name, { firstPoll, mtimeNs }]));

describe('completeTars: which tars pg_basebackup has finished while it runs', () => {
  it('none while one tar is being written', () => {
    expect(completeTars(seen({ '16385.tar': [0, 100n] }))).toEqual([]);
  });

  it('a tar is complete once a later one appears (later poll) or is written later (mtime)', () => {
    expect(completeTars(seen({ '16385.tar': [0, 100n], 'base.tar': [1, 100n] }))).toEqual(['16385.tar']);
    // Both seen by the same poll: the one written last is the open one.
    expect(completeTars(seen({ '16385.tar': [2, 100n], 'base.tar': [2, 250n] }))).toEqual(['16385.tar']);
    expect(
      completeTars(seen({ '16385.tar': [2, 100n], '16386.tar': [2, 200n], 'base.tar': [2, 300n] })),
    ).toEqual(['16385.tar', '16386.tar']);
  });

  it('equal times in the same poll prove nothing: wait for a later look or the exit', () => {
    expect(completeTars(seen({ '16385.tar': [2, 100n], 'base.tar': [2, 100n] }))).toEqual([]);
  });
});
