import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupTablespace } from '../../../src/backup/layout.js';
import {
  checkTablespaceTargets,
  formatTablespaceMap,
  parseTablespaceMap,
  parseTablespaceMapping,
  removeRestoredTablespaces,
  tablespaceMappingArgs,
  tablespaceTargets,
} from '../../../src/backup/tablespaces.js';
import { UsageError } from '../../../src/errors.js';

const ts = (oid: number, location: string): BackupTablespace => ({
  oid,
  name: `ts${oid}`,
  location,
  part: `${oid}.tar`,
  rawBytes: 100,
  storedBytes: 50,
  files: 1,
  parts: [],
});

describe('tablespace mapping and targets', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgf-ts-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses OLD=NEW pairs, \\= inside a path, and refuses bad ones', () => {
    const m = parseTablespaceMapping(['/srv/ts1=/srv/new/ts1', '/srv/a\\=b=/srv/c']);
    expect([...m]).toEqual([
      ['/srv/ts1', '/srv/new/ts1'],
      ['/srv/a=b', '/srv/c'],
    ]);
    expect(tablespaceMappingArgs(m)).toEqual([
      '--tablespace-mapping=/srv/ts1=/srv/new/ts1',
      '--tablespace-mapping=/srv/a\\=b=/srv/c',
    ]);
    expect(() => parseTablespaceMapping(['/srv/ts1'])).toThrow(UsageError);
    expect(() => parseTablespaceMapping(['srv/ts1=/x'])).toThrow(/absolute/);
    expect(() => parseTablespaceMapping(['/a=/b', '/a=/c'])).toThrow(/twice/);
    expect([...parseTablespaceMapping(undefined)]).toEqual([]);
  });

  it('maps each tablespace, defaults to its location, and refuses a mapping that names none', () => {
    const backup = { id: 'B', tablespaces: [ts(16385, '/srv/ts1'), ts(16386, '/srv/ts2')] };
    const targets = tablespaceTargets(backup, parseTablespaceMapping(['/srv/ts1=/srv/x']));
    expect(targets.map((t) => [t.tablespace.oid, t.target])).toEqual([
      [16385, '/srv/x'],
      [16386, '/srv/ts2'],
    ]);
    expect(() => tablespaceTargets(backup, parseTablespaceMapping(['/srv/typo=/srv/x']))).toThrow(
      /has no tablespace at \/srv\/typo/,
    );
    // A backup from before tablespace support has none.
    expect(tablespaceTargets({ id: 'old' }, new Map())).toEqual([]);
  });

  it('accepts absent or empty targets only, naming the occupied one', async () => {
    const empty = join(dir, 'empty');
    const full = join(dir, 'full');
    await mkdir(empty);
    await mkdir(full);
    await writeFile(join(full, 'x'), 'x');
    const backup = {
      id: 'B',
      tablespaces: [ts(1, '/a'), ts(2, '/b'), ts(3, '/c')],
    };
    const mapping = parseTablespaceMapping([`/a=${join(dir, 'absent')}`, `/b=${empty}`, `/c=${full}`]);
    const checks = checkTablespaceTargets(tablespaceTargets(backup, mapping), join(dir, 'data'));
    expect(checks.map((c) => c.ok)).toEqual([true, true, false]);
    expect(checks[2]?.detail).toContain(`${full} is not empty (mapped from /c)`);
    expect(checks[2]?.detail).toContain('--tablespace-mapping /c=NEW_DIRECTORY');
    const same = parseTablespaceMapping([`/a=${empty}`, `/b=${empty}`]);
    const clash = checkTablespaceTargets(
      tablespaceTargets({ id: 'B', tablespaces: [ts(1, '/a'), ts(2, '/b')] }, same),
      '/d',
    );
    expect(clash.every((c) => !c.ok && c.detail.includes('another tablespace'))).toBe(true);
    const inside = checkTablespaceTargets(
      tablespaceTargets(
        { id: 'B', tablespaces: [ts(1, '/a')] },
        parseTablespaceMapping([`/a=${dir}/data/ts`]),
      ),
      join(dir, 'data'),
    );
    expect(inside[0]?.detail).toContain('is inside the data directory');
  });

  it('undoes a failed restore: removes a created target, empties one that was empty', async () => {
    const created = join(dir, 'created');
    const empty = join(dir, 'was-empty');
    await mkdir(empty);
    const targets = tablespaceTargets(
      { id: 'B', tablespaces: [ts(1, '/a'), ts(2, '/b')] },
      parseTablespaceMapping([`/a=${created}`, `/b=${empty}`]),
    );
    await mkdir(join(created, 'PG_15_x'), { recursive: true });
    await writeFile(join(empty, 'restored'), 'x');
    await removeRestoredTablespaces(targets);
    expect(await readdir(dir)).toEqual(['was-empty']);
    expect(await readdir(empty)).toEqual([]);
  });

  it("writes and reads tablespace_map with PostgreSQL's escapes", () => {
    const text = formatTablespaceMap([
      { oid: 16385, location: '/srv/ts1' },
      { oid: 16386, location: '/srv/odd\\dir\nname' },
    ]);
    expect(text).toBe('16385 /srv/ts1\n16386 /srv/odd\\\\dir\\\nname\n');
    expect([...parseTablespaceMap(text)]).toEqual([
      [16385, '/srv/ts1'],
      [16386, '/srv/odd\\dir\nname'],
    ]);
  });
});
