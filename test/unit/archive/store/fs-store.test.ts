import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
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

  it('delete removes the metadata sidecar too, so an emptied backup folder goes and is no longer listed', async () => {
    const root = await tempDir();
    const store = createFsStore({ path: root, fsync: false });
    const keys = ['basebackups/20261202T000000Z/base.tar.00000', 'basebackups/20261202T000000Z/backup.json'];
    for (const key of keys) await store.put(key, Buffer.from(key), { sha256: 'x' });
    await store.put('basebackups/20261203T000000Z/backup.json', Buffer.from('{}'), { sha256: 'y' });
    expect(await readdir(join(root, 'basebackups', '20261202T000000Z'))).toHaveLength(4);
    for (const key of keys) expect(await store.delete(key)).toBe(true);
    expect(await readdir(join(root, 'basebackups'))).toEqual(['20261203T000000Z']);
    expect((await store.list('basebackups/')).map((o) => o.key)).toEqual(['basebackups/20261203T000000Z']);
    expect(await store.delete(keys[0] as string)).toBe(false);
  });

  it('delete of an object already gone still removes a sidecar left by an interrupted delete', async () => {
    const root = await tempDir();
    const store = createFsStore({ path: root, fsync: false });
    await store.put('wal/00000001/000000010000000000000001', Buffer.from('seg'), { sha256: 'z' });
    await unlink(join(root, 'wal', '00000001', '000000010000000000000001'));
    expect(await store.delete('wal/00000001/000000010000000000000001')).toBe(false);
    expect(existsSync(join(root, 'wal', '00000001'))).toBe(false);
  });
});
