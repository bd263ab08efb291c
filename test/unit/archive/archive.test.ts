import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/archive/store/codec.js';
import { parseHistory, timelineOfSegment } from '../../../src/archive/follower/coverage.js';
import { createFsStore } from '../../../src/archive/store/fs-store.js';
import { candidateKeys, fileNameOfKey, objectKey, parseWalFile } from '../../../src/archive/store/layout.js';
import { createArchiveProbe } from '../../../src/archive/follower/probe.js';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { shellQuote } from '../../../src/util/shell.js';
import { toArchiveError } from '../../../src/archive/store/s3-store.js';
import { verifyWalFile } from '../../../src/archive/store/verify.js';
import { loadConfig } from '../../../src/config/index.js';
import { ArchiveError } from '../../../src/errors.js';
import { parseLsn } from '../../../src/postgres/lsn.js';

const SEG = 16 * 1024 * 1024;

/** A minimal, valid-looking WAL segment: long page header with magic, address and sizes. */
function fakeSegment(name: string, magic = 0xd110): Buffer {
  const data = Buffer.alloc(SEG);
  const segNo = BigInt(`0x${name.slice(8, 16)}`) * 256n + BigInt(`0x${name.slice(16, 24)}`);
  data.writeUInt16LE(magic, 0);
  data.writeUInt16LE(0x0002 | 0x0004, 2);
  data.writeUInt32LE(Number.parseInt(name.slice(0, 8), 16), 4);
  data.writeBigUInt64LE(segNo * BigInt(SEG), 8);
  data.writeBigUInt64LE(7_000_000_000_000_000_000n, 24);
  data.writeUInt32LE(SEG, 32);
  data.writeUInt32LE(8192, 36);
  data.fill(0x41, 100, 5000);
  return data;
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgf-unit-archive-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('layout', () => {
  it('classifies WAL file names and keys them by timeline', () => {
    expect(parseWalFile('000000020000000100000003')?.kind).toBe('segment');
    expect(parseWalFile('000000020000000100000003.partial')?.timeline).toBe(2);
    expect(parseWalFile('0000000A.history')?.timeline).toBe(10);
    expect(parseWalFile('000000010000000000000002.00000028.backup')?.kind).toBe('backup');
    expect(parseWalFile('RECOVERYXLOG')).toBeUndefined();
    const seg = parseWalFile('000000020000000100000003');
    if (!seg) throw new Error('unreachable');
    expect(objectKey(seg, 'lz4')).toBe('wal/00000002/000000020000000100000003.lz4');
    expect(objectKey(seg, 'none')).toBe('wal/00000002/000000020000000100000003');
    const hist = parseWalFile('00000002.history');
    if (!hist) throw new Error('unreachable');
    expect(objectKey(hist, 'gzip')).toBe('wal/00000002/00000002.history');
    expect(candidateKeys(seg)).toContain('wal/00000002/000000020000000100000003.gz');
    expect(fileNameOfKey('wal/00000002/000000020000000100000003.partial.zst')).toBe(
      '000000020000000100000003.partial',
    );
    expect(fileNameOfKey('wal/00000002/.tmp.123')).toBeUndefined();
  });
});

describe('codecs', () => {
  it('round-trips and detects corruption', async () => {
    const raw = fakeSegment('000000010000000000000003');
    for (const codec of ['none', 'gzip', 'lz4'] as const) {
      const stored = await encode(codec, raw);
      expect((await decode(codec, stored)).equals(raw)).toBe(true);
      if (codec !== 'none') expect(stored.length).toBeLessThan(raw.length / 10);
    }
    const lz4 = await encode('lz4', raw);
    lz4[Math.floor(lz4.length / 2)] = (lz4[Math.floor(lz4.length / 2)] ?? 0) ^ 0xff;
    await expect(decode('lz4', lz4)).rejects.toBeInstanceOf(ArchiveError);
  });
});

describe('verifyWalFile', () => {
  const name = '000000010000000000000003';
  const file = parseWalFile(name);
  if (!file) throw new Error('unreachable');
  it('accepts a segment with the right header', () => {
    expect(() => verifyWalFile(file, fakeSegment(name))).not.toThrow();
  });
  it('refuses a wrong size, magic, page address or checksum', () => {
    expect(() => verifyWalFile(file, fakeSegment(name).subarray(0, SEG - 1))).toThrow(/size/);
    expect(() => verifyWalFile(file, fakeSegment(name, 0x1234))).toThrow(/magic/);
    expect(() => verifyWalFile(file, fakeSegment('000000010000000000000004'))).toThrow(/page address/);
    expect(() => verifyWalFile(file, fakeSegment(name), 'f'.repeat(64))).toThrow(/SHA-256/);
  });
});

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

describe('restore_command', () => {
  const base = {
    node: { dataDirectory: '/data/x' },
    archive: { type: 'fs', fs: { path: '/a' }, command: "'/usr/bin/node' '/opt/bin.js'" },
  };
  it('is undefined without an archive', () => {
    expect(restoreCommandFor(loadConfig({ overrides: {}, env: {} }))).toBeUndefined();
  });
  it('moves from the spool and falls back to wal-fetch', () => {
    const config = loadConfig({ overrides: base, env: {} });
    expect(restoreCommandFor(config, { configFile: '/etc/pgf.yaml' })).toBe(
      "mv -f '/data/x/pg_wal/.pgfollower-spool/'%f %p 2>/dev/null || " +
        "{ n=0; while [ -e '/data/x/pg_wal/.pgfollower-spool/'%f.inflight ] && [ $n -lt 250 ]; do sleep 0.02; n=$((n+1)); done; mv -f '/data/x/pg_wal/.pgfollower-spool/'%f %p 2>/dev/null; } || " +
        `{ [ -n "$(find '/data/x/pg_wal/.pgfollower-spool/'%f.missing -mmin -0.1 2>/dev/null)" ] && exit 1; } || ` +
        "'/usr/bin/node' '/opt/bin.js' --config '/etc/pgf.yaml' wal-fetch %f %p",
    );
  });
  it('skips the spool when prefetch is 0', () => {
    const config = loadConfig({ overrides: { ...base, archive: { ...base.archive, prefetch: 0 } }, env: {} });
    expect(restoreCommandFor(config)).toBe("'/usr/bin/node' '/opt/bin.js' wal-fetch %f %p");
  });
  it('quotes for sh and escapes % for PostgreSQL', () => {
    expect(shellQuote("/x/it's 100%")).toBe("'/x/it'\\''s 100%%'");
  });
});

describe('config', () => {
  it('defaults to lz4 on S3 and none on fs, 16 segments of prefetch; sseKmsKeyId needs aws:kms', () => {
    const config = loadConfig({ overrides: { archive: { type: 's3', s3: { bucket: 'b' } } }, env: {} });
    expect(config.archive.compression).toBe('lz4');
    const fs = loadConfig({ overrides: { archive: { type: 'fs', fs: { path: '/a' } } }, env: {} });
    expect(fs.archive.compression).toBe('none');
    const chosen = loadConfig({
      overrides: { archive: { type: 's3', s3: { bucket: 'b' }, compression: 'gzip' } },
      env: {},
    });
    expect(chosen.archive.compression).toBe('gzip');
    expect(config.archive.prefetch).toBe(16);
    expect(() =>
      loadConfig({ overrides: { archive: { type: 's3', s3: { bucket: 'b', sseKmsKeyId: 'k' } } }, env: {} }),
    ).toThrow(/sseKmsKeyId/);
  });
});

describe('timelines', () => {
  it('reads a history file and picks the timeline of each segment', () => {
    const spans = [
      { timeline: 1, begin: 0n },
      { timeline: 2, begin: parseLsn('0/5000060') },
    ];
    expect(parseHistory('1\t0/5000060\tno recovery target specified\n')).toEqual([
      { timeline: 1, switchLsn: parseLsn('0/5000060') },
    ]);
    expect(timelineOfSegment(spans, 4n, BigInt(SEG))).toBe(1);
    // the segment holding the switch point is read from the new timeline
    expect(timelineOfSegment(spans, 5n, BigInt(SEG))).toBe(2);
    expect(timelineOfSegment(spans, 6n, BigInt(SEG))).toBe(2);
  });
});

describe('archive probe', () => {
  it('names the first missing segment from the one replay needs', async () => {
    const root = await tempDir();
    const store = createFsStore({ path: root, fsync: false });
    for (const n of ['01', '02', '04', '05']) {
      await store.put(`wal/00000001/0000000100000000000000${n}.lz4`, Buffer.from('x'), {});
    }
    const probe = createArchiveProbe(store);
    const snapshot = {
      takenAt: 0,
      node: 'n',
      local: { ok: false as const, error: '-' },
      leader: { ok: false as const, error: '-' },
      lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
    };
    const signal = new AbortController().signal;
    const gap = await probe({ ...snapshot, neededSegment: '000000010000000000000002' }, signal);
    expect(gap).toMatchObject({
      newestSegment: '000000010000000000000005',
      missingSegment: '000000010000000000000003',
    });
    const ahead = await probe({ ...snapshot, neededSegment: '000000010000000000000004' }, signal);
    expect(ahead.missingSegment).toBe('000000010000000000000006');
  });
});

describe('S3 error classification', () => {
  it('marks network errors and 5xx transient, 403 not', () => {
    expect(
      toArchiveError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'get x')
        .transient,
    ).toBe(true);
    expect(
      toArchiveError(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }), 'get x')
        .transient,
    ).toBe(true);
    const denied = toArchiveError(
      Object.assign(new Error('x'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
      'put x',
    );
    expect(denied.transient).toBe(false);
    expect(denied.code).toBe('ARCHIVE_ACCESS_DENIED');
  });
});
