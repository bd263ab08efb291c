import { access, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Context } from '../../context.js';
import { RefusedError } from '../../errors.js';
import { parseLsn, parseWalFileName } from '../../postgres/lsn.js';
import type { WalFile } from '../store/layout.js';

/**
 * Refuses to archive a segment PostgreSQL may still be writing. A finished segment has a status
 * file (`archive_status/<name>.ready` before it is archived, `.done` after), which is what
 * archive_command and push-ahead see; any other file of a pg_wal directory (a hand-run
 * `wal-push pg_wal/<name>`) is archived only when it is older than the server's current segment. Archiving a live segment
 * stores bytes that change afterwards, and every later archive_command of that name is refused
 * as "different content" forever. `--force-partial` stores it as `<name>.partial` instead.
 */
export async function refuseLiveSegment(ctx: Context, path: string, file: WalFile): Promise<void> {
  if (file.kind !== 'segment') return;
  const statusDir = join(dirname(path), 'archive_status');
  // Outside a pg_wal directory (no archive_status beside it) the file is a copy PostgreSQL does not
  // write to: it is archived as it is (verified like any other).
  if (!(await isDirectory(statusDir))) return;
  const status = join(statusDir, file.name);
  for (const suffix of ['.ready', '.done']) {
    if (
      await access(`${status}${suffix}`).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  const refuse = (why: string): never => {
    throw new RefusedError(`refusing to archive ${file.name}: ${why}`, [], {
      hint: `let PostgreSQL finish it (SELECT pg_switch_wal() on the leader; archive_command then archives it), or store it as ${file.name}.partial with: pgfollower wal-push --force-partial ${path}`,
    });
  };
  let current: { segmentSize: bigint; lsn: string | null };
  try {
    // Loaded here, not at import: archive_command runs wal-push once per segment, nearly always with
    // a .ready file, and loading node-postgres costs a tenth of a second of CPU.
    const { localConninfo, withClient } = await import('../../postgres/client.js');
    current = await withClient(
      localConninfo(ctx.config.node),
      { connectTimeoutMs: 5000, queryTimeoutMs: 5000, signal: ctx.signal },
      async (client) => {
        const { rows } = await client.query<{ lsn: string | null; segsize: string }>(
          `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
                (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segsize`,
        );
        const row = rows[0];
        return { segmentSize: BigInt(row?.segsize ?? '0'), lsn: row?.lsn ?? null };
      },
    );
  } catch (error) {
    return refuse(
      `it has no archive_status .ready/.done file, so it may be the segment PostgreSQL is writing, and the server (node.host/node.port) could not be asked which one that is: ${(error as Error).message}`,
    );
  }
  if (current.lsn === null || current.segmentSize <= 0n) {
    return refuse(
      'it has no archive_status .ready/.done file and the server reports no current WAL position',
    );
  }
  const currentSegNo = parseLsn(current.lsn) / current.segmentSize;
  const { segNo } = parseWalFileName(file.name, current.segmentSize);
  if (segNo >= currentSegNo) {
    refuse(
      `it is not finished: the server is writing segment ${currentSegNo.toString(16).toUpperCase()} (at ${current.lsn}) and this file has no archive_status .ready/.done file`,
    );
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}
