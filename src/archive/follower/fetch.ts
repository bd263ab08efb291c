import { randomBytes } from 'node:crypto';
import { chown, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Context } from '../../context.js';
import { ArchiveError, UsageError } from '../../errors.js';
import { codecOfKey, decodeChecked, MAX_SEGMENT_BYTES, type CodecName } from '../store/codec.js';
import { objectKey, parseWalFile, type WalFile } from '../store/layout.js';
import { findExisting } from '../store/lookup.js';
import { writeRequested } from './spool.js';
import { withArchiveRetries } from '../store/retry.js';
import type { ArchiveStore, StoredObject } from '../store/store.js';
import { verifyWalFile } from '../store/verify.js';
import { readLocalSegmentSize, readSystemIdentifier } from '../../postgres/control-file.js';
import { withDeadline } from '../../util/deadline.js';

type FetchOutcome = 'restored' | 'restored-from-spool' | 'not-found';

interface FetchResult {
  name: string;
  outcome: FetchOutcome;
  key?: string;
  bytes?: number;
  ms: number;
}

/**
 * `wal-fetch %f %p`: restores one WAL file for PostgreSQL. Takes it from the spool when the
 * prefetcher left it there, else from the archive; decompresses and verifies it (SHA-256 recorded at
 * push, size, page magic and address) before it appears at `dest`, via a temp file and rename, so
 * PostgreSQL never reads a partial or corrupt file. Not found is an outcome, not an error.
 */
export async function fetchWal(
  ctx: Context,
  store: ArchiveStore,
  name: string,
  dest: string,
  options: { spoolDir?: string | undefined } = {},
): Promise<FetchResult> {
  const started = ctx.clock.now();
  const file = parseWalFile(name);
  if (!file) {
    throw new UsageError(`${name} is not a WAL file name`, {
      hint: "restore_command must be 'pgfollower wal-fetch %f %p'",
    });
  }
  const runAs = ctx.exec.runAs;
  if (options.spoolDir) {
    try {
      await rename(join(options.spoolDir, name), dest);
      return { name, outcome: 'restored-from-spool', ms: ctx.clock.now() - started };
    } catch {
      // Not spooled (or no spool yet): fall through to the archive.
    }
    if (file.kind === 'segment') {
      await writeRequested(options.spoolDir, name, runAs).catch(() => undefined);
    }
  }
  // restore_command runs in the data directory; the configured one is the fallback.
  const local = await localCluster(ctx);
  // A hard deadline for the whole call, and a prompt answer to SIGTERM: restore_command must end,
  // with a status PostgreSQL takes as "not available". Retries alone check the deadline only between
  // attempts; this stops waiting for an attempt that hangs (the attempt is abandoned, and the
  // process exits).
  const timeoutMs = ctx.config.archive.timeoutMs;
  // Two attempts at most: PostgreSQL itself asks again, and replay should not wait long on one call.
  const got = await withDeadline(ctx.signal, timeoutMs, (deadline) =>
    untilAborted(
      withArchiveRetries(`fetching ${name}`, () => readVerified(store, file, deadline, local), {
        attempts: 2,
        signal: deadline,
        logger: ctx.logger,
        clock: ctx.clock,
        deadlineMs: timeoutMs,
      }),
      deadline,
      () =>
        new ArchiveError(
          ctx.signal.aborted
            ? `fetching ${name} was interrupted (${String((ctx.signal.reason as Error | undefined)?.message ?? 'stopped')})`
            : `fetching ${name} did not finish within archive.timeoutMs (${timeoutMs} ms); ${store.description} may be hung`,
          { transient: true },
        ),
    ),
  );
  if (!got) return { name, outcome: 'not-found', ms: ctx.clock.now() - started };
  await writeFileAtomicIn(dest, got.data, runAs);
  return { name, outcome: 'restored', key: got.key, bytes: got.data.length, ms: ctx.clock.now() - started };
}

interface ReadVerifiedOptions {
  /** The local cluster's system identifier (pg_control): a segment of another cluster is refused. */
  systemIdentifier?: bigint | undefined;
  /** The local WAL segment size: decompression never produces more (default 1 GiB, the maximum). */
  segmentSize?: number | undefined;
  /**
   * A buffer the caller reuses for every segment (the prefetcher's pool): an lz4 object is decoded
   * into it and `data` is a view of it, valid until the caller reuses it.
   */
  output?: Buffer | undefined;
  /**
   * The codec the previous segment was archived with: its key is asked for directly (one GET),
   * and only when it is not there does a listing find the file under any codec. Saves a LIST (or
   * a readdir of the timeline folder) per segment.
   */
  likelyCodec?: CodecName | undefined;
}

/** Reads, decompresses and verifies one archived file; undefined when the archive lacks it. */
export async function readVerified(
  store: ArchiveStore,
  file: WalFile,
  signal?: AbortSignal,
  options: ReadVerifiedOptions = {},
): Promise<{ key: string; data: Buffer } | undefined> {
  const found = await findObject(store, file, signal, options.likelyCodec);
  if (!found) return undefined;
  const { key, object } = found;
  // Bound the output by what the object can legitimately be: the segment size, and the size
  // recorded at push when there is one.
  const recorded = Number(object.metadata.size);
  const maxBytes = Math.min(
    options.segmentSize ?? MAX_SEGMENT_BYTES,
    Number.isSafeInteger(recorded) && recorded > 0 ? recorded : MAX_SEGMENT_BYTES,
  );
  const codec = codecOfKey(key);
  const { data, checksummed } = await decodeChecked(codec, object.body, maxBytes, options.output);
  const expectedSize = object.metadata.size;
  if (expectedSize !== undefined && Number(expectedSize) !== data.length) {
    throw new ArchiveError(
      `${file.name} is corrupt: ${data.length} bytes, ${expectedSize} recorded at push`,
      {
        code: 'ARCHIVE_CORRUPT',
      },
    );
  }
  // lz4 frames (content checksum) and gzip (CRC32) already proved the bytes are the ones written;
  // hashing 16 MB again with SHA-256 would add CPU on the path that must keep up with replay.
  // Uncompressed and zstd objects (and an lz4 frame without a content checksum) are checked against
  // the SHA-256 recorded at push (S3 metadata, the fs sidecar). Segments must carry this cluster's
  // system identifier.
  verifyWalFile(file, data, checksummed ? undefined : object.metadata.sha256, options.systemIdentifier);
  return { key, data };
}

/** The archived object of `file`: by the likely codec's key first, else by a listing. */
async function findObject(
  store: ArchiveStore,
  file: WalFile,
  signal: AbortSignal | undefined,
  likelyCodec: CodecName | undefined,
): Promise<{ key: string; object: StoredObject } | undefined> {
  if (likelyCodec) {
    const key = objectKey(file, likelyCodec);
    const object = await store.get(key, signal);
    if (object) return { key, object };
  }
  const key = await findExisting(store, file, signal);
  const object = key ? await store.get(key, signal) : undefined;
  return key && object ? { key, object } : undefined;
}

/** Resolves like `work`, or rejects with `error()` as soon as `signal` aborts (work is abandoned). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(error());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(error());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * What wal-fetch checks archived files against: the system identifier and segment size of the data
 * directory restore_command runs in (its working directory), else of `node.dataDirectory`.
 */
async function localCluster(ctx: Context): Promise<ReadVerifiedOptions> {
  for (const dir of [process.cwd(), ctx.config.node.dataDirectory]) {
    if (!dir) continue;
    const systemIdentifier = await readSystemIdentifier(dir);
    if (systemIdentifier !== undefined)
      return { systemIdentifier, segmentSize: await readLocalSegmentSize(dir) };
  }
  return {};
}

/** Writes next to `dest` and renames, owned by the PostgreSQL OS user when we are root. */
async function writeFileAtomicIn(
  dest: string,
  data: Buffer,
  runAs?: { uid: number; gid: number },
): Promise<void> {
  const tmp = join(dirname(dest), `.tmp.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(tmp, data, { mode: 0o600 });
    if (runAs) await chown(tmp, runAs.uid, runAs.gid);
    await rename(tmp, dest);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw new ArchiveError(`cannot write ${dest}: ${(error as Error).message}`, { cause: error });
  }
}
