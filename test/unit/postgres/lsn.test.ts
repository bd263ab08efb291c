import { describe, expect, it } from 'vitest';
import {
  formatLsn,
  parseLsn,
  parseWalFileName,
  segmentStartLsn,
  walFileName,
  walFileNameForSegNo,
} from '../../../src/postgres/lsn.js';

const MiB1 = 1024n * 1024n;
const MiB16 = 16n * MiB1;
const MiB64 = 64n * MiB1;

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
    expect(walFileName(1, parseLsn('16/B374D848'), MiB16)).toBe('0000000100000016000000B3');
    expect(walFileName(2, parseLsn('0/3000000'), MiB16)).toBe('000000020000000000000003');
  });
  it('steps to the next segment across a log id', () => {
    expect(
      walFileNameForSegNo(1, parseWalFileName('0000000100000016000000FF', MiB16).segNo + 1n, MiB16),
    ).toBe('000000010000001700000000');
    expect(parseWalFileName('000000010000001700000000', MiB16).segNo).toBe(0x1700n);
  });
  // Issue 14 defect 9: names as initdb --wal-segsize=1 and --wal-segsize=64 clusters have them
  // (pg_walfile_name on such clusters): 4096 and 64 segments per log id.
  it('names and steps segments of 1 MiB and 64 MiB clusters across a log id', () => {
    expect(walFileName(1, parseLsn('0/3000000'), MiB1)).toBe('000000010000000000000030');
    expect(walFileName(1, parseLsn('16/B374D848'), MiB1)).toBe('000000010000001600000B37');
    expect(walFileNameForSegNo(1, parseWalFileName('000000010000000000000FFF', MiB1).segNo + 1n, MiB1)).toBe(
      '000000010000000100000000',
    );
    expect(walFileName(1, parseLsn('16/B374D848'), MiB64)).toBe('00000001000000160000002C');
    expect(walFileName(1, parseLsn('0/FC000000'), MiB64)).toBe('00000001000000000000003F');
    expect(
      walFileNameForSegNo(1, parseWalFileName('00000001000000000000003F', MiB64).segNo + 1n, MiB64),
    ).toBe('000000010000000100000000');
    expect(parseWalFileName('000000010000000100000000', MiB64).segNo).toBe(64n);
    expect(segmentStartLsn(64n, MiB64)).toBe(parseLsn('1/0'));
  });
});
