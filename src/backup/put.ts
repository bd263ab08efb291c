import { createHash } from 'node:crypto';
import { encode, type CodecName } from '../archive/store/codec.js';
import { withArchiveRetries } from '../archive/store/retry.js';
import type { ArchiveStore } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { ArchiveError } from '../errors.js';
import type { BackupPart } from './layout.js';

/** Compresses (and encrypts, with the archive's codec settings) one part and stores it as new. */
export async function storePart(
  ctx: Context,
  store: ArchiveStore,
  key: string,
  raw: Buffer,
  codec: CodecName,
): Promise<BackupPart> {
  const body = await encode(codec, raw);
  const sha256 = createHash('sha256').update(body).digest('hex');
  await putNew(ctx, store, key, body, { sha256, size: String(raw.length), codec });
  return { key, rawBytes: raw.length, storedBytes: body.length, sha256 };
}

/** Store a new object; 'exists' is an error (ids are unique), transient errors are retried. */
export async function putNew(
  ctx: Context,
  store: ArchiveStore,
  key: string,
  body: Buffer,
  metadata: Record<string, string>,
): Promise<void> {
  const outcome = await withArchiveRetries(
    `storing ${key}`,
    () => store.put(key, body, metadata, ctx.signal),
    {
      attempts: 4,
      signal: ctx.signal,
      logger: ctx.logger,
      clock: ctx.clock,
      deadlineMs: Math.max(ctx.config.archive.timeoutMs, 300_000),
    },
  );
  if (outcome === 'exists') {
    throw new ArchiveError(
      `${key} already exists in ${ctx.config.archive.type} archive; refusing to overwrite`,
      {
        code: 'ARCHIVE_CONFLICT',
        hint: 'another backup with the same id is being written; wait a second and run backup again',
      },
    );
  }
}
