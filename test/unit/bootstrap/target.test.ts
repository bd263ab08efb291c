import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearTarget } from '../../../src/bootstrap/target.js';
import type { PgTools } from '../../../src/postgres/cluster.js';
import { makeTempDir } from '../../helpers/cluster.js';
import { unitContext } from '../../helpers/context.js';

// Directories without PG_VERSION: no server can run on them, so no PostgreSQL program is needed.
const at = Date.UTC(2026, 11, 2, 4, 5, 6);
const ctx = { ...unitContext(), clock: { now: () => at } };
const tools = { exec: ctx.exec, bin: ctx.bin, signal: ctx.signal } as PgTools;

describe('clearTarget: room for a new copy, nothing deleted that was not ours', () => {
  it('moves a directory with something in it aside, named by the clock, and returns where', async () => {
    const root = await makeTempDir('pgf-target-');
    const data = join(root, 'data');
    await mkdir(data);
    await writeFile(join(data, 'keep.txt'), 'operator file');
    const aside = await clearTarget(ctx, tools, data, 'other');
    expect(aside).toBe(`${data}.old-20261202T040506Z`);
    expect(existsSync(data)).toBe(false);
    expect(await readFile(join(aside as string, 'keep.txt'), 'utf8')).toBe('operator file');
  });

  it('removes an empty directory (a mount point) and moves nothing', async () => {
    const root = await makeTempDir('pgf-target-');
    const data = join(root, 'data');
    await mkdir(data);
    expect(await clearTarget(ctx, tools, data, 'empty')).toBeUndefined();
    expect(existsSync(data)).toBe(false);
    expect(await readdir(root)).toEqual([]);
  });

  it('removes copies an interrupted bootstrap left, but keeps directories moved aside before', async () => {
    const root = await makeTempDir('pgf-target-');
    const data = join(root, 'data');
    const incomplete = `${data}.incomplete-20261201T000000Z`;
    const old = `${data}.old-20261130T000000Z`;
    for (const d of [incomplete, old]) {
      await mkdir(d);
      await writeFile(join(d, 'f'), 'x');
    }
    expect(await clearTarget(ctx, tools, data, 'absent')).toBeUndefined();
    expect(existsSync(incomplete)).toBe(false);
    expect(existsSync(old)).toBe(true);
  });
});
