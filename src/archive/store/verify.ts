import { createHash } from 'node:crypto';
import { ArchiveError } from '../../errors.js';
import { parseWalFileName } from '../../postgres/lsn.js';
import type { WalFile } from './layout.js';

/**
 * Checks that bytes are the WAL file they claim to be, before pushing them and before handing them
 * to PostgreSQL. A segment starts with a long page header (XLogLongPageHeaderData in
 * src/include/access/xlog_internal.h): magic (uint16, one value per WAL format version),
 * info (uint16, XLP_LONG_HEADER = 0x0002), timeline (uint32), page address (uint64 at offset 8),
 * remaining length (uint32), then system identifier (uint64 at 24), segment size (uint32 at 32) and
 * block size (uint32 at 36). Little-endian, as on every platform PostgreSQL packages ship for here.
 */

/** XLOG_PAGE_MAGIC by major version (9.6 .. 17); newer formats are accepted by range below. */
const knownMagic = new Set([0xd093, 0xd097, 0xd098, 0xd101, 0xd106, 0xd10d, 0xd110, 0xd113, 0xd116, 0xd118]);
const XLP_LONG_HEADER = 0x0002;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

interface SegmentHeader {
  magic: number;
  pageAddress: bigint;
  systemIdentifier: bigint;
  segmentSize: number;
  blockSize: number;
}

export function readSegmentHeader(data: Buffer): SegmentHeader | undefined {
  if (data.length < 40) return undefined;
  return {
    magic: data.readUInt16LE(0),
    pageAddress: data.readBigUInt64LE(8),
    systemIdentifier: data.readBigUInt64LE(24),
    segmentSize: data.readUInt32LE(32),
    blockSize: data.readUInt32LE(36),
  };
}

/**
 * Throws ArchiveError(code ARCHIVE_CORRUPT) unless `data` is a plausible copy of `file`.
 * `expectedSha256` comes from the object's metadata (s3 user metadata, the fs sidecar);
 * `expectedSystemIdentifier` from the local pg_control (ArchiveError code ARCHIVE_FOREIGN on mismatch).
 */
export function verifyWalFile(
  file: WalFile,
  data: Buffer,
  expectedSha256?: string,
  expectedSystemIdentifier?: bigint,
): void {
  const fail = (why: string): never => {
    throw new ArchiveError(`${file.name} is corrupt: ${why}`, {
      code: 'ARCHIVE_CORRUPT',
      hint: 'the archived copy is damaged; if the leader still has this segment, streaming can supply it; otherwise rebuild the follower (pgfollower rebuild)',
    });
  };
  if (expectedSha256 && sha256(data) !== expectedSha256)
    fail('SHA-256 differs from the one recorded at push');
  if (file.kind === 'history') {
    // Text lines "parentTLI <tab> switchpoint <tab> reason": refuse binary garbage.
    if (data.includes(0)) fail('a timeline history file must be text');
    return;
  }
  if (file.kind === 'backup') return;
  const header = readSegmentHeader(data);
  if (!header) return fail(`only ${data.length} bytes`);
  if (!knownMagic.has(header.magic) && (header.magic < 0xd000 || header.magic > 0xd1ff)) {
    fail(`WAL page magic 0x${header.magic.toString(16)} is not a PostgreSQL WAL page`);
  }
  if ((data.readUInt16LE(2) & XLP_LONG_HEADER) === 0) fail('first page lacks the long header');
  const { segmentSize } = header;
  if (segmentSize < 1 << 20 || segmentSize > 1 << 30 || (segmentSize & (segmentSize - 1)) !== 0) {
    fail(`implausible segment size ${segmentSize}`);
  }
  if (data.length !== segmentSize) fail(`size ${data.length} bytes, expected ${segmentSize}`);
  if (expectedSystemIdentifier !== undefined && header.systemIdentifier !== expectedSystemIdentifier) {
    throw new ArchiveError(
      `${file.name} is from a different database system: its WAL header says system identifier ${header.systemIdentifier}, this cluster's pg_control says ${expectedSystemIdentifier}`,
      {
        code: 'ARCHIVE_FOREIGN',
        hint: "another cluster archives into this location: give each cluster its own archive.fs.path or archive.s3.prefix, and check this node's archive settings; the file was not restored",
      },
    );
  }
  const { segNo } = parseWalFileName(file.name.slice(0, 24), BigInt(segmentSize));
  if (header.pageAddress !== segNo * BigInt(segmentSize)) {
    fail(`first page address ${header.pageAddress.toString(16)} does not belong to this segment`);
  }
}
