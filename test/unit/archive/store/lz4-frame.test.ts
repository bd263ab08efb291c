import { randomBytes } from 'node:crypto';
import { compressFrame, compressFrameSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { decodeChecked } from '../../../../src/archive/store/codec.js';
import { decodeLz4Frame, xxh32 } from '../../../../src/archive/store/lz4-frame.js';
import { ArchiveError } from '../../../../src/errors.js';

/** WAL-like content: page headers, runs of zeros, repeated records, some random bytes. */
function walLike(size: number): Buffer {
  const out = Buffer.alloc(size);
  let pos = 0;
  let i = 0;
  while (pos < size) {
    const kind = i++ % 5;
    const len = Math.min(size - pos, [7, 300, 4096, 33, 70_000][kind] as number);
    if (kind === 1) randomBytes(len).copy(out, pos);
    else if (kind === 2) out.fill(i & 0xff, pos, pos + len);
    else if (kind === 3) out.write('pgbench_accounts '.repeat(3).slice(0, len), pos, 'latin1');
    else if (kind === 4) for (let j = 0; j < len; j++) out[pos + j] = (j % 13) + (j % 7 === 0 ? 100 : 0);
    else out.writeUIntLE(pos, pos, Math.min(6, len));
    pos += len;
  }
  return out;
}

describe('lz4 frame decoder', () => {
  it.each([
    ['empty', Buffer.alloc(0)],
    ['short literal', Buffer.from('hello')],
    ['zeros', Buffer.alloc(5 << 20)],
    ['random (stored blocks)', randomBytes(1 << 20)],
    ['WAL-like, 16 MiB', walLike(16 << 20)],
    ['period 3 overlap', Buffer.from('abc'.repeat(100_000))],
  ])('decodes what lz4-napi encodes: %s', async (_name, raw) => {
    const stored = await compressFrame(raw, { contentChecksum: true });
    const out = Buffer.alloc(raw.length + 64);
    const { length, contentChecksum } = decodeLz4Frame(stored, out);
    expect(length).toBe(raw.length);
    expect(out.subarray(0, length).equals(raw)).toBe(true);
    expect(contentChecksum).toBe(xxh32(raw));
    // Into a reused, larger buffer holding old content: the view is exactly the segment.
    const reused = Buffer.alloc(raw.length + 4096, 0xaa);
    const decoded = await decodeChecked('lz4', stored, 64 << 20, reused);
    expect(decoded.checksummed).toBe(true);
    expect(decoded.data.equals(raw)).toBe(true);
  });

  it('checks block checksums and matches xxHash32 at unaligned offsets', () => {
    const raw = walLike(300_000);
    const stored = compressFrameSync(raw, { contentChecksum: true, blockChecksums: true });
    const out = Buffer.alloc(raw.length);
    expect(decodeLz4Frame(stored, out).length).toBe(raw.length);
    const shifted = Buffer.concat([Buffer.from([1]), raw]);
    expect(xxh32(shifted, 1)).toBe(xxh32(raw));
    // Reference values of xxHash32 (seed 0).
    expect(xxh32(Buffer.alloc(0)).toString(16)).toBe('2cc5d05');
    expect(xxh32(Buffer.from('abc')).toString(16)).toBe('32d153ff');
    const damaged = Buffer.from(stored);
    damaged[Math.floor(damaged.length / 2)] = (damaged[Math.floor(damaged.length / 2)] ?? 0) ^ 0x01;
    expect(() => decodeLz4Frame(damaged, out)).toThrow(ArchiveError);
  });

  it('refuses truncated frames, bad magic, offsets before the output and output past the buffer', async () => {
    const raw = walLike(200_000);
    const stored = await compressFrame(raw, { contentChecksum: true });
    const out = Buffer.alloc(raw.length);
    expect(() => decodeLz4Frame(stored.subarray(0, stored.length - 9), out)).toThrow(/truncated/);
    const badMagic = Buffer.from(stored);
    badMagic[0] = 0;
    expect(() => decodeLz4Frame(badMagic, out)).toThrow(/not an LZ4 frame/);
    expect(() => decodeLz4Frame(stored, Buffer.alloc(raw.length - 1))).toThrow(/more than/);
    // A hand-made block: 1 literal, then a match 9 bytes back (before the frame's start).
    const header = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
    const block = Buffer.from([0x10, 0x41, 0x09, 0x00, 0x00]);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(block.length);
    const hostile = Buffer.concat([header, size, block, Buffer.alloc(4)]);
    expect(() => decodeLz4Frame(hostile, Buffer.alloc(100))).toThrow(/before the frame/);
    // The decoded content must match its checksum.
    const wrongSum = Buffer.from(stored);
    wrongSum.writeUInt32LE((wrongSum.readUInt32LE(wrongSum.length - 4) ^ 1) >>> 0, wrongSum.length - 4);
    await expect(decodeChecked('lz4', wrongSum, 1 << 20)).rejects.toThrow(/checksum mismatch/);
  });
});
