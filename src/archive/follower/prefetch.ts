import { chown, mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../../context.js';
import { ArchiveError } from '../../errors.js';
import { parseWalFileName, walFileNameForSegNo, WAL_SEGMENT_RE } from '../../postgres/lsn.js';
import { readVerified } from './fetch.js';
import { readLocalSegmentSize, readSystemIdentifier } from '../../postgres/control-file.js';
import { findExisting } from '../store/lookup.js';
import { parseWalFile, timelineHex } from '../store/layout.js';
import { codecOfKey, type CodecName } from '../store/codec.js';
import { clearSpool, INFLIGHT_SUFFIX, MISSING_SUFFIX, readRedoCursor, readRequested } from './spool.js';
import { createWindowSizer, describeWindow } from './window.js';
import { createBufferPool } from './buffer-pool.js';
import { createWaker } from './waker.js';
import type { ArchiveStore } from '../store/store.js';

interface PrefetcherOptions {
  store: ArchiveStore;
  spoolDir: string;
  /**
   * The most segments kept ready ahead of replay (archive.prefetch); the window in use is sized
   * from the measured replay rate and fetch latency (window.ts).
   */
  depth: number;
  /** The most downloads at once (archive.prefetchConcurrency), sized the same way. */
  concurrency: number;
  /**
   * How often the spool is looked at when nothing else happens; each look is one readdir. A fetch
   * that ends starts the next look at once. Default 50 ms.
   */
  pollMs?: number;
  /** Wait before asking the archive again for a segment it did not have. Default 1 s. */
  missingRetryMs?: number;
  /** Where replay is, when the daemon knows (the segment replay needs next); optional. */
  position?: () => string | null | undefined;
  /**
   * The follower's data directory: before the first request, the window starts at the segment of
   * its last checkpoint's REDO point (pg_controldata), where recovery starts reading, so even the
   * first segments come from the spool.
   */
  dataDirectory?: string | undefined;
  /**
   * The servers' WAL segment size when the daemon knows it (the monitor's sample). Otherwise it
   * comes from pg_controldata of dataDirectory, or from the length of the first verified segment;
   * until one of them tells, no window is fetched (never a guessed 16 MiB: after ...3F comes the
   * next log id with 64 MiB segments, ...40 with 16 MiB ones).
   */
  segmentSize?: () => bigint | null | undefined;
}

export interface PrefetchStats {
  /** Segments downloaded into the spool since start. */
  fetched: number;
  /** Segments taken from the spool by restore_command since start. */
  consumed: number;
  /** Segments ready in the spool now. */
  spooled: number;
  /** The segment replay asked for last (the window starts after it). */
  cursor: string | null;
  /** Last error talking to the archive, cleared by a success. */
  lastError: string | null;
  /** Segments ahead of replay the prefetcher keeps ready or fetching now (<= archive.prefetch). */
  window: number;
  /** Fetches it runs at once now (<= archive.prefetchConcurrency). */
  concurrency: number;
  /** Segments replay took from the spool per second, while it reads from it; null while unknown. */
  replayRate: number | null;
  /** 90th percentile of recent fetch latencies (request to file in the spool); null before one. */
  fetchLatencyMs: number | null;
}

export interface Prefetcher {
  stats(): PrefetchStats;
  stop(): Promise<void>;
  done: Promise<void>;
}

/**
 * Keeps the next `depth` segments after replay's position verified and ready in the spool, so the
 * restore_command's shell fast path finds them (restore-command.ts). Replay's position comes from
 * what disappears from the spool (consumed by `mv`), from `.requested` (written by the Node fallback
 * on a spool miss) and, under the daemon, from the follower's replay LSN. Files are written as
 * `.tmp.*` and renamed, owned by the PostgreSQL OS user. Spooled files are copies of archived
 * objects, so removing stale ones (behind replay, or another timeline) never loses anything.
 */
export async function startPrefetcher(ctx: Context, options: PrefetcherOptions): Promise<Prefetcher> {
  const log = ctx.logger.child({ component: 'prefetch', spool: options.spoolDir });
  const runAs = ctx.exec.runAs;
  const pollMs = options.pollMs ?? 50;
  const missingRetryMs = options.missingRetryMs ?? 1000;
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);

  await mkdir(options.spoolDir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(options.spoolDir, runAs.uid, runAs.gid);
  // Leftovers of an earlier run may be from another timeline or half-written: start clean.
  await clearSpool(options.spoolDir);

  const sizer = createWindowSizer(() => ({ maxDepth: options.depth, maxConcurrency: options.concurrency }));
  const stats: PrefetchStats = {
    fetched: 0,
    consumed: 0,
    spooled: 0,
    cursor: null,
    lastError: null,
    ...describeWindow(sizer.size(ctx.clock.now())),
  };
  // Segments of another cluster are never spooled (the same check as wal-fetch's).
  const systemIdentifier = options.dataDirectory
    ? await readSystemIdentifier(options.dataDirectory)
    : undefined;
  /** The segment size verify bounds decompression by (the local files'), when known. */
  const localSegmentSize = options.dataDirectory
    ? await readLocalSegmentSize(options.dataDirectory)
    : undefined;
  /** The segment size that names the window (never a guessed 16 MiB). */
  let segmentSize: bigint | null = localSegmentSize === undefined ? null : BigInt(localSegmentSize);
  if (options.dataDirectory) {
    const control = await readRedoCursor(ctx, options.dataDirectory);
    stats.cursor = control.cursor;
    segmentSize = control.segmentSize ?? segmentSize;
  }
  const poolSize = (): number | undefined =>
    localSegmentSize ?? (segmentSize ? Number(segmentSize) : undefined);
  const buffers = createBufferPool(poolSize, () => options.concurrency);
  /** Segments we placed in the spool and have not seen consumed or removed. */
  const placed = new Set<string>();
  const inFlight = new Map<string, Promise<void>>();
  /** Segment -> time before which we do not ask the archive again. */
  const missingUntil = new Map<string, number>();
  let lastRequested: string | undefined;
  /**
   * Fetch only while PostgreSQL reads from the archive (a request or a consumption in the last
   * 30 s, or a fresh start): a streaming follower must not download every segment it already gets.
   */
  const activeForMs = 30_000;
  let activeUntil = ctx.clock.now() + activeForMs;

  // Segment names on one timeline sort as their positions do (fixed-width hex): no size needed.
  const advance = (name: string): void => {
    const current = stats.cursor;
    if (current === null || current.slice(0, 8) !== name.slice(0, 8) || name > current) {
      stats.cursor = name;
    }
  };

  /** The codec of the last segment fetched: the next is most likely archived the same way. */
  let likelyCodec: CodecName | undefined;
  /** A finished fetch ends the pause before the next look at the spool. */
  const waker = createWaker(signal);

  async function fetchOne(name: string): Promise<void> {
    const file = parseWalFile(name);
    if (!file) return;
    const started = ctx.clock.now();
    // Tells restore_command the file is on its way: waiting a moment beats starting Node.
    const inflight = join(options.spoolDir, `${name}${INFLIGHT_SUFFIX}`);
    await writeFile(inflight, '', { mode: 0o600 }).catch(() => undefined);
    const output = buffers.acquire();
    try {
      const got = await readVerified(options.store, file, signal, {
        systemIdentifier,
        segmentSize: localSegmentSize,
        output,
        likelyCodec,
      });
      if (!got) {
        missingUntil.set(name, ctx.clock.now() + missingRetryMs);
        await touchMissing(name);
        return;
      }
      await unlink(join(options.spoolDir, `${name}${MISSING_SUFFIX}`)).catch(() => undefined);
      const tmp = join(options.spoolDir, `.tmp.${name}`);
      await writeFile(tmp, got.data, { mode: 0o600 });
      if (runAs) await chown(tmp, runAs.uid, runAs.gid);
      await rename(tmp, join(options.spoolDir, name));
      placed.add(name);
      likelyCodec = codecOfKey(got.key);
      sizer.fetched(ctx.clock.now() - started);
      // verify checked the length against the segment's own header: it is the segment size.
      segmentSize ??= BigInt(got.data.length);
      stats.fetched++;
      stats.lastError = null;
    } catch (error) {
      if (signal.aborted) return;
      const transient = error instanceof ArchiveError ? error.transient : false;
      stats.lastError = (error as Error).message;
      missingUntil.set(name, ctx.clock.now() + missingRetryMs * (transient ? 1 : 5));
      log.warn(
        { err: (error as Error).message },
        `prefetch of ${name} failed; restore_command will fetch it directly, retrying in ${transient ? 1 : 5}s`,
      );
    } finally {
      buffers.release(output);
      await unlink(inflight).catch(() => undefined);
      waker.wake();
    }
  }

  /** Marks `name` as confirmed absent now; restore_command trusts a marker for a few seconds. */
  async function touchMissing(name: string): Promise<void> {
    const marker = join(options.spoolDir, `${name}${MISSING_SUFFIX}`);
    await writeFile(marker, '', { mode: 0o600 });
    if (runAs) await chown(marker, runAs.uid, runAs.gid);
  }

  let historyCheckedAt = 0;
  /**
   * PostgreSQL asks for the next timeline's history file whenever it looks for a newer timeline
   * (at start and each time WAL runs out); answering "not there" from a fresh marker spares a Node
   * start each time.
   */
  async function refreshHistoryMarker(cursor: string): Promise<void> {
    if (ctx.clock.now() - historyCheckedAt < missingRetryMs) return;
    historyCheckedAt = ctx.clock.now();
    const next = Number.parseInt(cursor.slice(0, 8), 16) + 1;
    const name = `${timelineHex(next)}.history`;
    const file = parseWalFile(name);
    if (!file) return;
    if (await findExisting(options.store, file, signal)) {
      await unlink(join(options.spoolDir, `${name}${MISSING_SUFFIX}`)).catch(() => undefined);
    } else {
      await touchMissing(name);
    }
  }

  async function tick(): Promise<void> {
    // A fetch that ends while the spool is listed places a segment the listing misses: only what was
    // placed before the listing began is judged consumed by its absence, and nothing placed is
    // fetched again (a second copy would put back a segment restore_command had already taken).
    const placedBefore = [...placed];
    const listing = await readdir(options.spoolDir);
    const present = new Set(listing.filter((n) => WAL_SEGMENT_RE.test(n)));
    const markers = listing.filter((n) => n.endsWith(MISSING_SUFFIX));
    let consumed = 0;
    for (const name of placedBefore) {
      if (placed.has(name) && !present.has(name) && !inFlight.has(name)) {
        placed.delete(name);
        consumed++;
        advance(name);
        activeUntil = ctx.clock.now() + activeForMs;
      }
    }
    if (consumed > 0) sizer.consumed(ctx.clock.now(), consumed);
    stats.consumed += consumed;
    const requested = await readRequested(options.spoolDir);
    if (requested && requested !== lastRequested && WAL_SEGMENT_RE.test(requested)) {
      lastRequested = requested;
      // A request through the fallback is authoritative: it may be a new timeline or a restart.
      stats.cursor = requested;
      activeUntil = ctx.clock.now() + activeForMs;
    }
    const hinted = options.position?.();
    if (hinted && WAL_SEGMENT_RE.test(hinted)) {
      // Replay has the segment it is in; the window starts after it.
      const prev = hinted;
      if (stats.cursor === null) stats.cursor = prev;
      else if (stats.cursor.slice(0, 8) === hinted.slice(0, 8) && prev > stats.cursor) stats.cursor = prev;
    }
    const cursor = stats.cursor;
    if (cursor === null) {
      stats.spooled = present.size;
      return;
    }
    await refreshHistoryMarker(cursor).catch(() => undefined);
    segmentSize = options.segmentSize?.() ?? segmentSize;
    const tli = Number.parseInt(cursor.slice(0, 8), 16);
    const window = sizer.size(ctx.clock.now());
    Object.assign(stats, describeWindow(window));
    // Fetched: the measured window. Kept: up to the ceiling, so a window that shrinks does not
    // throw away segments already fetched.
    const kept: string[] = [];
    if (segmentSize !== null) {
      const first = parseWalFileName(cursor, segmentSize).segNo + 1n;
      for (let i = 0n; i < BigInt(options.depth); i++)
        kept.push(walFileNameForSegNo(tli, first + i, segmentSize));
    } else if (lastRequested) {
      // Size not known yet: fetch what replay asked for, whose length then tells the size.
      kept.push(lastRequested);
    }
    const wanted = segmentSize === null ? kept : kept.slice(0, window.depth);
    const wantedSet = new Set(kept);
    for (const marker of markers) {
      const name = marker.slice(0, -MISSING_SUFFIX.length);
      if (WAL_SEGMENT_RE.test(name) && !wantedSet.has(name)) {
        await unlink(join(options.spoolDir, marker)).catch(() => undefined);
      }
    }
    for (const name of present) {
      if (!wantedSet.has(name) && !inFlight.has(name)) {
        await unlink(join(options.spoolDir, name)).catch(() => undefined);
        placed.delete(name);
        present.delete(name);
      }
    }
    stats.spooled = present.size;
    const now = ctx.clock.now();
    // Idle (a streaming follower): the segment buffers go back to the allocator.
    if (now > activeUntil) return buffers.clear();
    for (const name of wanted) {
      if (inFlight.size >= window.concurrency) break;
      if (present.has(name) || placed.has(name) || inFlight.has(name) || (missingUntil.get(name) ?? 0) > now)
        continue;
      missingUntil.delete(name);
      const job = fetchOne(name).finally(() => inFlight.delete(name));
      inFlight.set(name, job);
      // Segments arrive in order most of the time; the window keeps going past a missing one so
      // a hole in the archive does not hide the segments after it.
    }
  }

  const done = (async () => {
    if (stats.cursor)
      log.debug({ cursor: stats.cursor }, 'window starts after the last checkpoint REDO segment');
    log.info(
      { depth: options.depth, archive: options.store.description },
      'prefetcher started; restore_command takes segments from the spool',
    );
    while (!signal.aborted) {
      try {
        await tick();
      } catch (error) {
        if (signal.aborted) break;
        log.warn({ err: (error as Error).message }, 'prefetch tick failed; retrying in 1s');
        await sleep(1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      await waker.pause(pollMs);
    }
    await Promise.allSettled(inFlight.values());
    log.info({ fetched: stats.fetched, consumed: stats.consumed }, 'prefetcher stopped');
  })();

  return {
    stats: () => ({ ...stats }),
    done,
    async stop() {
      controller.abort();
      await done;
    },
  };
}
