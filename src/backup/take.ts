import { createHash } from 'node:crypto';
import { encode } from '../archive/store/codec.js';
import { withArchiveRetries } from '../archive/store/retry.js';
import type { ArchiveStore } from '../archive/store/store.js';
import { formatBytes } from '../config/units.js';
import type { Context } from '../context.js';
import { ArchiveError, ExitCode, ExternalCommandError, PgFollowerError, RefusedError } from '../errors.js';
import { tail } from '../exec/run.js';
import { connect, localConninfo, withClient } from '../postgres/client.js';
import { maskConninfo } from '../postgres/conninfo.js';
import {
  BACKUP_FORMAT_VERSION,
  descriptorKey,
  manifestKey,
  newBackupId,
  partKey,
  type BackupDescriptor,
  type BackupPart,
  type WalRange,
} from './layout.js';
import { listBackups } from './list.js';
import { TarParser } from './tar.js';
import { parseBackupLabel, parseManifest } from './manifest.js';
import { waitForWal, walFilesForRanges } from './wal.js';

export interface TakeBackupOptions {
  /** Overrides backup.source. */
  source?: 'local' | 'leader';
  /** pg_basebackup --max-rate. */
  maxRate?: string | undefined;
}

interface SourceFacts {
  systemIdentifier: string;
  walSegmentSize: number;
  serverVersionNum: number;
  inRecovery: boolean;
  databaseBytes: number;
  /** User tablespaces as "name (location)". */
  tablespaces: string[];
}

/**
 * `pgfollower backup`: streams `pg_basebackup -Ft -D - -X none` from this follower (or the
 * leader) into the archive in parts, never holding more than two parts in memory and using no
 * local disk. The backup is complete only when every part and the manifest are stored and every
 * WAL segment from start to end LSN is in the archive; then backup.json is written, last and
 * atomically (the store never overwrites). A failure leaves an incomplete backup without
 * backup.json, which restore never picks and `backup expire` removes.
 */
export async function takeBackup(
  ctx: Context,
  store: ArchiveStore,
  options: TakeBackupOptions = {},
): Promise<BackupDescriptor> {
  const { config, logger, reporter } = ctx;
  const source = options.source ?? config.backup.source;
  const conninfo = source === 'leader' ? config.leader.conninfo : localConninfo(config.node);
  if (!conninfo) {
    throw new PgFollowerError(
      'CONFIG_MISSING',
      'backup.source is leader but leader.conninfo is not set',
      ExitCode.USAGE,
    );
  }
  const log = logger.child({ component: 'backup' });
  reporter.step(
    `reading the ${source === 'leader' ? 'leader' : 'local server'} at ${maskConninfo(conninfo)}`,
  );
  const facts = await withClient(
    conninfo,
    { connectTimeoutMs: config.leader.connectTimeoutMs, signal: ctx.signal },
    readSourceFacts,
  );
  if (facts.tablespaces.length > 0) {
    // pg_basebackup -Ft -D - writes one tar, the main data directory's; it refuses more ("can only
    // write single tablespace to stdout"). One tar per tablespace and a mapping at restore are not
    // implemented (docs/backups.md#limitations): say so before anything is written to the archive.
    throw new RefusedError(
      `backup does not support tablespaces yet: the cluster has ${facts.tablespaces.length} besides pg_default and pg_global (${facts.tablespaces.join(', ')}); nothing was written to ${store.description}`,
      [],
      {
        hint: 'make followers of this cluster with pgfollower bootstrap (from the leader, which copies tablespaces); or move the objects to pg_default (ALTER TABLE ... SET TABLESPACE pg_default) and drop the tablespaces',
      },
    );
  }
  const existing = await listBackups(store, ctx.signal);
  const foreign = existing.find(
    (b) => b.descriptor && b.descriptor.systemIdentifier !== facts.systemIdentifier,
  );
  if (foreign?.descriptor) {
    throw new RefusedError(
      `the archive ${store.description} holds backup ${foreign.id} of another cluster (system identifier ${foreign.descriptor.systemIdentifier}, this one ${facts.systemIdentifier})`,
      [],
      { hint: 'give each cluster its own archive location (archive.fs.path or archive.s3.prefix)' },
    );
  }

  const started = ctx.clock.now();
  const id = newBackupId(started);
  const codec = config.backup.compression;
  const partSize = config.backup.partSize;
  const args = [
    '--pgdata=-',
    '--format=tar',
    '--wal-method=none',
    '--checkpoint=fast',
    `--label=pgfollower ${id}`,
    '--no-password',
    '--dbname',
    conninfo,
    ...(options.maxRate ? [`--max-rate=${options.maxRate}`] : []),
  ];
  reporter.step(
    `streaming pg_basebackup (${formatBytes(facts.databaseBytes)}) into ${store.description} as backup ${id}`,
  );
  const parts: BackupPart[] = [];
  let manifest: Buffer | undefined;
  let label: string | undefined;
  let files = 0;
  const capture: Buffer[] = [];
  const parser = new TarParser({
    entry: (entry) => {
      if (entry.type === 'file') files++;
      capture.length = 0;
    },
    data: (entry, chunk) => {
      if (entry.path === 'backup_manifest' || entry.path === 'backup_label') capture.push(Buffer.from(chunk));
    },
    end: (entry) => {
      if (entry.path === 'backup_manifest') manifest = Buffer.concat(capture);
      if (entry.path === 'backup_label') label = Buffer.concat(capture).toString('utf8');
      capture.length = 0;
    },
  });

  let uploading: Promise<void> = Promise.resolve();
  let rawBytes = 0;
  const storePart = async (index: number, raw: Buffer): Promise<void> => {
    const body = await encode(codec, raw);
    const key = partKey(id, index, codec);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await putNew(ctx, store, key, body, { sha256, size: String(raw.length), codec });
    parts[index] = { key, rawBytes: raw.length, storedBytes: body.length, sha256 };
  };

  const { child } = await ctx.exec.spawn(ctx.bin.path('pg_basebackup'), args, {
    signal: ctx.signal,
    env: { LC_ALL: 'C' },
    streamStdout: true,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
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
    uploading = storePart(n, raw);
    // Surface an upload failure now, not after the whole stream.
    uploading.catch(() => undefined);
  };
  try {
    if (!child.stdout) throw new Error('pg_basebackup has no stdout stream');
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      await parser.write(chunk);
      rawBytes += chunk.length;
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
      reporter.progress(rawBytes, Math.max(facts.databaseBytes, rawBytes), 'base backup');
    }
    const result = await child;
    if (result.exitCode !== 0 || result.isCanceled) {
      const last = tail(stderr);
      throw new ExternalCommandError(
        'pg_basebackup',
        `pg_basebackup exited with status ${result.exitCode ?? 'unknown'}${last ? `:\n    ${last.split('\n').join('\n    ')}` : ''}`,
        {
          exitCode: result.exitCode,
          stderrTail: last,
          hint: "the server must allow a replication connection from this host (pg_hba.conf 'replication' line) and max_wal_senders must have a free slot",
        },
      );
    }
    parser.finish();
    if (pendingBytes > 0) await flush();
    await uploading;
  } catch (error) {
    child.kill();
    await uploading.catch(() => undefined);
    reporter.progressEnd();
    log.warn(
      { id, partsStored: parts.filter(Boolean).length },
      `backup ${id} failed; its parts stay as an incomplete backup until backup expire removes them`,
    );
    throw error;
  }
  reporter.progressEnd();
  const copyMs = ctx.clock.now() - started;
  if (!manifest || !label) {
    throw new ArchiveError(`pg_basebackup's stream lacked ${manifest ? 'backup_label' : 'backup_manifest'}`, {
      code: 'BACKUP_INCOMPLETE',
      hint: 'pgfollower needs PostgreSQL 13 or newer (backup manifests) and must not be run with --no-manifest',
    });
  }
  const parsed = parseManifest(manifest);
  const labelInfo = parseBackupLabel(label);
  const storedBytes = parts.reduce((sum, p) => sum + p.storedBytes, 0);
  reporter.done(
    `stored ${parts.length} part(s): ${formatBytes(rawBytes)} as ${formatBytes(storedBytes)} (${codec}) in ${(copyMs / 1000).toFixed(1)} s`,
  );

  const walFiles = walFilesForRanges(parsed.ranges, facts.walSegmentSize);
  const walStarted = ctx.clock.now();
  reporter.step(
    `waiting for ${walFiles.length} WAL file(s) ${walFiles[0]} .. ${walFiles.at(-1)} to reach the archive`,
  );
  await waitForWal(ctx, store, walFiles, { switchOnLeader: facts.inRecovery || source === 'local' });
  const walWaitMs = ctx.clock.now() - walStarted;

  const manifestSha = createHash('sha256').update(manifest).digest('hex');
  await putNew(ctx, store, manifestKey(id), manifest, {
    sha256: manifestSha,
    size: String(manifest.length),
    codec: 'none',
  });
  const first = parsed.ranges[0] as WalRange;
  const lastRange = parsed.ranges.at(-1) as WalRange;
  const descriptor: BackupDescriptor = {
    formatVersion: BACKUP_FORMAT_VERSION,
    id,
    systemIdentifier: facts.systemIdentifier,
    timeline: labelInfo.timeline ?? first.timeline,
    startLsn: first.startLsn,
    endLsn: lastRange.endLsn,
    endTimeline: lastRange.timeline,
    walFiles,
    walSegmentSize: facts.walSegmentSize,
    backupFrom: labelInfo.backupFrom ?? (facts.inRecovery ? 'standby' : 'primary'),
    source,
    pgVersionNum: facts.serverVersionNum,
    codec,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(ctx.clock.now()).toISOString(),
    copyMs,
    walWaitMs,
    rawBytes,
    storedBytes,
    parts,
    manifestKey: manifestKey(id),
    manifestSha256: manifestSha,
    files,
    node: config.node.name,
  };
  const json = Buffer.from(JSON.stringify(descriptor, null, 2) + '\n');
  await putNew(ctx, store, descriptorKey(id), json, {
    sha256: createHash('sha256').update(json).digest('hex'),
    size: String(json.length),
    codec: 'none',
  });
  reporter.done(
    `backup ${id} complete: ${descriptor.startLsn} .. ${descriptor.endLsn} on timeline ${descriptor.endTimeline}`,
  );
  log.info({ id, rawBytes, storedBytes, copyMs, walWaitMs }, `backup ${id} complete`);
  return descriptor;
}

async function readSourceFacts(client: Awaited<ReturnType<typeof connect>>): Promise<SourceFacts> {
  const { rows } = await client.query<{
    sysid: string;
    seg: string;
    ver: string;
    rec: boolean;
    size: string;
    tbs: string[];
  }>(
    `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
            current_setting('server_version_num') AS ver,
            pg_is_in_recovery() AS rec,
            (SELECT sum(pg_database_size(oid))::text FROM pg_database) AS size,
            (SELECT coalesce(array_agg(spcname || ' (' || pg_tablespace_location(oid) || ')' ORDER BY spcname), '{}')
               FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')) AS tbs`,
  );
  const row = rows[0];
  if (!row) throw new Error('no row from the source facts query');
  // wal_segment_size is reported in bytes since PostgreSQL 11 (unit "B" in pg_settings).
  return {
    systemIdentifier: row.sysid,
    walSegmentSize: Number(row.seg),
    serverVersionNum: Number(row.ver),
    inRecovery: row.rec,
    databaseBytes: Number(row.size),
    tablespaces: row.tbs,
  };
}

/** Store a new object; 'exists' is an error (ids are unique), transient errors are retried. */
async function putNew(
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
