import { mkdirSync, mkdtempSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  inspectDirectory,
  listAside,
  moveAside,
  removeAside,
  restoreAside,
} from '../../../src/postgres/data-directory.js';
import type { PgTools } from '../../../src/postgres/cluster.js';
import { createExec } from '../../../src/exec/run.js';

// No server runs in these directories: pg_ctl status is replaced by a fake that says "stopped".
const tools: PgTools = {
  exec: { ...createExec(), tryRun: async () => ({ stdout: '', stderr: '', exitCode: 3 }) },
  bin: { binDir: '/x', major: 15, path: (p) => `/x/${p}` },
};

function fixture(): { root: string; data: string } {
  const root = mkdtempSync(join(tmpdir(), 'pgf-dd-'));
  const data = join(root, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'PG_VERSION'), '15\n');
  return { root, data };
}

describe('the guarded door for data directories', () => {
  it('classifies directories', () => {
    const { root, data } = fixture();
    expect(inspectDirectory(data)).toBe('data-directory');
    expect(inspectDirectory(join(root, 'nope'))).toBe('absent');
    mkdirSync(join(root, 'empty'));
    expect(inspectDirectory(join(root, 'empty'))).toBe('empty');
  });

  it('moves the configured directory aside and back, and deletes only what it moved aside', async () => {
    const { root, data } = fixture();
    const aside = await moveAside(tools, data, { configured: data });
    expect(aside).toMatch(/data\.old-\d{8}T\d{6}Z$/);
    expect(existsSync(data)).toBe(false);
    expect(listAside(data)).toEqual([aside]);
    await restoreAside(tools, aside, { configured: data });
    expect(readdirSync(data)).toEqual(['PG_VERSION']);
    const again = await moveAside(tools, data, { configured: data, kind: 'failed' });
    await removeAside(again, { configured: data });
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses any path that is not the configured directory or one of its moved-aside copies', async () => {
    const { root, data } = fixture();
    const other = join(root, 'other');
    mkdirSync(other);
    await expect(moveAside(tools, other, { configured: data })).rejects.toThrow(
      /not the configured data directory/,
    );
    await expect(removeAside(data, { configured: data })).rejects.toThrow(/not a moved-aside copy/);
    await expect(removeAside(other, { configured: data })).rejects.toThrow(/not a moved-aside copy/);
    await expect(removeAside('/', { configured: data })).rejects.toThrow(/not a moved-aside copy/);
    expect(existsSync(data)).toBe(true);
  });

  it('refuses to move a directory whose server runs', async () => {
    const { data } = fixture();
    const running: PgTools = {
      ...tools,
      exec: { ...tools.exec, tryRun: async () => ({ stdout: '', stderr: '', exitCode: 0 }) },
    };
    await expect(moveAside(running, data, { configured: data })).rejects.toThrow(/server is running/);
    expect(existsSync(data)).toBe(true);
  });
});
