import { watch, type FSWatcher } from 'node:fs';
import { chown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
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
 * every `.ready` segment as soon as it appears, several at once (archive.pushConcurrency), through
 * the same `pushWal` as `wal-push` (durable, never overwriting, verified), and only then leaves
 * `<name>.pushed` in a spool. archive_command is a POSIX sh line (archiveCommandFor) that, while
 * the archiver runs, waits for that marker and consumes it (success without starting Node), and
 * runs `wal-push` itself when the archiver is not running, failed that segment (`<name>.failed`)
 * or took too long.
 *
 * Safe because a `.ready` segment is complete and never changes under its name, the marker is
 * written only after the object is durably stored, and a marker counts only while the archiver
 * that wrote it runs (it clears the spool when it starts). pgBackRest's asynchronous archive-push
 * works the same way, except that it drops WAL when its queue is full (archive-push-queue-max);
 * here a large backlog raises an alert and every segment is kept.
 * https://www.postgresql.org/docs/current/continuous-archiving.html#BACKUP-ARCHIVING-WAL
 */

export const PUSHED_SUFFIX = '.pushed';
export const FAILED_SUFFIX = '.failed';
/** The running archiver's process id, for archive_command's liveness check (`kill -0`). */
export const ARCHIVER_PID_FILE = 'archiver.pid';
/** The longest archive_command waits for the archiver before pushing the segment itself. */
const maxWaitMs = 10_000;
const waitStepMs = 50;

export function pushSpoolFor(config: Readonly<Config>): string | undefined {
  if (config.archive.pushSpoolDirectory) return config.archive.pushSpoolDirectory;
  if (config.node.dataDirectory) return join(config.node.dataDirectory, 'pg_wal', '.pgfollower-pushed');
  return undefined;
}

/**
 * archive_command for the leader. With a push spool (node.dataDirectory or
 * archive.pushSpoolDirectory):
 *
 *   d='<spool>/'; p=$(cat "$d"archiver.pid 2>/dev/null); i=0
 *   alive() { [ "$p" -gt 1 ] 2>/dev/null && { kill -0 "$p" 2>/dev/null || ps -p "$p" >/dev/null 2>&1; }; }
 *   while alive && [ ! -e "$d"%f.pushed ] && [ ! -e "$d"%f.failed ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
 *   alive && rm "$d"%f.pushed 2>/dev/null && exit 0
 *   exec node pgfollower --config <file> wal-push %p
 *
 * (one line, `;`-separated). Only POSIX sh, cat, kill, ps, rm and sleep; exit 0 only when the
 * archiver stored the segment durably, or from `wal-push` itself. `kill -0` answers for an archiver
 * of the same OS user as PostgreSQL, `ps -p` for one running as root. A pid reused after the
 * archiver died costs at most one wait (a marker is written only after a durable store, and a new
 * archiver clears old ones).
 * Without a spool: just `wal-push`.
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
  const steps = Math.max(1, Math.ceil(Math.min(config.archive.timeoutMs, maxWaitMs) / waitStepMs));
  // `sleep 0.05` is not POSIX (integer seconds) but every Linux sleep takes it; a strict one
  // errors and `sleep 1` keeps the loop from spinning.
  return [
    `d=${shellQuote(`${spool}/`)}`,
    `p=$(cat "$d"${ARCHIVER_PID_FILE} 2>/dev/null)`,
    'i=0',
    'alive() { [ "$p" -gt 1 ] 2>/dev/null && { kill -0 "$p" 2>/dev/null || ps -p "$p" >/dev/null 2>&1; }; }',
    `while alive && [ ! -e "$d"%f${PUSHED_SUFFIX} ] && [ ! -e "$d"%f${FAILED_SUFFIX} ] && [ $i -lt ${steps} ]; do sleep ${waitStepMs / 1000} 2>/dev/null || sleep 1; i=$((i+1)); done`,
    `alive && rm "$d"%f${PUSHED_SUFFIX} 2>/dev/null && exit 0`,
    fallback,
  ].join('; ');
}

interface Backlog {
  /** Segments PostgreSQL has marked `.ready` and not yet archived (history/backup files not counted). */
  segments: number;
  bytes: number;
}

export interface BacklogAlert extends Backlog {
  status: 'firing' | 'resolved';
  thresholdBytes: number;
}

interface PushAheadOptions {
  store: ArchiveStore;
  dataDirectory: string;
  spoolDir: string;
  concurrency?: number;
  /** How often archive_status is read when nothing is pending (a file watch wakes it sooner). */
  pollMs?: number;
  /** Alert above this many bytes of ready WAL (0: never); resolves below half of it. */
  backlogAlertBytes?: number;
  /** Called when the backlog alert fires or resolves (the command sends it to alert channels). */
  onBacklogAlert?: (alert: BacklogAlert) => void;
}

interface PushAhead {
  /** Segments pushed ahead so far. */
  readonly pushed: number;
  readonly failed: number;
  readonly backlog: Backlog;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

const SEGMENT_RE = /^[0-9A-F]{24}$/;

export async function startPushAhead(ctx: Context, options: PushAheadOptions): Promise<PushAhead> {
  const log = ctx.logger.child({ component: 'push-ahead' });
  const runAs = ctx.exec.runAs;
  const spool = options.spoolDir;
  const own = async (path: string): Promise<void> => {
    if (runAs) await chown(path, runAs.uid, runAs.gid);
  };
  await mkdir(spool, { recursive: true, mode: 0o700 });
  await own(spool);
  // Markers from an earlier run are not trusted: archive_command pushes those segments itself
  // (an identical copy in the archive is success), so no marker can outlive what it vouches for.
  for (const entry of await readdir(spool)) {
    if (entry.endsWith(PUSHED_SUFFIX) || entry.endsWith(FAILED_SUFFIX))
      await rm(join(spool, entry), { force: true });
  }
  const pidFile = join(spool, ARCHIVER_PID_FILE);
  const pidTemp = `${pidFile}.${process.pid}.tmp`;
  await writeFile(pidTemp, `${process.pid}\n`, { mode: 0o644 });
  await own(pidTemp);
  await rename(pidTemp, pidFile);

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
  let backlog: Backlog = { segments: 0, bytes: 0 };
  let segmentBytes = 0;
  let alerting = false;
  const concurrency = options.concurrency ?? 4;
  /**
   * Pushed by this run and still listed ready: archive_command may already have consumed the
   * marker while PostgreSQL has not yet renamed `.ready`; without this it would be pushed again.
   */
  const pushedNames = new Set<string>();
  const thresholdBytes = options.backlogAlertBytes ?? 0;

  // Wake the loop as soon as PostgreSQL marks a segment ready (and when a push finishes), instead
  // of at the next poll: archive_command is already waiting for it.
  let wake: (() => void) | undefined;
  const wakeUp = (): void => {
    wake?.();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(statusDir, wakeUp);
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // polling alone still works
  }

  async function writeMarker(name: string, suffix: string): Promise<void> {
    const marker = join(spool, `${name}${suffix}`);
    await writeFile(marker, '', { mode: 0o644 });
    await own(marker);
  }

  async function pushOne(name: string): Promise<void> {
    try {
      await pushWal(
        { ...ctx, signal: controller.signal },
        options.store,
        join(options.dataDirectory, 'pg_wal', name),
      );
      // Durably stored (pushWal returns only then): now, and only now, vouch for it.
      await rm(join(spool, `${name}${FAILED_SUFFIX}`), { force: true });
      await writeMarker(name, PUSHED_SUFFIX);
      pushed++;
      pushedNames.add(name);
      failedAt.delete(name);
    } catch (error) {
      failed++;
      failedAt.set(name, ctx.clock.now());
      if (!controller.signal.aborted) {
        // archive_command sees this and pushes the segment itself (and says why if it cannot).
        await writeMarker(name, FAILED_SUFFIX).catch(() => undefined);
        log.warn(
          { segment: name, err: (error as Error).message },
          `pushing ${name} ahead failed; archive_command pushes it itself, and this archiver retries in 5s`,
        );
      }
    } finally {
      inFlight.delete(name);
      wakeUp();
    }
  }

  /** Removes markers whose segment PostgreSQL no longer lists as ready (archived or recycled). */
  async function sweep(ready: Set<string>): Promise<void> {
    for (const entry of await readdir(spool).catch(() => [] as string[])) {
      const suffix = entry.endsWith(PUSHED_SUFFIX)
        ? PUSHED_SUFFIX
        : entry.endsWith(FAILED_SUFFIX)
          ? FAILED_SUFFIX
          : '';
      if (!suffix) continue;
      const name = entry.slice(0, -suffix.length);
      if (ready.has(name) || inFlight.has(name)) continue;
      const age = ctx.clock.now() - (await stat(join(spool, entry)).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
      if (age > 60_000) await rm(join(spool, entry), { force: true });
    }
  }

  async function checkBacklog(ready: Set<string>): Promise<void> {
    const segments = [...ready].filter((n) => SEGMENT_RE.test(n));
    if (segments.length > 0 && segmentBytes === 0) {
      // The server's segment size, from a segment file itself (never assume 16 MiB).
      segmentBytes = (
        await stat(join(options.dataDirectory, 'pg_wal', segments[0] as string)).catch(() => ({ size: 0 }))
      ).size;
    }
    backlog = { segments: segments.length, bytes: segments.length * segmentBytes };
    if (thresholdBytes <= 0) return;
    if (!alerting && backlog.bytes > thresholdBytes) {
      alerting = true;
      log.error(
        { ...backlog, thresholdBytes },
        `${backlog.segments} WAL segments (${Math.round(backlog.bytes / 1048576)} MB) wait to be archived, more than archive.pushBacklogAlertBytes: pg_wal grows until the archive keeps up; nothing is dropped. Check the archive's speed and errors above, and the leader's free disk`,
      );
      options.onBacklogAlert?.({ status: 'firing', ...backlog, thresholdBytes });
    } else if (alerting && backlog.bytes <= thresholdBytes / 2) {
      alerting = false;
      log.info({ ...backlog, thresholdBytes }, `archive backlog is down to ${backlog.segments} segments`);
      options.onBacklogAlert?.({ status: 'resolved', ...backlog, thresholdBytes });
    }
  }

  const done = (async () => {
    let lastSweep = ctx.clock.now();
    let lastBacklog = 0;
    while (!controller.signal.aborted) {
      const entries = await readdir(statusDir).catch(() => [] as string[]);
      const ready = new Set(
        entries.filter((e) => e.endsWith('.ready')).map((e) => e.slice(0, -'.ready'.length)),
      );
      const markers = new Set(await readdir(spool).catch(() => [] as string[]));
      // Oldest first: PostgreSQL archives in order, so the next one it asks for is pushed first.
      const todo = [...ready]
        .sort()
        .filter(
          (name) =>
            !inFlight.has(name) &&
            !pushedNames.has(name) &&
            !markers.has(`${name}${PUSHED_SUFFIX}`) &&
            ctx.clock.now() - (failedAt.get(name) ?? 0) > 5_000,
        );
      for (const name of todo) {
        if (inFlight.size >= concurrency) break;
        inFlight.add(name);
        void pushOne(name);
      }
      for (const name of pushedNames) if (!ready.has(name)) pushedNames.delete(name);
      if (ctx.clock.now() - lastBacklog >= 1_000) {
        lastBacklog = ctx.clock.now();
        await checkBacklog(ready);
      }
      if (ctx.clock.now() - lastSweep > 30_000) {
        lastSweep = ctx.clock.now();
        await sweep(ready);
      }
      const woken = new Promise<void>((resolve) => (wake = resolve));
      await Promise.race([
        woken,
        sleep(options.pollMs ?? 200, undefined, { signal: controller.signal }).catch(() => undefined),
      ]);
      wake = undefined;
    }
    watcher?.close();
    while (inFlight.size > 0) await sleep(20);
    // archive_command stops waiting for this archiver at once, and stops trusting its markers.
    const current = await readFile(pidFile, 'utf8').catch(() => '');
    if (current.trim() === String(process.pid)) await rm(pidFile, { force: true });
  })();

  return {
    get pushed() {
      return pushed;
    },
    get failed() {
      return failed;
    },
    get backlog() {
      return backlog;
    },
    done,
    async stop() {
      controller.abort();
      wakeUp();
      ctx.signal.removeEventListener('abort', onAbort);
      await done;
    },
  };
}
