import { describe, expect, it } from 'vitest';
import {
  candidateKeys,
  fileNameOfKey,
  objectKey,
  parseWalFile,
} from '../../../../src/archive/store/layout.js';

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
