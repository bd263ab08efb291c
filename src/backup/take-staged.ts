import { createReadStream } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm, stat, statfs, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ArchiveStore } from '../archive/store/store.js';
import { formatBytes } from '../config/units.js';
import type { Context } from '../context.js';
import { RefusedError } from '../errors.js';
import type { BackupPart, BackupTablespace } from './layout.js';
import type { SourceTablespace } from './source.js';
import { parseTablespaceMap } from './tablespaces.js';
import { basebackupFailed, labelReader, partWriter, type CopyInput, type CopyResult } from './take-stream.js';
import { TarParser } from './tar.js';

const TAR_RE = /^(base|\d+)\.tar$/;
const POLL_MS = 250;

/**
 * `pg_basebackup -Ft -D <staging>` for a cluster with user tablespaces: pg_basebackup writes one
 * tar per tablespace (`<oid>.tar`) and `base.tar`, which it cannot do on stdout. The staging
 * directory is on this host (backup.stagingDirectory, default beside the data directory), checked
 * for free space against the database size first. pg_basebackup writes one tar at a time: a tar is
 * stored (in parts, with the archive codec) and deleted from staging as soon as it is complete
 * (completeTars), the last one when pg_basebackup has exited; so staging holds little more than
 * the tar being written and the one being stored. The staging directory is removed at the end, on failure too.
 */
export async function copyByStaging(
  ctx: Context,
  store: ArchiveStore,
  input: CopyInput & { tablespaces: SourceTablespace[] },
): Promise<CopyResult> {
  const { config, reporter } = ctx;
  const parent = resolve(
    config.backup.stagingDirectory ??
      (config.node.dataDirectory ? dirname(resolve(config.node.dataDirectory)) : tmpdir()),
  );
  const needed = Math.ceil(input.expectedBytes * (1 + config.node.diskMargin));
  const free = await freeBytes(parent);
  if (free !== undefined && free < needed) {
    throw new RefusedError(
      `not enough free disk to stage the backup in ${parent}: need ${formatBytes(needed)} (the database, ${formatBytes(input.expectedBytes)}, +${Math.round(config.node.diskMargin * 100)}% margin), ${formatBytes(free)} free; nothing was written to ${store.description}`,
      [
        {
          name: 'staging disk',
          ok: false,
          detail: `${formatBytes(free)} free in ${parent}, ${formatBytes(needed)} needed`,
          numbers: { free_bytes: free, needed_bytes: needed },
        },
      ],
      {
        hint: 'a cluster with tablespaces is copied through a local staging directory: set backup.stagingDirectory to a filesystem with room',
      },
    );
  }
  const staging = await mkdtemp(join(parent, `.pgfollower-backup-${input.id}-`));
  const runAs = ctx.exec.runAs;
  try {
    if (runAs) await chown(staging, runAs.uid, runAs.gid);
    reporter.step(
      `pg_basebackup writes ${input.tablespaces.length + 1} tar(s) into ${staging} (${formatBytes(free ?? 0)} free); each is stored as soon as it is complete`,
    );
    return await stageAndStore(ctx, store, input, staging);
  } finally {
    reporter.progressEnd();
    await rm(staging, { recursive: true, force: true });
  }
}

async function stageAndStore(
  ctx: Context,
  store: ArchiveStore,
  input: CopyInput & { tablespaces: SourceTablespace[] },
  staging: string,
): Promise<CopyResult> {
  const base = labelReader();
  const stored = new Map<string, { parts: BackupPart[]; rawBytes: number; files: number }>();
  let rawBytes = 0;
  const storeTar = async (name: string): Promise<void> => {
    const path = join(staging, name);
    const writer = partWriter(ctx, store, input.id, name);
    let files = 0;
    const parser =
      name === 'base.tar'
        ? base.parser
        : new TarParser({
            entry: (e) => void (e.type === 'file' && files++),
            data: () => undefined,
            end: () => undefined,
          });
    let bytes = 0;
    try {
      for await (const chunk of createReadStream(path, {
        highWaterMark: 1024 * 1024,
      }) as AsyncIterable<Buffer>) {
        await parser.write(chunk);
        await writer.write(chunk);
        bytes += chunk.length;
        rawBytes += chunk.length;
        ctx.reporter.progress(rawBytes, Math.max(input.expectedBytes, rawBytes), 'base backup');
      }
      parser.finish();
      const parts = await writer.finish();
      stored.set(name, { parts, rawBytes: bytes, files: name === 'base.tar' ? base.read().files : files });
    } catch (error) {
      await writer.abort();
      throw error;
    }
    // Stored: its room in staging is free for the tars still to come.
    await unlink(path);
  };

  const { child } = await ctx.exec.spawn(
    ctx.bin.path('pg_basebackup'),
    [`--pgdata=${staging}`, '--format=tar', ...input.args],
    { signal: ctx.signal, env: { LC_ALL: 'C', ...input.env } },
  );
  let exited = false;
  const finished = child.then((r) => {
    exited = true;
    return r;
  });
  const seen = new Map<string, SeenTar>();
  const queued = new Set<string>();
  let queue: Promise<void> = Promise.resolve();
  let uploadError: unknown;
  const enqueue = (name: string): void => {
    queued.add(name);
    if (!exited) ctx.reporter.done(`${name} is complete: storing it while pg_basebackup writes the next`);
    queue = queue.then(() => storeTar(name));
    queue.catch((error: unknown) => {
      uploadError ??= error;
    });
  };
  const scan = async (poll: number): Promise<void> => {
    for (const name of await readdir(staging)) {
      if (!TAR_RE.test(name) || queued.has(name)) continue;
      const info = await stat(join(staging, name), { bigint: true }).catch(() => undefined);
      if (info) seen.set(name, { firstPoll: seen.get(name)?.firstPoll ?? poll, mtimeNs: info.mtimeNs });
    }
  };
  try {
    for (let poll = 0; !exited; poll++) {
      await Promise.race([sleep(POLL_MS, undefined, { signal: ctx.signal }), finished]);
      if (uploadError !== undefined) throw uploadError;
      if (exited) break;
      await scan(poll);
      for (const name of completeTars(seen)) if (!queued.has(name)) enqueue(name);
    }
    const result = await finished;
    if (result.exitCode !== 0 || result.isCanceled)
      throw basebackupFailed(result.exitCode, String(result.stderr ?? ''));
    await scan(Number.MAX_SAFE_INTEGER);
    for (const name of [...seen.keys()].sort()) if (!queued.has(name)) enqueue(name);
    await queue;
  } catch (error) {
    child.kill();
    await finished.catch(() => undefined);
    await queue.catch(() => undefined);
    throw error;
  }
  const manifest = await readFile(join(staging, 'backup_manifest')).catch(() => undefined);
  const baseInfo = base.read();
  const map = parseTablespaceMap(baseInfo.tablespaceMap ?? '');
  const tablespaces: BackupTablespace[] = [];
  for (const [name, tar] of stored) {
    if (name === 'base.tar') continue;
    const oid = Number(name.slice(0, -'.tar'.length));
    const known = input.tablespaces.find((t) => t.oid === oid);
    tablespaces.push({
      oid,
      name: known?.name ?? String(oid),
      // The backup's own tablespace_map is the truth (a tablespace may be newer than the query).
      location: map.get(oid) ?? known?.location ?? '',
      part: name,
      rawBytes: tar.rawBytes,
      storedBytes: tar.parts.reduce((sum, p) => sum + p.storedBytes, 0),
      files: tar.files,
      parts: tar.parts,
    });
  }
  tablespaces.sort((a, b) => a.oid - b.oid);
  const files = [...stored.values()].reduce((sum, t) => sum + t.files, 0);
  return {
    parts: stored.get('base.tar')?.parts ?? [],
    tablespaces,
    manifest,
    label: baseInfo.label,
    files,
    rawBytes,
  };
}

export interface SeenTar {
  /** The poll that first saw it. */
  firstPoll: number;
  mtimeNs: bigint;
}

/**
 * The tars pg_basebackup has finished, while it runs: it writes one at a time and closes a tar
 * before it creates the next. So a tar is complete when another one was first seen at a later
 * poll, or was modified strictly later (the open tar is written to after the previous one was
 * closed; equal times within the clock's granularity prove nothing and wait). The tar written
 * last is only complete when pg_basebackup has exited.
 */
export function completeTars(seen: ReadonlyMap<string, SeenTar>): string[] {
  const all = [...seen];
  return all
    .filter(([name, a]) =>
      all.some(([other, b]) => other !== name && (b.firstPoll > a.firstPoll || b.mtimeNs > a.mtimeNs)),
    )
    .map(([name]) => name)
    .sort();
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const stats = await statfs(dir);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return undefined;
  }
}
