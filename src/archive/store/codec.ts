import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { ArchiveError } from '../../errors.js';

/**
 * Compression of archived WAL. The codec is visible in the object name's extension, so a reader
 * never has to guess and an archive can mix codecs after a config change (docs/archive.md).
 * - lz4: lz4-napi (prebuilt Node-API binaries shipped in the npm package), frame format with content
 *   checksum, so corruption is caught by the codec too. Default: fastest to decode, ~3x on WAL.
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
      return compressFrame(raw, { contentChecksum: true });
    case 'zstd': {
      const z = zstd();
      return promisify(z.zstdCompress.bind(z))(raw);
    }
  }
}

export async function decode(codec: CodecName, stored: Buffer): Promise<Buffer> {
  try {
    switch (codec) {
      case 'none':
        return stored;
      case 'gzip':
        return await gunzip(stored);
      case 'lz4':
        return await decompressFrame(stored);
      case 'zstd': {
        const z = zstd();
        return await promisify(z.zstdDecompress.bind(z))(stored);
      }
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError(`cannot decompress (${codec}): ${(error as Error).message}`, {
      code: 'ARCHIVE_CORRUPT',
      cause: error,
    });
  }
}

/** The codec an object name says it was written with. */
export function codecOfKey(key: string): CodecName {
  for (const [codec, ext] of Object.entries(codecExtensions) as Array<[CodecName, string]>) {
    if (ext && key.endsWith(ext)) return codec;
  }
  return 'none';
}
