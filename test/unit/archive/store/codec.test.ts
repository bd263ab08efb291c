import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../../src/archive/store/codec.js';
import { ArchiveError } from '../../../../src/errors.js';
import { fakeSegment } from '../fixtures.js';

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
