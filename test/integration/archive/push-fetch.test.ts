import { readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readVerified } from '../../../src/archive/follower/fetch.js';
import { listTimeline } from '../../../src/archive/follower/coverage.js';
import { parseWalFile } from '../../../src/archive/store/layout.js';
import { openArchiveStore } from '../../../src/archive/store/open-store.js';
import { pushWal } from '../../../src/archive/leader/push.js';
import type { ArchiveStore } from '../../../src/archive/store/store.js';
import { sha256 } from '../../../src/archive/store/verify.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { makeTempDir } from '../../helpers/cluster.js';
import {
  createArchivingLeader,
  createFsArchivingLeader,
  requireBuiltCli,
  s3ArchiveConfig,
  s3EnvPrefix,
  setS3Env,
  startS3,
  switchAndArchive,
  testContext,
  type TestS3,
} from '../../helpers/archive.js';

/**
 * wal-push and wal-fetch against a real leader whose archive_command is the built CLI (run by
 * PostgreSQL as the postgres OS user), for fs and for S3 (s3rver on loopback).
 */

async function archivedSegments(store: ArchiveStore): Promise<string[]> {
  return [...(await listTimeline(store, 1))].sort();
}

async function cli(args: string[]): Promise<{ code: number; text: string }> {
  const output = createMemoryOutput();
  const code = await main(args, { output, env: {} });
  return { code, text: output.text() };
}

describe('wal-push / wal-fetch with an fs archive', () => {
  beforeAll(requireBuiltCli);

  it('archives via archive_command, re-push identical is ok, different is refused, fetch verifies', async () => {
    const {
      leader,
      leaderConfig: configFile,
      dir,
      archiveDir,
      archive,
    } = await createFsArchivingLeader({ fsync: true, compression: 'lz4', log: { format: 'json' } });
    await switchAndArchive(leader, 4);
    const ctx = await testContext({ archive });
    const store = openArchiveStore(ctx.config);
    const segments = await archivedSegments(store);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const name = segments[segments.length - 1] as string;
    const file = parseWalFile(name);
    if (!file) throw new Error('bad name');
    // keyed by timeline, the codec in the extension
    expect((await readdir(join(archiveDir, 'wal', '00000001'))).filter((n) => n.startsWith(name))).toEqual([
      `${name}.lz4`,
    ]);
    const original = await readVerified(store, file);
    expect(original?.data.length).toBe(16 * 1024 * 1024);
    const raw = original?.data as Buffer;

    // identical re-push: exit 0
    const copy = join(dir, name);
    await writeFile(copy, raw);
    expect((await cli(['--config', configFile, 'wal-push', copy])).code).toBe(0);

    // different content: refused loudly, archive unchanged
    const changed = Buffer.from(raw);
    changed[5000] = (changed[5000] ?? 0) ^ 0xff;
    await writeFile(copy, changed);
    const refused = await cli(['--config', configFile, '--log-format', 'json', 'wal-push', copy]);
    expect(refused.code).toBe(1);
    expect(refused.text).toMatch(/different content/);
    expect(sha256((await readVerified(store, file))?.data as Buffer)).toBe(sha256(raw));

    // fetch: restored and identical
    const dest = join(dir, 'RECOVERYXLOG');
    const fetched = await cli(['--config', configFile, 'wal-fetch', name, dest]);
    expect(fetched.code).toBe(0);
    expect(sha256(await readFile(dest))).toBe(sha256(raw));

    // not found: 1, nothing written
    const missingDest = join(dir, 'MISSING');
    expect(
      (await cli(['--config', configFile, 'wal-fetch', '0000000100000000000000FE', missingDest])).code,
    ).toBe(1);
    await expect(stat(missingDest)).rejects.toThrow();

    // corrupt object (a flipped byte inside the lz4 frame): not restored
    const victim = segments[segments.length - 2] as string;
    const victimPath = join(archiveDir, 'wal', '00000001', `${victim}.lz4`);
    const bytes = await readFile(victimPath);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x55;
    await writeFile(victimPath, bytes);
    const corruptDest = join(dir, 'CORRUPT');
    const corrupt = await cli(['--config', configFile, 'wal-fetch', victim, corruptDest]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.text).toMatch(/corrupt|decompress/);
    await expect(stat(corruptDest)).rejects.toThrow();

    // concurrent pushes of one segment leave one intact object and no temp files
    const objectPath = join(archiveDir, 'wal', '00000001', `${name}.lz4`);
    await unlink(objectPath);
    await writeFile(copy, raw);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => pushWal(ctx, store, copy)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value.outcome === 'stored').length).toBe(1);
    expect((await readdir(join(archiveDir, 'wal', '00000001'))).filter((n) => n.startsWith('.tmp'))).toEqual(
      [],
    );
    expect(sha256((await readVerified(store, file))?.data as Buffer)).toBe(sha256(raw));
    store.close();
    await leader.stop();
  });
});

describe('wal-push / wal-fetch with an S3 archive', () => {
  let s3: TestS3 | undefined;
  let restoreEnv: (() => void) | undefined;
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    restoreEnv?.();
    await s3?.stop();
  });

  it('archives via archive_command; identical/different/concurrent pushes; corrupt and S3-down fetches', async () => {
    s3 = await startS3();
    restoreEnv = setS3Env();
    const dir = await makeTempDir('pgf-arch-');
    const archive = s3ArchiveConfig(s3.endpoint);
    const { leader, leaderConfig: configFile } = await createArchivingLeader({
      dir,
      archive,
      envPrefix: s3EnvPrefix,
      log: { format: 'json' },
    });
    await switchAndArchive(leader, 3);
    const ctx = await testContext({ archive: { ...archive, prefetch: 0 } });
    const store: ArchiveStore = openArchiveStore(ctx.config);
    const segments = await archivedSegments(store);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const name = segments[segments.length - 1] as string;
    const file = parseWalFile(name);
    if (!file) throw new Error('bad name');
    const head = await store.head(`wal/00000001/${name}.lz4`);
    expect(head?.metadata.sha256).toMatch(/^[0-9a-f]{64}$/);
    const raw = (await readVerified(store, file))?.data as Buffer;
    expect(sha256(raw)).toBe(head?.metadata.sha256);

    const copy = join(dir, name);
    await writeFile(copy, raw);
    expect((await cli(['--config', configFile, 'wal-push', copy])).code).toBe(0);
    const changed = Buffer.from(raw);
    changed[7000] = (changed[7000] ?? 0) ^ 0xff;
    await writeFile(copy, changed);
    const refused = await cli(['--config', configFile, 'wal-push', copy]);
    expect(refused.code).toBe(1);
    expect(refused.text).toMatch(/different content/);

    // concurrent pushes of a new segment name: one intact object
    await writeFile(copy, raw);
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await client.send(new DeleteObjectCommand({ Bucket: 'wal', Key: `clusterA/wal/00000001/${name}.lz4` }));
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => pushWal(ctx, store, copy)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(sha256((await readVerified(store, file))?.data as Buffer)).toBe(sha256(raw));

    // fetch ok
    const dest = join(dir, 'RECOVERYXLOG');
    expect((await cli(['--config', configFile, 'wal-fetch', name, dest])).code).toBe(0);
    expect(sha256(await readFile(dest))).toBe(sha256(raw));

    // corrupt object: same size, wrong bytes, sha256 metadata of the original: not restored
    const victim = segments[segments.length - 2] as string;
    await client.send(
      new PutObjectCommand({
        Bucket: 'wal',
        Key: `clusterA/wal/00000001/${victim}`,
        Body: changed,
        Metadata: { sha256: sha256(raw), size: String(raw.length) },
      }),
    );
    await client.send(new DeleteObjectCommand({ Bucket: 'wal', Key: `clusterA/wal/00000001/${victim}.lz4` }));
    const corruptDest = join(dir, 'CORRUPT');
    const corrupt = await cli(['--config', configFile, 'wal-fetch', victim, corruptDest]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.text).toMatch(/corrupt/);
    await expect(stat(corruptDest)).rejects.toThrow();
    client.destroy();
    store.close();
    await leader.stop();

    // S3 down: push fails (non-zero), fetch says "not available" with a status <= 125
    await s3.stop();
    s3 = undefined;
    const pushDown = await cli(['--config', configFile, 'wal-push', copy]);
    expect(pushDown.code).not.toBe(0);
    const fetchDown = await cli(['--config', configFile, 'wal-fetch', name, join(dir, 'DOWN')]);
    expect(fetchDown.code).toBe(1);
    expect(fetchDown.text).toMatch(/PostgreSQL will retry/);
  });
});
