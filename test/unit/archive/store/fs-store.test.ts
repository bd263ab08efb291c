import { describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { tempDir } from '../fixtures.js';

describe('fs store', () => {
  it('never overwrites and leaves no temp files', async () => {
    const root = await tempDir();
    const store = createFsStore({ path: root, fsync: false });
    expect(await store.put('wal/00000001/a', Buffer.from('one'), {})).toBe('created');
    expect(await store.put('wal/00000001/a', Buffer.from('two'), {})).toBe('exists');
    expect((await store.get('wal/00000001/a'))?.body.toString()).toBe('one');
    expect(await store.get('wal/00000001/missing')).toBeUndefined();
    expect((await store.list('wal/')).map((o) => o.key)).toEqual(['wal/00000001/a']);
    expect(await readdir(join(root, 'wal', '00000001'))).toEqual(['a']);
  });
});
