import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listArchive, newestSegment } from '../../../../src/archive/follower/listing.js';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { objectKey, parseWalFile } from '../../../../src/archive/store/layout.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function archiveHolding(names: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-listing-'));
  dirs.push(dir);
  const store = createFsStore({ path: dir, fsync: false });
  for (const name of names) {
    const file = parseWalFile(name);
    if (!file) throw new Error(`not a WAL file name: ${name}`);
    await store.put(objectKey(file, 'none'), Buffer.from(name), {});
  }
  return store;
}

describe('archive listing', () => {
  it('finds the newest archived segment number', () => {
    const MiB = 1024n * 1024n;
    expect(newestSegment([], 16n * MiB)).toBeNull();
    const names = ['000000010000000000000003', '000000010000000100000000', '000000010000000000000009'];
    expect(newestSegment(names, 16n * MiB)).toBe(256n);
    // Issue 14 defect 9: 64 segments per log id with 64 MiB segments, 4096 with 1 MiB ones.
    expect(newestSegment(names, 64n * MiB)).toBe(64n);
    expect(newestSegment(names, MiB)).toBe(4096n);
  });

  it("lists the segments of one timeline and notices a newer timeline's history file", async () => {
    const store = await archiveHolding([
      '000000010000000000000001',
      '000000010000000000000002',
      '000000020000000000000002',
      '00000002.history',
    ]);
    try {
      const signal = new AbortController().signal;
      const one = await listArchive(store, 1, signal);
      expect(one.segments.sort()).toEqual(['000000010000000000000001', '000000010000000000000002']);
      expect(one.newerTimelines).toEqual([2]);
      const two = await listArchive(store, 2, signal);
      expect(two.segments).toEqual(['000000020000000000000002']);
      expect(two.newerTimelines).toEqual([]);
    } finally {
      store.close();
    }
  });
});
