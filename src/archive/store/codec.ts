import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { ArchiveError } from '../../errors.js';
import { decompressedTooLarge } from './limits.js';
import { decodeLz4Frame, xxh32 } from './lz4-frame.js';

/**
 * Compression of archived WAL. The codec is visible in the object name's extension, so a reader
 * never has to guess and an archive can mix codecs after a config change (docs/archive.md).
 * - lz4: frame format with content checksum, so corruption is caught by the codec too. Encoded by
 *   lz4-napi (prebuilt Node-API binaries shipped in the npm package), decoded by lz4-frame.ts (into
 *   a reused buffer). Fastest to decode, ~3x on WAL.
 * - gzip: node:zlib, CRC32-protected.
 * - zstd: node:zlib, only on Node.js >= 22.15 (config validation refuses it earlier).
 */
export type CodecName = 'none' | 'gzip' | 'lz4' | 'zstd';

export const codecExtensions: Record<CodecName, string> = {
  none: '',
  gzip: '.gz',
  lz4: '.lz4',
  zstd: '.zst',
};

/** lz4-napi loads a native addon: only when an lz4 object is written or read. */
const lz4 = (): Promise<typeof import('lz4-napi')> => import('lz4-napi');

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

interface ZstdZlib {
  zstdCompress(buf: Buffer, cb: (e: Error | null, r: Buffer) => void): void;
  zstdDecompress(buf: Buffer, cb: (e: Error | null, r: Buffer) => void): void;
}

function zstd(): ZstdZlib {
  if (!('zstdCompress' in zlib)) {
    throw new ArchiveError(`zstd needs Node.js 22.15 or newer; this is ${process.version}`, {
      code: 'ARCHIVE_CODEC',
      hint: 'set archive.compression to lz4 or gzip, or read this archive from a newer Node.js',
    });
  }
  return zlib as unknown as ZstdZlib;
}

export async function encode(codec: CodecName, raw: Buffer): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return raw;
    case 'gzip':
      // Level 1: WAL compresses nearly as well at 1 as at 6, at a fraction of the CPU.
      return gzip(raw, { level: 1 });
    case 'lz4':
      return (await lz4()).compressFrame(raw, { contentChecksum: true });
    case 'zstd': {
      const z = zstd();
      return promisify(z.zstdCompress.bind(z))(raw);
    }
  }
}

/** The largest WAL segment PostgreSQL allows (--wal-segsize 1024): the default output bound. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;

/**
 * Decompresses `stored`, never producing more than `maxBytes` (a WAL segment's size): a small
 * hostile object (a gzip or lz4 "bomb") is refused instead of filling memory. gzip and zstd stop
 * at the bound (zlib's maxOutputLength); an lz4 frame's output bound is read from its block
 * headers before anything is decompressed.
 */
export async function decode(
  codec: CodecName,
  stored: Buffer,
  maxBytes = MAX_SEGMENT_BYTES,
): Promise<Buffer> {
  return (await decodeChecked(codec, stored, maxBytes)).data;
}

interface Decoded {
  data: Buffer;
  /**
   * The codec itself proved the bytes are the ones written (lz4 content checksum, gzip CRC32):
   * hashing them again with SHA-256 adds nothing.
   */
  checksummed: boolean;
}

/**
 * `decode`, saying whether the codec verified the content, and able to write an lz4 frame into
 * `output` (a buffer the caller reuses for every segment: `data` is then a view of it, valid until
 * the caller reuses it). Fresh 16 MiB buffers per segment cost more than decoding on a small VM.
 */
export async function decodeChecked(
  codec: CodecName,
  stored: Buffer,
  maxBytes = MAX_SEGMENT_BYTES,
  output?: Buffer,
): Promise<Decoded> {
  try {
    switch (codec) {
      case 'none':
        if (stored.length > maxBytes) throw decompressedTooLarge(codec, maxBytes, `${stored.length} bytes`);
        return { data: stored, checksummed: false };
      case 'gzip':
        return { data: await gunzip(stored, { maxOutputLength: maxBytes }), checksummed: true };
      case 'lz4': {
        const bound = lz4FrameBound(stored);
        if (bound > maxBytes) throw decompressedTooLarge(codec, maxBytes, `up to ${bound} bytes`);
        // Never more than the headers allow: a block that decodes to more than its frame's block
        // size is refused by running out of room.
        const out = output && output.length >= bound ? output.subarray(0, bound) : Buffer.allocUnsafe(bound);
        const { length, contentChecksum } = decodeLz4Frame(stored, out);
        if (contentChecksum !== undefined && xxh32(out, 0, length) !== contentChecksum) {
          throw new ArchiveError('cannot decompress (lz4): content checksum mismatch', {
            code: 'ARCHIVE_CORRUPT',
          });
        }
        return { data: out.subarray(0, length), checksummed: contentChecksum !== undefined };
      }
      case 'zstd': {
        const z = zstd();
        const data = await promisify(
          (z.zstdDecompress as (b: Buffer, o: object, cb: (e: Error | null, r: Buffer) => void) => void).bind(
            z,
          ),
        )(stored, { maxOutputLength: maxBytes });
        return { data, checksummed: false };
      }
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw decompressedTooLarge(codec, maxBytes);
    }
    throw new ArchiveError(`cannot decompress (${codec}): ${(error as Error).message}`, {
      code: 'ARCHIVE_CORRUPT',
      cause: error,
    });
  }
}

/**
 * The most bytes an lz4 frame (or concatenated frames) can decompress to, from its headers alone
 * (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md): each data block yields at most the
 * frame's block maximum size (an uncompressed block exactly its own size). Malformed input returns
 * Infinity, so it is refused before decompression.
 */
function lz4FrameBound(data: Buffer): number {
  let pos = 0;
  let total = 0;
  while (pos < data.length) {
    if (pos + 4 > data.length) return Number.POSITIVE_INFINITY;
    const magic = data.readUInt32LE(pos);
    if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) {
      // Skippable frame: no output.
      if (pos + 8 > data.length) return Number.POSITIVE_INFINITY;
      pos += 8 + data.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== 0x184d2204 || pos + 7 > data.length) return Number.POSITIVE_INFINITY;
    const flg = data[pos + 4] as number;
    const bd = data[pos + 5] as number;
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const dictId = (flg & 0x01) !== 0;
    const blockMax = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(bd >> 4) & 0x07] ?? 0;
    if (blockMax === 0) return Number.POSITIVE_INFINITY;
    pos += 4 + 2 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1;
    for (;;) {
      if (pos + 4 > data.length) return Number.POSITIVE_INFINITY;
      const word = data.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      const uncompressed = (word & 0x80000000) !== 0;
      total += uncompressed ? size : blockMax;
      pos += size + (blockChecksum ? 4 : 0);
    }
    pos += contentChecksum ? 4 : 0;
  }
  return total;
}

/** The codec an object name says it was written with. */
export function codecOfKey(key: string): CodecName {
  for (const [codec, ext] of Object.entries(codecExtensions) as Array<[CodecName, string]>) {
    if (ext && key.endsWith(ext)) return codec;
  }
  return 'none';
}
