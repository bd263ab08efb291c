import { describe, expect, it } from 'vitest';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { createArchiveProbe } from '../../../../src/archive/follower/probe.js';
import { systemClock } from '../../../../src/context.js';
import { tempDir } from '../fixtures.js';
import { leaderSample, localSample } from '../../monitor/fixtures.js';
import type { ArchiveStore } from '../../../../src/archive/store/store.js';

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

  describe('lists only when the archive can have news', () => {
    async function setup() {
      const root = await tempDir();
      const inner = createFsStore({ path: root, fsync: false });
      let lists = 0;
      const store: ArchiveStore = {
        ...inner,
        list: (prefix, options) => {
          lists++;
          return inner.list(prefix, options);
        },
      };
      for (const n of ['01', '02', '03'])
        await inner.put(`wal/00000001/0000000100000000000000${n}`, Buffer.from('x'), {});
      let now = 1_000_000;
      const probe = createArchiveProbe(store, { clock: { now: () => now }, quietListMs: 60_000 });
      const signal = new AbortController().signal;
      const ask = (lastArchivedWal: string | null, streaming = true) =>
        probe(
          {
            takenAt: now,
            node: 'n',
            local: {
              ok: true,
              value: localSample(streaming ? {} : { walReceiver: null }),
            },
            leader: {
              ok: true,
              value: leaderSample({
                archiver: {
                  archivedCount: 3,
                  failedCount: 0,
                  lastArchivedWal,
                  lastArchivedTime: null,
                  lastFailedWal: null,
                  lastFailedTime: null,
                },
              }),
            },
            lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
            neededSegment: '000000010000000000000003',
          },
          signal,
        );
      return { inner, ask, lists: () => lists, advance: (ms: number) => (now += ms) };
    }

    it('streaming, and the leader archived nothing the listing lacks: no listing', async () => {
      const t = await setup();
      await t.ask('000000010000000000000003');
      expect(t.lists()).toBe(1);
      const again = await t.ask('000000010000000000000003');
      expect(t.lists()).toBe(1);
      expect(again).toMatchObject({
        newestSegment: '000000010000000000000003',
        missingSegment: '000000010000000000000004',
      });
      // After quietListMs it lists anyway (an archive written by someone else, a removed object).
      t.advance(60_000);
      await t.ask('000000010000000000000003');
      expect(t.lists()).toBe(2);
    });

    it('lists when the leader archived a segment the listing has not seen', async () => {
      const t = await setup();
      await t.ask('000000010000000000000003');
      await t.inner.put('wal/00000001/000000010000000000000004', Buffer.from('x'), {});
      const sample = await t.ask('000000010000000000000004');
      expect(t.lists()).toBe(2);
      expect(sample.newestSegment).toBe('000000010000000000000004');
    });

    it('lists every tick when not streaming, or when the leader archived a history file last', async () => {
      const t = await setup();
      await t.ask('000000010000000000000003', false);
      await t.ask('000000010000000000000003', false);
      expect(t.lists()).toBe(2);
      await t.ask('00000002.history');
      expect(t.lists()).toBe(3);
    });
  });
});
