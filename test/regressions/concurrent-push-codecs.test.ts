import { execFile } from 'node:child_process';
import { chown, copyFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { decode, codecOfKey } from '../../src/archive/store/codec.js';
import { sha256 } from '../../src/archive/store/verify.js';
import { makeTempDir, pgTools, writeConfigFile } from '../helpers/cluster.js';
import { cliPath, createFsArchivingLeader, requireBuiltCli, switchAndArchive } from '../helpers/archive.js';

/**
 * Issue 15, defect 4: two leaders pushing the same segment name at the same moment, one uncompressed
 * and one lz4, both exited 0 and the archive held `...06` and `...06.lz4` with different content.
 * Now a conditional create of the name's claim decides: exactly one wins, the other is refused, and
 * the archive holds one object for the name. Same bytes under different codecs both succeed.
 */
const run = promisify(execFile);

async function push(configFile: string, path: string): Promise<number> {
  try {
    await run(process.execPath, [cliPath, '--config', configFile, '--log-level', 'error', 'wal-push', path]);
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('concurrent wal-push of one name with different codecs', () => {
  beforeAll(requireBuiltCli);

  it('exactly one of two different contents wins; identical contents both succeed', async () => {
    const a = await createFsArchivingLeader();
    const b = await createFsArchivingLeader();
    let name: string;
    try {
      const lastA = await switchAndArchive(a.leader, 2);
      const lastB = await switchAndArchive(b.leader, 2);
      name = lastA < lastB ? lastA : lastB;
    } finally {
      await a.leader.stop();
      await b.leader.stop();
    }
    const tli = name.slice(0, 8);
    const dir = await makeTempDir('pgf-race-');
    const fileA = join(dir, 'a', name);
    const fileB = join(dir, 'b', name);
    const { mkdir } = await import('node:fs/promises');
    // Finished segments, as archive_command sees them: a .ready status beside each (defect 7).
    for (const side of ['a', 'b']) {
      await mkdir(join(dir, side, 'archive_status'), { recursive: true });
      await writeFile(join(dir, side, 'archive_status', `${name}.ready`), '');
    }
    await copyFile(join(a.archiveDir, 'wal', tli, name), fileA);
    await copyFile(join(b.archiveDir, 'wal', tli, name), fileB);
    const digests = new Map([
      [sha256(await readFile(fileA)), 'a'],
      [sha256(await readFile(fileB)), 'b'],
    ]);
    expect(digests.size).toBe(2);

    for (let round = 0; round < 3; round++) {
      const archive = join(dir, `archive-${round}`);
      const config = async (compression: string): Promise<string> => {
        const file = await writeConfigFile(dir, {
          archive: { type: 'fs', fs: { path: archive, fsync: false }, compression, prefetch: 0 },
        });
        const tools = await pgTools();
        if (tools.exec.runAs) await chown(file, tools.exec.runAs.uid, tools.exec.runAs.gid);
        return file;
      };
      const [plain, lz4] = [await config('none'), await config('lz4')];
      // Different contents at once: exactly one exit 0.
      const codes = await Promise.all([push(plain, fileA), push(lz4, fileB)]);
      expect(
        codes.filter((c) => c === 0),
        `round ${round}: ${codes.join(',')}`,
      ).toHaveLength(1);
      expect(codes.filter((c) => c !== 0)).toEqual([1]);
      const objects = (await readdir(join(archive, 'wal', tli))).filter((n) => n.startsWith(name));
      expect(objects, `round ${round}`).toHaveLength(1);
      const key = objects[0] as string;
      const stored = await decode(codecOfKey(key), await readFile(join(archive, 'wal', tli, key)));
      expect(digests.get(sha256(stored))).toBe(codes[0] === 0 ? 'a' : 'b');

      // The same bytes with both codecs at once: both succeed, still one object.
      const again = await Promise.all([
        push(plain, codes[0] === 0 ? fileA : fileB),
        push(lz4, codes[0] === 0 ? fileA : fileB),
      ]);
      expect(again).toEqual([0, 0]);
      expect((await readdir(join(archive, 'wal', tli))).filter((n) => n.startsWith(name))).toHaveLength(1);
    }
  }, 300_000);
});
