import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '../../context.js';
import type { CheckResult } from '../../errors.js';
import type { ArchiveStore } from '../../archive/store/store.js';
import { withClient } from '../../postgres/client.js';
import { formatLsn, parseLsn, walFileNameForSegNo, type Lsn } from '../../postgres/lsn.js';
import { readNodePosition, type NodePosition } from '../../postgres/replica-state.js';
import { readSetting } from '../local-node.js';

/**
 * Promote must not end recovery while the archive still holds WAL this node has not replayed: a
 * commit the old leader archived but never streamed to us would be lost. PostgreSQL itself reads
 * the archive between streaming attempts when restore_command is set, so "draining" means: make
 * sure restore_command is set, then wait until replay has reached the newest archived segment on
 * our timeline. https://www.postgresql.org/docs/current/warm-standby.html#STANDBY-SERVER-OPERATION
 */

interface ArchiveDrainCheck {
  check: Omit<CheckResult, 'name'>;
  /** Position after draining, when we waited. */
  position?: NodePosition;
}

export async function checkArchiveDrained(
  ctx: Context,
  local: string,
  position: NodePosition,
  options: { dryRun: boolean; timeoutMs: number },
): Promise<ArchiveDrainCheck> {
  if (ctx.config.archive.type === 'none') {
    return { check: { ok: true, detail: 'no archive configured (archive.type: none)' } };
  }
  let store: ArchiveStore | undefined;
  try {
    // Loaded only when an archive is configured: the S3 SDK alone costs about a second of start-up,
    // which a promote without an archive must not pay.
    const { openArchiveStore } = await import('../../archive/store/open-store.js');
    store = openArchiveStore(ctx.config);
    return await drain(ctx, store, local, position, options);
  } catch (error) {
    return {
      check: {
        ok: false,
        forceable: true,
        detail: `cannot read the archive${store ? ` ${store.description}` : ''}: ${(error as Error).message}; a commit that is only archived could be lost`,
      },
    };
  } finally {
    store?.close();
  }
}

async function drain(
  ctx: Context,
  store: ArchiveStore,
  local: string,
  position: NodePosition,
  options: { dryRun: boolean; timeoutMs: number },
): Promise<ArchiveDrainCheck> {
  const { listArchive, newestSegment } = await import('../../archive/follower/listing.js');
  const listing = await listArchive(store, position.timeline, ctx.signal);
  if (listing.newerTimelines.length > 0) {
    return {
      check: {
        ok: false,
        forceable: true,
        detail: `${store.description} already has timeline ${Math.max(...listing.newerTimelines)}: another node was promoted from this history; follow it instead, or --force if that timeline is a dead attempt`,
        numbers: { our_timeline: position.timeline, archive_timelines: listing.newerTimelines.join(',') },
      },
    };
  }
  // The node's own segment size (initdb --wal-segsize), never an assumed 16 MiB.
  const SEGMENT = position.walSegmentSizeBytes;
  const newest = newestSegment(listing.segments, SEGMENT);
  const replay = position.replayLsn ?? 0n;
  const numbers = (at: Lsn): Record<string, string | number> => ({
    replay_lsn: formatLsn(at),
    replay_segment: walFileNameForSegNo(position.timeline, at / SEGMENT, SEGMENT),
    newest_archived: newest === null ? 'none' : walFileNameForSegNo(position.timeline, newest, SEGMENT),
  });
  if (newest === null || replay / SEGMENT > newest) {
    return {
      check: {
        ok: true,
        detail: `${store.description} holds nothing beyond our replay position`,
        numbers: numbers(replay),
      },
    };
  }
  const count = newest - replay / SEGMENT + 1n;
  if (options.dryRun) {
    return {
      check: {
        ok: true,
        detail: `${store.description} holds ${count} segment(s) from our replay position on; promote fetches and replays them first`,
        numbers: numbers(replay),
      },
    };
  }

  return withClient(local, { signal: ctx.signal, connectTimeoutMs: 10_000 }, async (client) => {
    const restoreCommand = await readSetting(client, 'restore_command');
    let how: string;
    if (restoreCommand) {
      how = 'through restore_command';
    } else {
      // Without restore_command PostgreSQL still reads pg_wal between streaming attempts: put the
      // archived segments there (verified, atomically), and replay picks them up.
      const dataDirectory = ctx.config.node.dataDirectory;
      if (!dataDirectory) {
        return {
          check: {
            ok: false,
            forceable: true,
            detail: `${store.description} holds ${count} segment(s) we have not replayed, restore_command is not set and node.dataDirectory is unknown: set either and rerun promote`,
            numbers: numbers(replay),
          },
        };
      }
      ctx.reporter.step(
        `restore_command is not set: copying ${count} archived segment(s) into ${join(dataDirectory, 'pg_wal')}`,
      );
      for (let segNo = replay / SEGMENT; segNo <= newest; segNo++) {
        const name = walFileNameForSegNo(position.timeline, segNo, SEGMENT);
        const { fetchWal } = await import('../../archive/follower/fetch.js');
        await fetchWal(ctx, store, name, join(dataDirectory, 'pg_wal', name));
      }
      how = `copied into pg_wal (${count} segment(s))`;
    }
    ctx.reporter.step(
      `archive holds WAL up to ${walFileNameForSegNo(position.timeline, newest, SEGMENT)}: waiting up to ${Math.round(options.timeoutMs / 1000)}s for replay to reach it`,
    );
    // Drained when replay is past the newest archived segment, or inside it and no longer moving
    // (its last record may continue into a segment nobody archived). PostgreSQL retries sources
    // every wal_retrieve_retry_interval (5 s by default), hence the quiet period.
    const deadline = ctx.clock.now() + options.timeoutMs;
    let at = replay;
    let lastMove = ctx.clock.now();
    while (ctx.clock.now() < deadline) {
      const row = (await client.query<{ l: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS l'))
        .rows[0];
      const now = row?.l ? parseLsn(row.l) : at;
      if (now !== at) lastMove = ctx.clock.now();
      at = now;
      if (at / SEGMENT > newest) break;
      if (at / SEGMENT === newest && ctx.clock.now() - lastMove > 6000) break;
      await delay(200, undefined, { signal: ctx.signal });
    }
    const after = await readNodePosition(client);
    return {
      position: after,
      check:
        at / SEGMENT >= newest
          ? {
              ok: true,
              detail: `replayed archived WAL ${how}: now at ${formatLsn(at)} (${at - replay} bytes more than before)`,
              numbers: numbers(at),
            }
          : {
              ok: false,
              forceable: true,
              detail: `after ${Math.round(options.timeoutMs / 1000)}s replay is still before the newest archived segment (${how}): read the server log`,
              numbers: numbers(at),
            },
    };
  });
}
