import { describe, expect, it } from 'vitest';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { createArchiveProbe } from '../../../../src/archive/follower/probe.js';
import { systemClock } from '../../../../src/context.js';
import { tempDir } from '../fixtures.js';
import { localSample } from '../../monitor/fixtures.js';

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
      local: { ok: true as const, value: localSample() },
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

  // Issue 14 defect 9: after ...3F comes ...40 only with 16 MiB segments; with 64 MiB ones it is the
  // next log id (and after ...FFF with 1 MiB ones): a 16 MiB guess reported a gap that was not there.
  it.each([
    [
      64n,
      [
        '00000001000000000000003E',
        '00000001000000000000003F',
        '000000010000000100000000',
        '000000010000000100000001',
      ],
    ],
    [
      1n,
      [
        '000000010000000000000FFE',
        '000000010000000000000FFF',
        '000000010000000100000000',
        '000000010000000100000001',
      ],
    ],
  ])('follows %s MiB segments across a log id', async (mib, names) => {
    const root = await tempDir();
    const store = createFsStore({ path: root, fsync: false });
    for (const n of names) await store.put(`wal/00000001/${n}.lz4`, Buffer.from('x'), {});
    const probe = createArchiveProbe(store, { clock: systemClock });
    const sample = await probe(
      {
        takenAt: 0,
        node: 'n',
        local: { ok: true, value: localSample({ walSegmentSizeBytes: mib * 1024n * 1024n }) },
        leader: { ok: false, error: '-' },
        lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
        neededSegment: names[0] ?? '',
      },
      new AbortController().signal,
    );
    expect(sample).toMatchObject({ newestSegment: names[3], missingSegment: '000000010000000100000002' });
  });
});
