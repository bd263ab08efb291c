import { mkdir, readdir, rm, stat, writeFile, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../config/schema.js';
import type { Context } from '../../context.js';
import { fsArchiveTempDirs, orphanAgeMs, sweepOrphanTemps } from '../store/sweep.js';
import { pushWal } from './push.js';
import { shellQuote } from '../../util/shell.js';
import type { ArchiveStore } from '../store/store.js';
import { selfCommand } from '../../exec/self.js';

/**
 * The leader's side of the fast path, like the prefetcher on the follower's: PostgreSQL runs
 * archive_command once per segment, one at a time, and a Node process per call costs most of a
 * second, so a busy leader would pile up `.ready` segments. `pgfollower archive push-ahead` pushes
 * every `.ready` segment as soon as it appears, several at once, through the same `pushWal` as
 * `wal-push` (durable, never overwriting, verified), and leaves `<name>.pushed` in a spool.
 * archive_command is then a shell line that consumes that marker (success without starting Node)
 * and only falls back to `wal-push` when the segment was not pushed ahead.
 *
 * Safe because a `.ready` segment is complete and never changes under its name, and the marker is
 * written only after the object is durably stored; pgBackRest's asynchronous archive-push works the
 * same way.
 * https://www.postgresql.org/docs/current/continuous-archiving.html#BACKUP-ARCHIVING-WAL
 */

export const PUSHED_SUFFIX = '.pushed';

export function pushSpoolFor(config: Readonly<Config>): string | undefined {
  if (config.archive.pushSpoolDirectory) return config.archive.pushSpoolDirectory;
  if (config.node.dataDirectory) return join(config.node.dataDirectory, 'pg_wal', '.pgfollower-pushed');
  return undefined;
}

/**
 * archive_command for the leader: the marker fast path, then `wal-push`. Without a data directory
 * (no push-ahead) just `wal-push`.
 */
export function archiveCommandFor(
  config: Readonly<Config>,
  options: { configFile?: string | undefined } = {},
): string {
  const base = config.archive.command ?? selfCommand().map(shellQuote).join(' ');
  const configArg = options.configFile ? ` --config ${shellQuote(options.configFile)}` : '';
  const fallback = `exec ${base}${configArg} wal-push %p`;
  const spool = pushSpoolFor(config);
  if (!spool) return fallback;
  const marker = `${shellQuote(`${spool}/`)}%f${PUSHED_SUFFIX}`;
  return `rm ${marker} 2>/dev/null || ${fallback}`;
}

export interface PushAheadOptions {
  store: ArchiveStore;
  dataDirectory: string;
  spoolDir: string;
  concurrency?: number;
  /** How often archive_status is read when nothing is pending. */
  pollMs?: number;
}

export interface PushAhead {
  /** Segments pushed ahead so far. */
  readonly pushed: number;
  readonly failed: number;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startPushAhead(ctx: Context, options: PushAheadOptions): Promise<PushAhead> {
  const log = ctx.logger.child({ component: 'push-ahead' });
  const runAs = ctx.exec.runAs;
  await mkdir(options.spoolDir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(options.spoolDir, runAs.uid, runAs.gid);
  const statusDir = join(options.dataDirectory, 'pg_wal', 'archive_status');
  // On the leader, a killed wal-push leaves `.tmp.*` in the fs archive: sweep old ones at start.
  if (ctx.config.archive.type === 'fs' && ctx.config.archive.fs) {
    const removed = await sweepOrphanTemps(
      await fsArchiveTempDirs(ctx.config.archive.fs.path),
      orphanAgeMs(ctx.config.archive.timeoutMs),
      ctx.clock.now(),
    ).catch(() => []);
    if (removed.length > 0)
      log.info({ removed }, `removed ${removed.length} orphan temp file(s) from the archive`);
  }
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const inFlight = new Set<string>();
  const failedAt = new Map<string, number>();
  let pushed = 0;
  let failed = 0;
  const concurrency = options.concurrency ?? 4;

  async function pushOne(name: string): Promise<void> {
    try {
      await pushWal(
        { ...ctx, signal: controller.signal },
        options.store,
        join(options.dataDirectory, 'pg_wal', name),
      );
      const marker = join(options.spoolDir, `${name}${PUSHED_SUFFIX}`);
      await writeFile(marker, '', { mode: 0o600 });
      if (runAs) await chown(marker, runAs.uid, runAs.gid);
      pushed++;
      failedAt.delete(name);
    } catch (error) {
      failed++;
      failedAt.set(name, ctx.clock.now());
      // archive_command's fallback (wal-push) still archives it, and says why if it cannot.
      log.warn(
        { segment: name, err: (error as Error).message },
        `pushing ${name} ahead failed; archive_command will push it itself`,
      );
    } finally {
      inFlight.delete(name);
    }
  }

  /** Removes markers whose segment PostgreSQL no longer lists as ready (archived or recycled). */
  async function sweep(ready: Set<string>): Promise<void> {
    for (const entry of await readdir(options.spoolDir).catch(() => [] as string[])) {
      if (!entry.endsWith(PUSHED_SUFFIX)) continue;
      const name = entry.slice(0, -PUSHED_SUFFIX.length);
      if (ready.has(name) || inFlight.has(name)) continue;
      const age =
        ctx.clock.now() - (await stat(join(options.spoolDir, entry)).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
      if (age > 60_000) await rm(join(options.spoolDir, entry), { force: true });
    }
  }

  const done = (async () => {
    let lastSweep = 0;
    while (!controller.signal.aborted) {
      const entries = await readdir(statusDir).catch(() => [] as string[]);
      const ready = new Set(
        entries.filter((e) => e.endsWith('.ready')).map((e) => e.slice(0, -'.ready'.length)),
      );
      const markers = new Set(await readdir(options.spoolDir).catch(() => [] as string[]));
      // Oldest first: PostgreSQL archives in order, so the next one it asks for is pushed first.
      const todo = [...ready]
        .sort()
        .filter(
          (name) =>
            !inFlight.has(name) &&
            !markers.has(`${name}${PUSHED_SUFFIX}`) &&
            ctx.clock.now() - (failedAt.get(name) ?? 0) > 5_000,
        );
      for (const name of todo) {
        if (inFlight.size >= concurrency) break;
        inFlight.add(name);
        void pushOne(name);
      }
      if (ctx.clock.now() - lastSweep > 30_000) {
        lastSweep = ctx.clock.now();
        await sweep(ready);
      }
      await sleep(todo.length > 0 ? 20 : (options.pollMs ?? 200), undefined, {
        signal: controller.signal,
      }).catch(() => undefined);
    }
    while (inFlight.size > 0) await sleep(20);
  })();

  return {
    get pushed() {
      return pushed;
    },
    get failed() {
      return failed;
    },
    done,
    async stop() {
      controller.abort();
      ctx.signal.removeEventListener('abort', onAbort);
      await done;
    },
  };
}
