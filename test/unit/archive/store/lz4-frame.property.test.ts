import fc from 'fast-check';
import { compressFrameSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { decodeLz4Frame, xxh32 } from '../../../../src/archive/store/lz4-frame.js';
import { ArchiveError } from '../../../../src/errors.js';

/**
 * Properties of the JS LZ4 frame decoder against lz4-napi, the encoder the archive writes with:
 * whatever lz4-napi encodes decodes to the same bytes, and a damaged frame either decodes to
 * something its checksums catch or throws ArchiveError, never anything else and never past `out`.
 */
describe('lz4 frame decoder, properties', () => {
  // Compressible input: runs of repeated bytes and random stretches.
  const content = fc
    .array(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc
          .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 5000 }))
          .map(([b, n]) => new Uint8Array(n).fill(b)),
      ),
      { maxLength: 40 },
    )
    .map((parts) => Buffer.concat(parts.map((p) => Buffer.from(p))));

  it('decodes whatever lz4-napi encodes', () => {
    fc.assert(
      fc.property(content, fc.boolean(), (raw, blockChecksums) => {
        const stored = compressFrameSync(raw, { contentChecksum: true, blockChecksums });
        const out = Buffer.alloc(raw.length + 16, 0x55);
        const { length, contentChecksum } = decodeLz4Frame(stored, out);
        expect(out.subarray(0, length).equals(raw)).toBe(true);
        expect(contentChecksum).toBe(xxh32(raw));
        // Nothing written past the content.
        expect(out.subarray(length).every((b) => b === 0x55)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a damaged frame is caught or refused with ArchiveError, never written past out', () => {
    fc.assert(
      fc.property(content, fc.nat(), fc.integer({ min: 1, max: 255 }), (raw, at, flip) => {
        const stored = Buffer.from(compressFrameSync(raw, { contentChecksum: true }));
        const i = at % stored.length;
        stored[i] = (stored[i] as number) ^ flip;
        const out = Buffer.alloc(raw.length + 16, 0x55);
        const guard = Buffer.alloc(16, 0x55);
        try {
          const { length, contentChecksum } = decodeLz4Frame(stored, out.subarray(0, raw.length));
          // Decoded: the content checksum tells the damage (the caller checks it), unless the flip
          // hit bytes that do not change the content.
          const same = length === raw.length && out.subarray(0, length).equals(raw);
          if (!same)
            expect(contentChecksum === undefined || xxh32(out, 0, length) !== contentChecksum).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(ArchiveError);
        }
        expect(out.subarray(raw.length).equals(guard)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
