import type { ArchiveStore } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { ExternalCommandError } from '../errors.js';
import { tail } from '../exec/run.js';
import { partKey, type BackupPart, type BackupTablespace } from './layout.js';
import { storePart } from './put.js';
import { TarParser } from './tar.js';

export interface CopyInput {
  id: string;
  /** pg_basebackup arguments besides --pgdata and --format (checkpoint, label, dbname, rate). */
  args: string[];
  /** For progress before the copy knows its size. */
  expectedBytes: number;
  /** Environment for pg_basebackup (PGPASSFILE when the conninfo had a password). */
  env?: Record<string, string>;
}

/** What a copy stored and read on the way. */
export interface CopyResult {
  parts: BackupPart[];
  tablespaces: BackupTablespace[];
  manifest: Buffer | undefined;
  label: string | undefined;
  /** Data files in every tar (not directories). */
  files: number;
  /** Tar bytes of every tar. */
  rawBytes: number;
}

/**
 * Cuts a tar stream into parts of backup.partSize and stores each while the next fills: memory
 * is about two parts. Returns a writer to feed chunks to and a finisher that stores the rest.
 */
export function partWriter(
  ctx: Context,
  store: ArchiveStore,
  id: string,
  tar: string,
): { write(chunk: Buffer): Promise<void>; finish(): Promise<BackupPart[]>; abort(): Promise<void> } {
  const codec = ctx.config.backup.compression;
  const partSize = ctx.config.backup.partSize;
  const parts: BackupPart[] = [];
  let uploading: Promise<void> = Promise.resolve();
  let index = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    const raw = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const n = index++;
    // One part uploads while the next fills: wait for the previous upload before starting this one.
    await uploading;
    uploading = storePart(ctx, store, partKey(id, n, codec, tar), raw, codec).then((part) => {
      parts[n] = part;
    });
    // Surface an upload failure at the next flush, not after the whole stream.
    uploading.catch(() => undefined);
  };
  return {
    async write(chunk) {
      let rest = chunk;
      while (pendingBytes + rest.length >= partSize) {
        const take = partSize - pendingBytes;
        pending.push(rest.subarray(0, take));
        pendingBytes += take;
        rest = rest.subarray(take);
        await flush();
      }
      if (rest.length > 0) {
        pending.push(rest);
        pendingBytes += rest.length;
      }
    },
    async finish() {
      if (pendingBytes > 0) await flush();
      await uploading;
      return parts;
    },
    async abort() {
      await uploading.catch(() => undefined);
    },
  };
}

/** Reads backup_manifest and backup_label out of a tar as it passes, and counts its files. */
export function labelReader(): {
  parser: TarParser;
  read(): { manifest?: Buffer; label?: string; tablespaceMap?: string; files: number };
} {
  const wanted = new Set(['backup_manifest', 'backup_label', 'tablespace_map']);
  let manifest: Buffer | undefined;
  let label: string | undefined;
  let tablespaceMap: string | undefined;
  let files = 0;
  const capture: Buffer[] = [];
  const parser = new TarParser({
    entry: (entry) => {
      if (entry.type === 'file') files++;
      capture.length = 0;
    },
    data: (entry, chunk) => {
      if (wanted.has(entry.path)) capture.push(Buffer.from(chunk));
    },
    end: (entry) => {
      if (entry.path === 'backup_manifest') manifest = Buffer.concat(capture);
      if (entry.path === 'backup_label') label = Buffer.concat(capture).toString('utf8');
      if (entry.path === 'tablespace_map') tablespaceMap = Buffer.concat(capture).toString('utf8');
      capture.length = 0;
    },
  });
  return {
    parser,
    read: () => ({
      ...(manifest ? { manifest } : {}),
      ...(label !== undefined ? { label } : {}),
      ...(tablespaceMap !== undefined ? { tablespaceMap } : {}),
      files,
    }),
  };
}

/**
 * `pg_basebackup -Ft -D -`: one tar (the main data directory, manifest injected at its end) on
 * stdout, stored in parts as it arrives; no local disk. Only for clusters without user tablespaces
 * (pg_basebackup writes a single tablespace to stdout only).
 */
export async function copyByStream(ctx: Context, store: ArchiveStore, input: CopyInput): Promise<CopyResult> {
  const { reporter } = ctx;
  const reader = labelReader();
  const writer = partWriter(ctx, store, input.id, 'base.tar');
  const { child } = await ctx.exec.spawn(
    ctx.bin.path('pg_basebackup'),
    ['--pgdata=-', '--format=tar', ...input.args],
    { signal: ctx.signal, env: { LC_ALL: 'C', ...input.env }, streamStdout: true },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
  let rawBytes = 0;
  try {
    if (!child.stdout) throw new Error('pg_basebackup has no stdout stream');
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      await reader.parser.write(chunk);
      rawBytes += chunk.length;
      await writer.write(chunk);
      reporter.progress(rawBytes, Math.max(input.expectedBytes, rawBytes), 'base backup');
    }
    const result = await child;
    if (result.exitCode !== 0 || result.isCanceled) throw basebackupFailed(result.exitCode, stderr);
    reader.parser.finish();
    const parts = await writer.finish();
    const { manifest, label, files } = reader.read();
    return { parts, tablespaces: [], manifest, label, files, rawBytes };
  } catch (error) {
    child.kill();
    await writer.abort();
    throw error;
  } finally {
    reporter.progressEnd();
  }
}

export function basebackupFailed(exitCode: number | undefined, stderr: string): ExternalCommandError {
  const last = tail(stderr);
  return new ExternalCommandError(
    'pg_basebackup',
    `pg_basebackup exited with status ${exitCode ?? 'unknown'}${last ? `:\n    ${last.split('\n').join('\n    ')}` : ''}`,
    {
      exitCode,
      stderrTail: last,
      hint: "the server must allow a replication connection from this host (pg_hba.conf 'replication' line) and max_wal_senders must have a free slot",
    },
  );
}
