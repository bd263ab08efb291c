import { describe, expect, it } from 'vitest';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { createArchiveProbe } from '../../../../src/archive/follower/probe.js';
import { systemClock } from '../../../../src/context.js';
import { tempDir } from '../fixtures.js';

describe('archive probe', () => {
  it('names the first missing segment from the one replay needs', async () => {
    const root = await tempDir();
    const store = createFsStore({ path: root, fsync: false });
    for (const n of ['01', '02', '04', '05']) {
      await store.put(`wal/00000001/0000000100000000000000${n}.lz4`, Buffer.from('x'), {});
    }
    const probe = createArchiveProbe(store, { clock: systemClock });
    const snapshot = {
      takenAt: 0,
      node: 'n',
      local: { ok: false as const, error: '-' },
      leader: { ok: false as const, error: '-' },
      lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
    };
    const signal = new AbortController().signal;
    const gap = await probe({ ...snapshot, neededSegment: '000000010000000000000002' }, signal);
    expect(gap).toMatchObject({
      newestSegment: '000000010000000000000005',
      missingSegment: '000000010000000000000003',
    });
    const ahead = await probe({ ...snapshot, neededSegment: '000000010000000000000004' }, signal);
    expect(ahead.missingSegment).toBe('000000010000000000000006');
  });
});
