import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Context } from '../../context.js';
import { ArchiveError, UsageError } from '../../errors.js';
import { codecOfKey, decode, encode, type CodecName } from '../store/codec.js';
import { fileNameOfKey, isCompressible, objectKey, parseWalFile, type WalFile } from '../store/layout.js';
import { findExisting } from '../store/lookup.js';
import { withArchiveRetries } from '../store/retry.js';
import type { ArchiveStore } from '../store/store.js';
import { readSegmentHeader, sha256, verifyWalFile } from '../store/verify.js';
import { refuseLiveSegment } from './live-segment.js';

interface PushResult {
  name: string;
  key: string;
  outcome: 'stored' | 'already-archived';
  bytes: number;
  storedBytes: number;
  ms: number;
}

/**
 * `wal-push %p`: stores one WAL file durably, never overwriting. An existing object with the same
 * content (SHA-256 of the uncompressed bytes) is success, as PostgreSQL re-runs archive_command after
 * a crash; different content is refused loudly (two leaders archiving into one prefix). Only returns
 * when the object is durably stored and reads back as ours: PostgreSQL recycles the segment after
 * success, so a false success loses WAL.
 */
interface PushOptions {
  /**
   * Store a segment that may still be written as `<name>.partial` (refused as a segment unless it
   * has an archive_status file or is older than the server's current one: live-segment.ts).
   */
  forcePartial?: boolean;
}

export async function pushWal(
  ctx: Context,
  store: ArchiveStore,
  path: string,
  options: PushOptions = {},
): Promise<PushResult> {
  return withArchiveRetries(`archiving ${basename(path)}`, () => pushOnce(ctx, store, path, options), {
    attempts: 4,
    signal: ctx.signal,
    logger: ctx.logger,
    clock: ctx.clock,
    deadlineMs: ctx.config.archive.timeoutMs,
  });
}

async function pushOnce(
  ctx: Context,
  store: ArchiveStore,
  path: string,
  options: PushOptions,
): Promise<PushResult> {
  const started = ctx.clock.now();
  const named = parseWalFile(basename(path));
  if (!named) {
    throw new UsageError(
      `${basename(path)} is not a WAL file name (segment, .partial, .history or .backup)`,
      {
        hint: "archive_command must be 'pgfollower wal-push %p'",
      },
    );
  }
  let file: WalFile = named;
  if (options.forcePartial) {
    const partial = named.kind === 'segment' ? parseWalFile(`${named.name}.partial`) : undefined;
    if (!partial) throw new UsageError(`--force-partial takes a WAL segment, not ${named.name}`);
    file = partial;
  } else {
    await refuseLiveSegment(ctx, path, named);
  }
  const name = file.name;
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    throw new ArchiveError(`cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'archive_command runs in the data directory: pass %p, not %f',
    });
  }
  // Never archive garbage: a damaged file here would be restored later as if it were WAL.
  try {
    verifyWalFile(file, raw);
  } catch (error) {
    throw new ArchiveError(`refusing to archive ${path}: ${(error as Error).message}`, {
      cause: error,
      code: 'WAL_FILE_INVALID',
      hint: 'this is not a WAL file PostgreSQL wrote for that name: check archive_command passes %p, and the data directory and disk for damage; nothing was archived',
    });
  }
  const digest = sha256(raw);
  const log = ctx.logger.child({ component: 'wal-push', file: name, archive: store.description });

  const existing = await findExisting(store, file, ctx.signal);
  if (existing) {
    await compareExisting(ctx, store, file, existing, digest);
    log.info({ key: existing }, `${name} is already archived with identical content; nothing to do`);
    return {
      name,
      key: existing,
      outcome: 'already-archived',
      bytes: raw.length,
      storedBytes: 0,
      ms: ctx.clock.now() - started,
    };
  }

  let codec: CodecName = isCompressible(file.kind) ? ctx.config.archive.compression : 'none';
  let key = objectKey(file, codec);
  if (isCompressible(file.kind)) {
    // One name, one content, whatever the codec: a conditional create of the name's claim decides
    // which writer's bytes (and codec) the name gets. Two leaders pushing different bytes under one
    // name with different codecs would otherwise both succeed under different keys.
    const claim = await claimName(store, file, { sha256: digest, key }, ctx.signal);
    if (claim.sha256 !== digest) {
      refuseConflict(ctx, store, file, claimKey(file));
    }
    // The claim's writer may have chosen another codec: write under its key, so the name still has
    // one object (a writer that died after claiming is completed by the next push of the same bytes).
    key = claim.key;
    codec = codecOfKey(key);
  }
  const body = await encode(codec, raw);
  const metadata: Record<string, string> = { sha256: digest, size: String(raw.length), codec };
  const header = file.kind === 'segment' || file.kind === 'partial' ? readSegmentHeader(raw) : undefined;
  if (header) metadata['system-identifier'] = header.systemIdentifier.toString();

  const outcome = await store.put(key, body, metadata, ctx.signal);
  if (outcome === 'exists') {
    // Lost a race with a concurrent push of the same file: fine if the winner stored the same bytes.
    await compareExisting(ctx, store, file, key, digest);
    log.info({ key }, `${name} was archived concurrently with identical content; nothing to do`);
    return {
      name,
      key,
      outcome: 'already-archived',
      bytes: raw.length,
      storedBytes: 0,
      ms: ctx.clock.now() - started,
    };
  }
  // Read back what the store now holds under the key: catches stores that ignored If-None-Match
  // (a concurrent writer replaced ours) and truncated uploads.
  const stored = await store.head(key, ctx.signal);
  if (!stored) {
    throw new ArchiveError(`${name} was uploaded but is not visible at ${key}`, {
      transient: true,
      hint: 'PostgreSQL will retry archive_command; check the store',
    });
  }
  if (
    (stored.size >= 0 && stored.size !== body.length) ||
    (stored.metadata.sha256 !== undefined && stored.metadata.sha256 !== digest)
  ) {
    await compareExisting(ctx, store, file, key, digest);
  }
  log.info({ key, bytes: raw.length, storedBytes: body.length, codec }, `archived ${name}`);
  return {
    name,
    key,
    outcome: 'stored',
    bytes: raw.length,
    storedBytes: body.length,
    ms: ctx.clock.now() - started,
  };
}

async function compareExisting(
  ctx: Context,
  store: ArchiveStore,
  file: WalFile,
  key: string,
  digest: string,
): Promise<void> {
  const object = await store.get(key, ctx.signal);
  if (!object) {
    throw new ArchiveError(`${file.name}: ${key} vanished while being compared`, { transient: true });
  }
  let theirs: string | undefined = object.metadata.sha256;
  if (theirs === undefined) {
    try {
      theirs = sha256(await decode(codecOfKey(key), object.body));
    } catch {
      theirs = 'undecodable';
    }
  }
  if (theirs === digest) return;
  refuseConflict(ctx, store, file, key);
}

function refuseConflict(ctx: Context, store: ArchiveStore, file: WalFile, key: string): never {
  ctx.logger.error(
    { component: 'wal-push', file: file.name, key, archive: store.description },
    `REFUSED: ${file.name} is already in the archive with DIFFERENT content; not overwriting. Two clusters are probably archiving into the same location (a second leader after a split brain, or a copied data directory).`,
  );
  throw new ArchiveError(
    `${file.name} already exists in ${store.description} (${key}) with different content; refusing to overwrite`,
    {
      code: 'ARCHIVE_CONFLICT',
      hint: 'find which leader wrote it (pg_controldata "Database system identifier" vs. the object metadata system-identifier); give each cluster its own archive prefix',
    },
  );
}

interface Claim {
  sha256: string;
  /** The object key (with its codec extension) the name is stored under. */
  key: string;
}

/** `claims/<timeline>/<name>`: outside `wal/`, so listings of segments never see claims. */
function claimKey(file: WalFile): string {
  return `claims/${file.timelineHex}/${file.name}`;
}

/**
 * Claims a segment name for `ours` with a conditional create (fs: a hard link; S3: If-None-Match),
 * or returns the claim that won. Exactly one claim per name ever exists.
 */
async function claimName(
  store: ArchiveStore,
  file: WalFile,
  ours: Claim,
  signal: AbortSignal,
): Promise<Claim> {
  const key = claimKey(file);
  const outcome = await store.put(key, Buffer.from(JSON.stringify(ours)), {}, signal);
  if (outcome === 'created') return ours;
  const object = await store.get(key, signal);
  if (!object)
    throw new ArchiveError(`${file.name}: claim ${key} vanished while being read`, { transient: true });
  try {
    const parsed = JSON.parse(object.body.toString('utf8')) as Partial<Claim>;
    if (
      typeof parsed.sha256 === 'string' &&
      typeof parsed.key === 'string' &&
      fileNameOfKey(parsed.key) === file.name
    ) {
      return { sha256: parsed.sha256, key: parsed.key };
    }
  } catch {
    // fall through
  }
  throw new ArchiveError(`${file.name}: the claim ${key} in ${store.description} is unreadable`, {
    code: 'ARCHIVE_CORRUPT',
    hint: `inspect it; if no object for ${file.name} exists under wal/, remove the claim and PostgreSQL's next archive_command will push again`,
  });
}
