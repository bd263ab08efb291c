import { open } from 'node:fs/promises';
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
