import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createMemoryOutput } from '../../src/cli/output.js';
import { makeTempDir, writeConfigFile } from '../helpers/cluster.js';
import { createFsArchivingLeader, requireBuiltCli, switchAndArchive } from '../helpers/archive.js';

/**
 * Issue 15, defect 5: flipped bytes in an uncompressed fs segment and a segment from another cluster
 * were restored with exit 0, and PostgreSQL then stopped at "incorrect resource manager data
 * checksum" / "WAL file is from different database system". Every object now has a SHA-256 (fs: a
 * sidecar) checked on fetch, and a segment's system identifier must match the local pg_control.
 */
describe('wal-fetch refuses corrupt and foreign segments', () => {
  beforeAll(requireBuiltCli);

  it('restores a good segment, refuses flipped bytes and a foreign cluster with exit 1', async () => {
    const a = await createFsArchivingLeader();
    const b = await createFsArchivingLeader();
    try {
      const lastA = await switchAndArchive(a.leader, 2);
      const lastB = await switchAndArchive(b.leader, 2);
      // The same name archived by both clusters.
      const name = lastA < lastB ? lastA : lastB;
      const tli = name.slice(0, 8);
      const objectA = join(a.archiveDir, 'wal', tli, name);
      const objectB = join(b.archiveDir, 'wal', tli, name);
      // Every fs object has its SHA-256 kept beside it.
      const meta = JSON.parse(
        await readFile(join(a.archiveDir, 'wal', tli, `.${name}.meta`), 'utf8'),
      ) as Record<string, string>;
      expect(meta.sha256).toMatch(/^[0-9a-f]{64}$/);

      const dir = await makeTempDir('pgf-fetch-');
      const configFile = await writeConfigFile(dir, {
        node: { dataDirectory: a.leader.dataDirectory },
        archive: { type: 'fs', fs: { path: a.archiveDir }, prefetch: 0 },
        log: { level: 'warn' },
      });
      const fetch = async (dest: string): Promise<{ code: number; text: string }> => {
        const output = createMemoryOutput();
        const code = await main(['--config', configFile, 'wal-fetch', name, dest], { output, env: {} });
        return { code, text: output.text() };
      };

      const good = await fetch(join(dir, 'good'));
      expect(good.code).toBe(0);
      expect((await stat(join(dir, 'good'))).size).toBe((await stat(objectA)).size);

      // Flip bytes in the middle of the segment (past the header, which stays plausible).
      const original = await readFile(objectA);
      const flipped = Buffer.from(original);
      for (let i = 0; i < 16; i++) flipped[100_000 + i] = (flipped[100_000 + i] ?? 0) ^ 0x5a;
      await rm(objectA);
      await writeFile(objectA, flipped);
      const corrupt = await fetch(join(dir, 'corrupt'));
      expect(corrupt.code).toBe(1);
      expect(corrupt.text).toMatch(/corrupt: SHA-256/);
      await expect(stat(join(dir, 'corrupt'))).rejects.toThrow();

      // A segment of the other cluster under the same name (with or without its own sidecar).
      await rm(objectA);
      await rm(join(a.archiveDir, 'wal', tli, `.${name}.meta`));
      await copyFile(objectB, objectA);
      const foreign = await fetch(join(dir, 'foreign'));
      expect(foreign.code).toBe(1);
      expect(foreign.text).toMatch(/different database system/);
      await expect(stat(join(dir, 'foreign'))).rejects.toThrow();
      await copyFile(
        join(b.archiveDir, 'wal', tli, `.${name}.meta`),
        join(a.archiveDir, 'wal', tli, `.${name}.meta`),
      );
      const foreignWithMeta = await fetch(join(dir, 'foreign2'));
      expect(foreignWithMeta.code).toBe(1);
      expect(foreignWithMeta.text).toMatch(/different database system/);
    } finally {
      await a.leader.stop();
      await b.leader.stop();
    }
  });
});
