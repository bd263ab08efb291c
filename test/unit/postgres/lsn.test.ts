import { describe, expect, it } from 'vitest';
import {
  formatLsn,
  nextWalFileName,
  parseLsn,
  parseWalFileName,
  walFileName,
} from '../../../src/postgres/lsn.js';

describe('LSN maths', () => {
  it('round-trips LSNs as bigint', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(formatLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(formatLsn(parseLsn('0/0'))).toBe('0/0');
  });
  it('rejects garbage', () => {
    expect(() => parseLsn('16-B374')).toThrow(/not an LSN/);
  });
  it('names WAL files like pg_walfile_name', () => {
    // select pg_walfile_name('16/B374D848') on timeline 1 -> 0000000100000016000000B3
    expect(walFileName(1, parseLsn('16/B374D848'))).toBe('0000000100000016000000B3');
    expect(walFileName(2, parseLsn('0/3000000'))).toBe('000000020000000000000003');
  });
  it('steps to the next segment across a log id', () => {
    expect(nextWalFileName('0000000100000016000000FF')).toBe('000000010000001700000000');
    expect(parseWalFileName('000000010000001700000000').segNo).toBe(0x1700n);
  });
});
