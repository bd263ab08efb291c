import { ArchiveError } from '../../errors.js';
import { decompressedTooLarge } from './limits.js';

/**
 * An LZ4 frame decoder that writes into a buffer the caller owns
 * (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md and lz4_Block_format.md).
 *
 * Why not lz4-napi's decompressFrame on the read path: it grows a fresh vector for every 16 MiB
 * segment, and on the 2-core VM that allocation (page faults on new memory, then GC pressure from
 * one more external 16 MiB buffer) costs several times the decoding itself: ~100 ms of CPU per
 * segment measured against ~30 ms here into a reused buffer (docs/benchmarks/archive.md). Encoding
 * still uses lz4-napi. Every read and write is bounds-checked by the typed arrays and by explicit
 * tests, so a damaged or hostile frame raises ArchiveError (code ARCHIVE_CORRUPT) and never writes
 * past `out`.
 */

const FRAME_MAGIC = 0x184d2204;
const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

interface Lz4FrameResult {
  /** Bytes of `out` written. */
  length: number;
  /** The content checksum stored in the frame (xxHash32 of the content), when the frame has one. */
  contentChecksum: number | undefined;
}

/**
 * Decodes the LZ4 frame(s) in `src` into `out`. Throws ARCHIVE_CORRUPT on malformed input and when
 * the content does not fit in `out` (the caller sizes `out` to what the object may be). Block
 * checksums are verified when present; the content checksum is returned for the caller to check
 * (`xxh32(out.subarray(0, length))`) unless it verifies the content another way (SHA-256).
 */
export function decodeLz4Frame(src: Buffer, out: Buffer): Lz4FrameResult {
  let pos = 0;
  let length = 0;
  let contentChecksum: number | undefined;
  let frames = 0;
  while (pos < src.length) {
    need(src, pos, 4);
    const magic = src.readUInt32LE(pos);
    if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) {
      need(src, pos, 8);
      pos += 8 + src.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== FRAME_MAGIC) corrupt('not an LZ4 frame');
    need(src, pos, 7);
    const flg = src[pos + 4] as number;
    const bd = src[pos + 5] as number;
    if (flg >> 6 !== 1) corrupt('unsupported LZ4 frame version');
    if (flg & 0x01) corrupt('LZ4 frames with a dictionary are not written by pgfollower');
    const blockChecksum = (flg & 0x10) !== 0;
    const hasContentSize = (flg & 0x08) !== 0;
    const hasContentChecksum = (flg & 0x04) !== 0;
    const blockMax = BLOCK_MAX[(bd >> 4) & 0x07] ?? 0;
    if (blockMax === 0) corrupt('invalid LZ4 block maximum size');
    pos += 6 + (hasContentSize ? 8 : 0);
    need(src, pos, 1);
    pos += 1; // header checksum: the content checksum covers what matters
    const frameStart = length;
    for (;;) {
      need(src, pos, 4);
      const word = src.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (size > blockMax) corrupt('LZ4 block larger than the frame allows');
      need(src, pos, size + (blockChecksum ? 4 : 0));
      if (blockChecksum && xxh32(src, pos, size) !== src.readUInt32LE(pos + size)) {
        corrupt('LZ4 block checksum mismatch');
      }
      if (word & 0x80000000) {
        if (length + size > out.length) tooLarge(out.length);
        src.copy(out, length, pos, pos + size);
        length += size;
      } else {
        length = decodeBlock(src, pos, pos + size, out, length, frameStart);
      }
      pos += size + (blockChecksum ? 4 : 0);
    }
    if (hasContentChecksum) {
      need(src, pos, 4);
      // Several frames: the caller checks the whole output another way (SHA-256); keep the last.
      contentChecksum = frames === 0 ? src.readUInt32LE(pos) : undefined;
      pos += 4;
    }
    frames++;
  }
  if (frames === 0) corrupt('no LZ4 frame');
  return { length, contentChecksum: frames === 1 ? contentChecksum : undefined };
}

/** One LZ4 block from src[start, end) appended to out at `at`; returns the new output length. */
function decodeBlock(
  src: Buffer,
  start: number,
  end: number,
  out: Buffer,
  at: number,
  floor: number,
): number {
  let s = start;
  let o = at;
  const limit = out.length;
  while (s < end) {
    const token = src[s++] as number;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (s >= end) corrupt('LZ4 literal length runs past the block');
        b = src[s++] as number;
        literals += b;
      } while (b === 255);
    }
    if (literals > 0) {
      if (s + literals > end) corrupt('LZ4 literals run past the block');
      if (o + literals > limit) tooLarge(limit);
      if (literals < 16) {
        for (let i = 0; i < literals; i++) out[o + i] = src[s + i] as number;
      } else {
        src.copy(out, o, s, s + literals);
      }
      s += literals;
      o += literals;
    }
    if (s >= end) break; // the last sequence has literals only
    if (s + 2 > end) corrupt('LZ4 match offset runs past the block');
    const offset = (src[s] as number) | ((src[s + 1] as number) << 8);
    s += 2;
    if (offset === 0 || o - offset < floor) corrupt('LZ4 match offset points before the frame');
    let matchLength = (token & 0x0f) + 4;
    if (matchLength === 19) {
      let b: number;
      do {
        if (s >= end) corrupt('LZ4 match length runs past the block');
        b = src[s++] as number;
        matchLength += b;
      } while (b === 255);
    }
    if (o + matchLength > limit) tooLarge(limit);
    const from = o - offset;
    if (matchLength < 32) {
      // A forward byte copy also repeats an overlapping pattern correctly.
      for (let i = 0; i < matchLength; i++) out[o + i] = out[from + i] as number;
    } else if (offset >= matchLength) {
      out.copyWithin(o, from, from + matchLength);
    } else if (offset === 1) {
      out.fill(out[from] as number, o, o + matchLength);
    } else {
      // Overlapping: the match repeats the last `offset` bytes. out[from, o) is that pattern a
      // whole number of times, so copying from `from` in chunks that double stays correct.
      const stop = o + matchLength;
      let at = o;
      while (at < stop) {
        const chunk = Math.min(at - from, stop - at);
        out.copyWithin(at, from, from + chunk);
        at += chunk;
      }
    }
    o += matchLength;
  }
  return o;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const round = (acc: number, lane: number): number => Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);

/** xxHash32 (seed 0) of data[start, start + len): the LZ4 frame's checksum function. */
export function xxh32(data: Buffer, start = 0, len = data.length - start): number {
  let p = start;
  const end = start + len;
  let h: number;
  if (len >= 16) {
    let v1 = (P1 + P2) | 0;
    let v2 = P2;
    let v3 = 0;
    let v4 = -P1 | 0;
    const limit = end - 16;
    // Aligned little-endian input (pooled buffers are): read lanes through a Uint32Array view,
    // several times faster than readInt32LE per lane.
    if ((data.byteOffset + p) % 4 === 0 && littleEndian) {
      const words = new Int32Array(data.buffer, data.byteOffset + p, Math.floor((end - p) / 4));
      let w = 0;
      for (; p <= limit; p += 16, w += 4) {
        v1 = round(v1, words[w] as number);
        v2 = round(v2, words[w + 1] as number);
        v3 = round(v3, words[w + 2] as number);
        v4 = round(v4, words[w + 3] as number);
      }
    }
    while (p <= limit) {
      v1 = round(v1, data.readInt32LE(p));
      v2 = round(v2, data.readInt32LE(p + 4));
      v3 = round(v3, data.readInt32LE(p + 8));
      v4 = round(v4, data.readInt32LE(p + 12));
      p += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = P5;
  }
  h = (h + len) | 0;
  while (p + 4 <= end) {
    h = Math.imul(rotl((h + Math.imul(data.readInt32LE(p), P3)) | 0, 17), P4);
    p += 4;
  }
  while (p < end) {
    h = Math.imul(rotl((h + Math.imul(data[p] as number, P5)) | 0, 11), P1);
    p++;
  }
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

function need(src: Buffer, pos: number, n: number): void {
  if (pos + n > src.length) corrupt('LZ4 frame is truncated');
}

function corrupt(why: string): never {
  throw new ArchiveError(`cannot decompress (lz4): ${why}`, { code: 'ARCHIVE_CORRUPT' });
}

function tooLarge(maxBytes: number): never {
  throw decompressedTooLarge('lz4', maxBytes);
}
