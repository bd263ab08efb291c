import { setTimeout as sleep } from 'node:timers/promises';
import { fileNameOfKey, parseWalFile } from '../archive/store/layout.js';
import type { ArchiveStore } from '../archive/store/store.js';
import type { BackupDescriptor } from '../backup/layout.js';
import type { Context } from '../context.js';
import { ExitCode, PgFollowerError } from '../errors.js';
import { connect, localConninfo, type PgClient } from '../postgres/client.js';
import { parseLsn, parseWalFileName, segmentStartLsn, type Lsn } from '../postgres/lsn.js';

/** How long replay may stand still before the wait for the archive's end gives up (not an error). */
const IDLE_MS = 30_000;

/**
 * Start LSN of the newest WAL segment in the archive on the backup's end timeline or later: a
 * follower restored with the leader down can replay at least that far from the archive alone.
 * Undefined when the archive has no segment past the backup.
 */
export async function newestArchivedSegmentStart(
  store: ArchiveStore,
  backup: Pick<BackupDescriptor, 'endTimeline' | 'endLsn' | 'walSegmentSize'>,
  signal?: AbortSignal,
): Promise<Lsn | undefined> {
  const size = BigInt(backup.walSegmentSize);
  let newest: bigint | undefined;
  for (const object of await store.list('wal/', { signal })) {
    const name = fileNameOfKey(object.key);
    const file = name ? parseWalFile(name) : undefined;
    if (file?.kind !== 'segment' || file.timeline < backup.endTimeline) continue;
    const { segNo } = parseWalFileName(file.name, size);
    if (newest === undefined || segNo > newest) newest = segNo;
  }
  if (newest === undefined) return undefined;
  const start = segmentStartLsn(newest, size);
  return start > parseLsn(backup.endLsn) ? start : undefined;
}

/**
 * Waits until the local server has replayed to `required` (the backup's end: consistency), failing
 * at the deadline; then, when `archiveEnd` is given, goes on until it has replayed what the archive
 * held (the start of its newest segment), returning early without error at the deadline or when
 * replay stands still for 30 s. A replay rate measured over the whole archive backlog is what
 * `estimate` needs; one over the backup's own few segments is mostly server start-up.
 */
export async function waitForReplay(
  ctx: Context,
  required: Lsn,
  timeoutMs: number,
  archiveEnd?: Lsn,
): Promise<string> {
  const deadline = ctx.clock.now() + timeoutMs;
  let last: string | null = null;
  let lastProgress = ctx.clock.now();
  let client: PgClient | undefined;
  try {
    while (ctx.clock.now() < deadline) {
      try {
        client ??= await connect(localConninfo(ctx.config.node), {
          signal: ctx.signal,
          connectTimeoutMs: 3000,
          queryTimeoutMs: 3000,
        });
        const { rows } = await client.query<{ lsn: string | null }>(
          'SELECT pg_last_wal_replay_lsn()::text AS lsn',
        );
        const now = rows[0]?.lsn ?? null;
        if (now !== null && now !== last) lastProgress = ctx.clock.now();
        last = now;
        if (last !== null && parseLsn(last) >= required) {
          if (archiveEnd === undefined || parseLsn(last) >= archiveEnd) return last;
          if (ctx.clock.now() - lastProgress > IDLE_MS) return last;
        }
      } catch {
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await sleep(250, undefined, { signal: ctx.signal });
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
  if (last !== null && parseLsn(last) >= required) return last;
  throw new PgFollowerError(
    'NOT_REPLAYING',
    `the follower did not replay the backup's WAL within ${Math.round(timeoutMs / 1000)} s (replayed to ${last ?? 'nothing'})`,
    ExitCode.FAILED,
    {
      hint: 'read the server log: restore_command must find the WAL in the archive (pgfollower archive check)',
    },
  );
}
