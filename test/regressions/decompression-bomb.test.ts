import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { compressFrame } from 'lz4-napi';
import { beforeAll, describe, expect, it } from 'vitest';
import { readVerified } from '../../src/archive/follower/fetch.js';
import { parseWalFile } from '../../src/archive/store/layout.js';
import { createFsStore } from '../../src/archive/store/fs-store.js';
import { readLocalSegmentSize } from '../../src/postgres/control-file.js';
import { createLeader, makeTempDir, writeConfigFile } from '../helpers/cluster.js';
import { cliPath, requireBuiltCli } from '../helpers/archive.js';

/**
 * Issue 15, defect 6: a 1 MB gzip object drove wal-fetch to 2.2 GB RSS. Decompression is capped at
 * the segment size (read from the local pg_wal, never assumed) in wal-fetch and in the prefetcher's
 * read path.
 */
const name = '000000010000000000000002';

async function gzipOfZeros(bytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => gzip.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < bytes; written += zeros.length) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await done;
  return Buffer.concat(chunks);
}

describe('decompression of archived objects is bounded by the segment size', () => {
  beforeAll(requireBuiltCli);

  it('wal-fetch refuses a 1 MB gzip bomb with exit 1 and small memory', async () => {
    // A real (not started) cluster: its pg_wal says how large a segment is.
    const leader = await createLeader({ start: false });
    const segmentSize = await readLocalSegmentSize(leader.dataDirectory);
    expect(segmentSize).toBe(16 * 1024 * 1024);
    const dir = await makeTempDir('pgf-bomb-');
    const archive = join(dir, 'archive');
    await mkdir(join(archive, 'wal', '00000001'), { recursive: true });
    const bomb = await gzipOfZeros(1024 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(1_100_000);
    await writeFile(join(archive, 'wal', '00000001', `${name}.gz`), bomb);
    const configFile = await writeConfigFile(dir, {
      node: { dataDirectory: leader.dataDirectory },
      archive: { type: 'fs', fs: { path: archive }, prefetch: 0 },
    });
    const result = await promisify(execFile)(
      '/usr/bin/time',
      [
        '-f',
        'maxrss=%M',
        process.execPath,
        cliPath,
        '--config',
        configFile,
        'wal-fetch',
        name,
        join(dir, 'out'),
      ],
      { cwd: dir },
    ).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/more than a WAL segment/);
    const maxRssKb = Number(/maxrss=(\d+)/.exec(result.stderr)?.[1]);
    expect(maxRssKb).toBeGreaterThan(0);
    expect(maxRssKb).toBeLessThan(400 * 1024);
  });

  it('an lz4 frame that would exceed the segment is refused before decompression (prefetcher read path)', async () => {
    const leader = await createLeader({ start: false });
    const segmentSize = await readLocalSegmentSize(leader.dataDirectory);
    const dir = await makeTempDir('pgf-bomb-');
    await mkdir(join(dir, 'wal', '00000001'), { recursive: true });
    await writeFile(
      join(dir, 'wal', '00000001', `${name}.lz4`),
      await compressFrame(Buffer.alloc(64 * 1024 * 1024), { contentChecksum: true }),
    );
    const store = createFsStore({ path: dir, fsync: false });
    const file = parseWalFile(name);
    if (!file) throw new Error('bad name');
    const before = process.memoryUsage().rss;
    await expect(readVerified(store, file, undefined, { segmentSize })).rejects.toThrow(
      /more than a WAL segment/,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
  });
});
