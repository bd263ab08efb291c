import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The database system identifier of a data directory, read from `global/pg_control` without
 * pg_controldata: ControlFileData starts with `uint64 system_identifier` in every PostgreSQL
 * version (src/include/catalog/pg_control.h), little-endian on the platforms served here. The same
 * number sits at offset 24 of every WAL segment's long page header, so a segment from another
 * cluster can be told apart before PostgreSQL reads it. Undefined when there is no control file.
 */
export async function readSystemIdentifier(dataDirectory: string): Promise<bigint | undefined> {
  let handle;
  try {
    handle = await open(join(dataDirectory, 'global', 'pg_control'), 'r');
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(8);
    const { bytesRead } = await handle.read(buffer, 0, 8, 0);
    if (bytesRead < 8) return undefined;
    const id = buffer.readBigUInt64LE(0);
    return id === 0n ? undefined : id;
  } finally {
    await handle.close();
  }
}

/**
 * This cluster's WAL segment size, from the long page header (segment size at offset 32) of a
 * segment in `pg_wal`: never assumed to be 16 MiB. Undefined when no segment there is readable.
 */
export async function readLocalSegmentSize(dataDirectory: string): Promise<number | undefined> {
  let names: string[];
  try {
    names = (await readdir(join(dataDirectory, 'pg_wal'))).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
  } catch {
    return undefined;
  }
  for (const name of names.slice(-3)) {
    let handle;
    try {
      handle = await open(join(dataDirectory, 'pg_wal', name), 'r');
    } catch {
      continue;
    }
    try {
      const header = Buffer.alloc(40);
      const { bytesRead } = await handle.read(header, 0, 40, 0);
      if (bytesRead < 40) continue;
      const magic = header.readUInt16LE(0);
      const size = header.readUInt32LE(32);
      if (
        magic >= 0xd000 &&
        magic <= 0xd1ff &&
        size >= 1 << 20 &&
        size <= 1 << 30 &&
        (size & (size - 1)) === 0
      )
        return size;
    } finally {
      await handle.close();
    }
  }
  return undefined;
}
