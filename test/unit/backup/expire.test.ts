import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsStore } from '../../../src/archive/store/fs-store.js';
import { executeExpire, planExpire } from '../../../src/backup/expire.js';
import { descriptorKey, partKey } from '../../../src/backup/layout.js';
import { listBackups, listLeftoverFolders } from '../../../src/backup/list.js';
import { type Context } from '../../../src/context.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { unitContext } from '../../helpers/context.js';

const meta = { sha256: 'x', size: '4', codec: 'none' };

describe('backup expire and leftover .meta-only folders (fs store)', () => {
  let dir: string;
  let ctx: Context;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgf-expire-unit-'));
    ctx = unitContext({ archive: { type: 'fs', fs: { path: dir, fsync: false } }, backup: { keep: 1 } });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('does not list a folder of sidecars as a backup; the dry run names it, the real run removes it', async () => {
    const store = createFsStore({ path: dir, fsync: false });
    // A leftover: old code deleted the parts (and backup.json) but not their .meta sidecars.
    const old = '20261101T000000Z';
    const oldKeys = [partKey(old, 0, 'none'), partKey(old, 1, 'none'), descriptorKey(old)];
    for (const key of oldKeys) await store.put(key, Buffer.from('data'), meta);
    for (const key of oldKeys) await unlink(join(dir, key));
    expect((await readdir(join(dir, 'basebackups', old))).sort()).toEqual([
      '.backup.json.meta',
      '.base.tar.00000.meta',
      '.base.tar.00001.meta',
    ]);
    // A complete backup, kept.
    const kept = '20261201T000000Z';
    await store.put(partKey(kept, 0, 'none'), Buffer.from('data'), meta);
    const descriptor = {
      id: kept,
      timeline: 1,
      startLsn: '0/3000028',
      walSegmentSize: 16 * 1024 * 1024,
      systemIdentifier: '1',
      finishedAt: '2026-12-01T00:01:00.000Z',
    };
    await store.put(descriptorKey(kept), Buffer.from(JSON.stringify(descriptor)), {});
    // A backup being started: only its writer's temp file so far. Not a leftover.
    const starting = '20261202T000000Z';
    await mkdir(join(dir, 'basebackups', starting));
    await writeFile(join(dir, 'basebackups', starting, '.tmp.123.abc'), 'partial');

    expect((await listBackups(store)).map((b) => [b.id, b.complete])).toEqual([
      [kept, true],
      [starting, false],
    ]);
    expect(await listLeftoverFolders(store)).toEqual([
      { id: old, keys: [descriptorKey(old), partKey(old, 0, 'none'), partKey(old, 1, 'none')] },
    ]);

    const plan = await planExpire(ctx, store);
    expect(plan.kept).toEqual([kept]);
    expect(plan.removeBackups).toEqual([]);
    expect(plan.removeLeftovers.map((f) => [f.id, f.keys.length])).toEqual([[old, 3]]);
    // A dry run is the plan alone: the folder is still there.
    expect(existsSync(join(dir, 'basebackups', old))).toBe(true);

    const result = await executeExpire(ctx, store, plan);
    expect(result).toEqual({ removedBackups: [], removedWal: 0, removedLeftovers: [old] });
    expect((await readdir(join(dir, 'basebackups'))).sort()).toEqual([kept, starting]);
    expect(await listLeftoverFolders(store)).toEqual([]);
    expect(existsSync(join(dir, 'basebackups', kept, 'base.tar.00000'))).toBe(true);
    expect(existsSync(join(dir, 'basebackups', starting, '.tmp.123.abc'))).toBe(true);
  });

  it('removes leftovers even when no complete backup exists (they are never backups)', async () => {
    const store = createFsStore({ path: dir, fsync: false });
    const old = '20261101T000000Z';
    await store.put(partKey(old, 0, 'none'), Buffer.from('data'), meta);
    await unlink(join(dir, partKey(old, 0, 'none')));
    const plan = await planExpire(ctx, store);
    expect(plan.note).toMatch(/no complete backup/);
    expect(plan.removeLeftovers.map((f) => f.id)).toEqual([old]);
    await executeExpire(ctx, store, plan);
    expect(existsSync(join(dir, 'basebackups'))).toBe(false);
  });

  it('through the CLI: backup list does not show it, expire --dry-run names it, expire removes it', async () => {
    const store = createFsStore({ path: dir, fsync: false });
    const old = '20261101T000000Z';
    await store.put(partKey(old, 0, 'none'), Buffer.from('data'), meta);
    await unlink(join(dir, partKey(old, 0, 'none')));
    const file = join(dir, 'pgfollower.yaml');
    await writeFile(file, `log:\n  level: warn\narchive:\n  type: fs\n  fs:\n    path: ${dir}\n`, {
      mode: 0o600,
    });
    const run = async (...args: string[]): Promise<string> => {
      const output = createMemoryOutput();
      expect(await main(['--config', file, ...args], { output }), output.text()).toBe(0);
      return output.text();
    };
    expect(await run('backup', 'list')).toContain('no backups in');
    const dry = await run('backup', 'expire', '--dry-run');
    expect(dry).toContain(
      `would remove leftover folder basebackups/${old}/: no backup, only 1 metadata sidecar(s)`,
    );
    expect(existsSync(join(dir, 'basebackups', old))).toBe(true);
    expect(await run('backup', 'expire')).toContain('1 leftover folder(s)');
    expect(existsSync(join(dir, 'basebackups'))).toBe(false);
  });
});
