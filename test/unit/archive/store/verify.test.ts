import { describe, expect, it } from 'vitest';
import { parseWalFile } from '../../../../src/archive/store/layout.js';
import { verifyWalFile } from '../../../../src/archive/store/verify.js';
import { SEG, fakeSegment } from '../fixtures.js';

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
