import { fileNameOfKey, parseWalFile } from '../archive/store/layout.js';
import type { ArchiveStore } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { connect, localConninfo, withClient } from '../postgres/client.js';
import { parseLsn, parseWalFileName, walFileNameForSegNo } from '../postgres/lsn.js';
import { backupDir, descriptorKey } from './layout.js';
import { listBackups, listLeftoverFolders, type LeftoverFolder } from './list.js';

interface WalProtection {
  /** Who needs WAL from here on: "backup <id>", "this follower's restart point", "slot <name> on the leader". */
  by: string;
  lsn: string;
  segment: string;
}

interface ExpirePlan {
  keepCount: number;
  kept: string[];
  removeBackups: Array<{ id: string; complete: boolean; keys: string[] }>;
  /** Oldest segment still needed; every segment before it (any timeline) is removed. */
  oldestNeededSegment: string | undefined;
  protections: WalProtection[];
  removeWal: string[];
  /** Folders holding only `.meta` sidecars of parts removed by old code: never backups, always removed. */
  removeLeftovers: LeftoverFolder[];
  /** Why nothing is removed, when that is the case. */
  note: string | undefined;
}

/**
 * Retention: keep the newest `backup.keep` complete backups and the WAL from the oldest kept one's
 * start on. WAL that anything else still needs, as far as the archive side can know it, is kept
 * too: this follower's last restart point (where replay resumes after a restart) and the
 * restart_lsn of every physical slot on the leader (followers that are down). `.history` files
 * are never removed (small, and every timeline switch after a kept backup needs them).
 * Incomplete backups older than the newest complete one are abandoned and removed.
 */
export async function planExpire(
  ctx: Context,
  store: ArchiveStore,
  options: { keep?: number } = {},
): Promise<ExpirePlan> {
  const keepCount = options.keep ?? ctx.config.backup.keep;
  const backups = await listBackups(store, ctx.signal);
  const removeLeftovers = await listLeftoverFolders(store, ctx.signal);
  const complete = backups.filter((b) => b.descriptor);
  const empty = (note: string): ExpirePlan => ({
    removeLeftovers,
    keepCount,
    kept: complete.map((b) => b.id),
    removeBackups: [],
    oldestNeededSegment: undefined,
    protections: [],
    removeWal: [],
    note,
  });
  if (complete.length === 0) return empty('no complete backup in the archive: nothing is removed');
  const kept = complete.slice(-keepCount);
  const newestComplete = complete.at(-1)?.id as string;
  const keptIds = new Set(kept.map((b) => b.id));
  const remove = backups.filter((b) => !keptIds.has(b.id) && (b.complete || b.id < newestComplete));

  const segmentSize = kept[0]?.descriptor?.walSegmentSize ?? 16 * 1024 * 1024;
  const size = BigInt(segmentSize);
  const protections: WalProtection[] = [];
  const protect = (by: string, lsn: string, timeline: number): void => {
    protections.push({ by, lsn, segment: walFileNameForSegNo(timeline, parseLsn(lsn) / size, size) });
  };
  for (const b of kept) {
    const d = b.descriptor;
    if (d) protect(`backup ${d.id}`, d.startLsn, d.timeline);
  }
  await addLocalRestartPoint(ctx, protect);
  await addLeaderSlots(ctx, protect);

  const cutoff = protections.reduce<bigint | undefined>((min, p) => {
    const seg = parseWalFileName(p.segment, size).segNo;
    return min === undefined || seg < min ? seg : min;
  }, undefined);
  const oldest = protections.find((p) => parseWalFileName(p.segment, size).segNo === cutoff);

  const removeWal: string[] = [];
  if (cutoff !== undefined) {
    for (const object of await store.list('wal/', { signal: ctx.signal })) {
      const name = fileNameOfKey(object.key);
      const file = name ? parseWalFile(name) : undefined;
      if (!file || file.kind === 'history') continue;
      const { segNo } = parseWalFileName(file.name.slice(0, 24), size);
      if (segNo < cutoff) removeWal.push(object.key);
    }
  }
  const removeBackups: ExpirePlan['removeBackups'] = [];
  for (const b of remove) {
    const keys = (await store.list(backupDir(b.id), { signal: ctx.signal })).map((o) => o.key);
    // backup.json first: a backup half removed reads as incomplete, never as complete but damaged.
    keys.sort((a, c) => (a === descriptorKey(b.id) ? -1 : c === descriptorKey(b.id) ? 1 : a < c ? -1 : 1));
    removeBackups.push({ id: b.id, complete: b.complete, keys });
  }
  return {
    keepCount,
    kept: kept.map((b) => b.id),
    removeBackups,
    oldestNeededSegment: oldest?.segment,
    protections,
    removeWal,
    removeLeftovers,
    note: undefined,
  };
}

interface ExpireResult {
  removedBackups: string[];
  removedWal: number;
  /** Ids of leftover sidecar-only folders removed. */
  removedLeftovers: string[];
}

/**
 * Deletes what the plan names: backups first (backup.json first in each), then leftover
 * sidecar-only folders, then WAL, oldest first.
 */
export async function executeExpire(
  ctx: Context,
  store: ArchiveStore,
  plan: ExpirePlan,
): Promise<ExpireResult> {
  const log = ctx.logger.child({ component: 'backup-expire' });
  const removedBackups: string[] = [];
  for (const b of plan.removeBackups) {
    for (const key of b.keys) await store.delete(key, ctx.signal);
    removedBackups.push(b.id);
    log.info({ id: b.id, objects: b.keys.length }, `removed backup ${b.id}`);
  }
  const removedLeftovers: string[] = [];
  for (const folder of plan.removeLeftovers) {
    for (const key of folder.keys) await store.delete(key, ctx.signal);
    removedLeftovers.push(folder.id);
    log.info(
      { id: folder.id, sidecars: folder.keys.length },
      `removed leftover folder ${folder.id} (only metadata sidecars)`,
    );
  }
  let removedWal = 0;
  for (const key of plan.removeWal) {
    if (await store.delete(key, ctx.signal)) removedWal++;
  }
  if (removedWal > 0)
    log.info({ removedWal, keptFrom: plan.oldestNeededSegment }, `removed ${removedWal} WAL file(s)`);
  return { removedBackups, removedWal, removedLeftovers };
}

/** This follower resumes replay at its last restart point's REDO after a restart. */
async function addLocalRestartPoint(
  ctx: Context,
  protect: (by: string, lsn: string, timeline: number) => void,
): Promise<void> {
  if (!ctx.config.node.dataDirectory) return;
  try {
    await withClient(
      localConninfo(ctx.config.node),
      { connectTimeoutMs: 3000, queryTimeoutMs: 5000, signal: ctx.signal },
      async (c) => {
        const { rows } = await c.query<{ redo: string | null; tli: number | null }>(
          'SELECT redo_lsn::text AS redo, timeline_id AS tli FROM pg_control_checkpoint()',
        );
        const row = rows[0];
        if (row?.redo && row.tli)
          protect(`${ctx.config.node.name ?? 'this node'}'s restart point`, row.redo, row.tli);
      },
    );
  } catch (error) {
    ctx.logger.info(
      { component: 'backup-expire', err: (error as Error).message },
      'the local server does not answer; its restart point is not taken into account',
    );
  }
}

/** Followers that are down keep a slot on the leader: WAL from its restart_lsn is still needed. */
async function addLeaderSlots(
  ctx: Context,
  protect: (by: string, lsn: string, timeline: number) => void,
): Promise<void> {
  const conninfo = ctx.config.leader.conninfo;
  if (!conninfo) return;
  let client;
  try {
    client = await connect(conninfo, {
      connectTimeoutMs: ctx.config.leader.connectTimeoutMs,
      queryTimeoutMs: 5000,
      signal: ctx.signal,
    });
    const { rows } = await client.query<{ slot_name: string; restart: string; tli: number }>(
      `SELECT slot_name, restart_lsn::text AS restart,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS tli
         FROM pg_replication_slots WHERE slot_type = 'physical' AND restart_lsn IS NOT NULL`,
    );
    for (const row of rows) protect(`slot ${row.slot_name} on the leader`, row.restart, row.tli);
  } catch (error) {
    ctx.logger.info(
      { component: 'backup-expire', err: (error as Error).message },
      "the leader does not answer; its slots' positions are not taken into account",
    );
  } finally {
    await client?.end().catch(() => undefined);
  }
}
