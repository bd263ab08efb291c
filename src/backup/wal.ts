import { setTimeout as sleep } from 'node:timers/promises';
import { fileNameOfKey, timelineDir } from '../archive/store/layout.js';
import type { ArchiveStore } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { ArchiveError } from '../errors.js';
import { withClient } from '../postgres/client.js';
import { parseLsn, walFileName } from '../postgres/lsn.js';
import type { WalRange } from './layout.js';

/**
 * The WAL segment files a backup needs, from the manifest's WAL ranges: every segment from the
 * start LSN to the end LSN on each range's timeline. When a range ends at a timeline switch, its
 * last segment is read from the next timeline's file (the old timeline's copy may only exist as
 * .partial), so that one is left out.
 */
export function walFilesForRanges(ranges: readonly WalRange[], segmentSize: number): string[] {
  const size = BigInt(segmentSize);
  const out: string[] = [];
  ranges.forEach((range, index) => {
    const start = parseLsn(range.startLsn) / size;
    const endLsn = parseLsn(range.endLsn);
    // The segment holding the last byte before endLsn.
    let end = (endLsn > 0n ? endLsn - 1n : 0n) / size;
    if (end < start) end = start;
    const last = index === ranges.length - 1 ? end : end - 1n;
    for (let seg = start; seg <= last; seg++) out.push(walFileName(range.timeline, seg * size, size));
  });
  return [...new Set(out)];
}

/** The names among `names` that the archive does not hold (under any codec). */
async function missingWalFiles(
  store: ArchiveStore,
  names: readonly string[],
  signal?: AbortSignal,
): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const listed = await store.list(`${timelineDir(name.slice(0, 8))}${name}`, { signal });
    if (!listed.some((o) => fileNameOfKey(o.key) === name)) missing.push(name);
  }
  return missing;
}

/**
 * Waits until every WAL file is archived, with the backup.walTimeoutMs deadline. A backup taken on
 * a standby ends inside a segment the leader has not finished: ask the leader
 * once to switch to a new segment after a second (needs pg_switch_wal's privilege; without it, archive_timeout or
 * the leader's own traffic completes the segment).
 */
export async function waitForWal(
  ctx: Context,
  store: ArchiveStore,
  walFiles: readonly string[],
  options: { switchOnLeader: boolean },
): Promise<void> {
  const deadline = ctx.clock.now() + ctx.config.backup.walTimeoutMs;
  const switchAt = ctx.clock.now() + 1000;
  let switched = !options.switchOnLeader || !ctx.config.leader.conninfo;
  let missing = [...walFiles];
  for (;;) {
    missing = await missingWalFiles(store, missing, ctx.signal);
    if (missing.length === 0) return;
    if (!switched && ctx.clock.now() >= switchAt) {
      switched = true;
      try {
        await withClient(
          ctx.config.leader.conninfo as string,
          { connectTimeoutMs: ctx.config.leader.connectTimeoutMs, signal: ctx.signal },
          (c) => c.query('SELECT pg_switch_wal()'),
        );
        ctx.logger.info(
          { component: 'backup' },
          'asked the leader to switch WAL segments so the end of the backup gets archived',
        );
      } catch (error) {
        ctx.logger.info(
          { component: 'backup', err: (error as Error).message },
          'could not ask the leader to switch WAL segments; waiting for it to archive the segment by itself',
        );
      }
    }
    if (ctx.clock.now() >= deadline) {
      throw new ArchiveError(
        `the backup's WAL did not reach the archive within ${Math.round(ctx.config.backup.walTimeoutMs / 1000)} s: missing ${missing.join(', ')}`,
        {
          code: 'BACKUP_WAL_MISSING',
          hint: "check the leader's archiver (pg_stat_archiver, archive_command) and set archive_timeout on the leader; the parts are kept as an incomplete backup that backup expire removes",
        },
      );
    }
    await sleep(1000, undefined, { signal: ctx.signal });
  }
}
