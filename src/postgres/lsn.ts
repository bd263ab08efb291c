/**
 * LSN and WAL file-name maths, in bigint only (an LSN is a 64-bit byte position).
 * https://www.postgresql.org/docs/current/datatype-pg-lsn.html
 */
export type Lsn = bigint;

/**
 * WAL segment size is chosen at initdb (`--wal-segsize`, 1 MiB .. 1 GiB): every function naming or
 * numbering segments takes the server's (`wal_segment_size`, pg_controldata's "Bytes per WAL
 * segment", or a segment file's length). 16 MiB is only the most common value, never assumed.
 */

export function parseLsn(text: string): Lsn {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new Error(`not an LSN: "${text}"`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function parseLsnOrNull(text: string | null | undefined): Lsn | null {
  return text === null || text === undefined ? null : parseLsn(text);
}

export function formatLsn(lsn: Lsn): string {
  const hi = lsn >> 32n;
  const lo = lsn & 0xffffffffn;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

function hex8(n: bigint): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** WAL segment file name holding `lsn` on timeline `tli` (pg_walfile_name). */
export function walFileName(tli: number, lsn: Lsn, segmentSize: bigint): string {
  const segNo = lsn / segmentSize;
  const segsPerXlogId = 0x100000000n / segmentSize;
  return `${hex8(BigInt(tli))}${hex8(segNo / segsPerXlogId)}${hex8(segNo % segsPerXlogId)}`;
}

interface WalFileParts {
  timeline: number;
  segNo: bigint;
}

export const WAL_SEGMENT_RE = /^[0-9A-F]{24}$/;

export function parseWalFileName(name: string, segmentSize: bigint): WalFileParts {
  if (!WAL_SEGMENT_RE.test(name)) throw new Error(`not a WAL segment file name: "${name}"`);
  const segsPerXlogId = 0x100000000n / segmentSize;
  const tli = Number.parseInt(name.slice(0, 8), 16);
  const log = BigInt(`0x${name.slice(8, 16)}`);
  const seg = BigInt(`0x${name.slice(16, 24)}`);
  return { timeline: tli, segNo: log * segsPerXlogId + seg };
}

/** First LSN of a segment. */
export function segmentStartLsn(segNo: bigint, segmentSize: bigint): Lsn {
  return segNo * segmentSize;
}

export function walFileNameForSegNo(tli: number, segNo: bigint, segmentSize: bigint): string {
  return walFileName(tli, segNo * segmentSize, segmentSize);
}
