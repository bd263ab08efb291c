import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../archive/store/store.js';
import { formatBytes } from '../config/units.js';
import type { Context } from '../context.js';
import { ArchiveError, ExitCode, PgFollowerError, RefusedError } from '../errors.js';
import { localConninfo, withClient } from '../postgres/client.js';
import { maskConninfo } from '../postgres/conninfo.js';
import { withPasswordFile } from '../postgres/passfile.js';
import {
  BACKUP_FORMAT_VERSION,
  descriptorKey,
  manifestKey,
  newBackupId,
  type BackupDescriptor,
  type WalRange,
} from './layout.js';
import { listBackups } from './list.js';
import { parseBackupLabel, parseManifest } from './manifest.js';
import { putNew } from './put.js';
import { readSourceFacts } from './source.js';
import { copyByStaging } from './take-staged.js';
import { copyByStream, type CopyResult } from './take-stream.js';
import { waitForWal, walFilesForRanges } from './wal.js';

interface TakeBackupOptions {
  /** Overrides backup.source. */
  source?: 'local' | 'leader';
  /** pg_basebackup --max-rate. */
  maxRate?: string | undefined;
}

/**
 * `pgfollower backup`: streams `pg_basebackup -Ft -D - -X none` from this follower (or the
 * leader) into the archive in parts, never holding more than two parts in memory and using no
 * local disk (take-stream.ts). A cluster with user tablespaces is copied with the directory form
 * through a local staging directory instead, one tar per tablespace (take-staged.ts). The backup is complete only when every part and the manifest are stored and every
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
  // A password in the conninfo goes to a temporary passfile, never onto the command line.
  const argsFor = (dbname: string): string[] => [
    '--wal-method=none',
    '--checkpoint=fast',
    `--label=pgfollower ${id}`,
    '--no-password',
    '--dbname',
    dbname,
    ...(options.maxRate ? [`--max-rate=${options.maxRate}`] : []),
  ];
  const staged = facts.tablespaces.length > 0;
  reporter.step(
    `${staged ? 'copying' : 'streaming'} pg_basebackup (${formatBytes(facts.databaseBytes)}${staged ? `, ${facts.tablespaces.length} tablespace(s): ${facts.tablespaces.map((t) => `${t.name} (${t.location})`).join(', ')}` : ''}) into ${store.description} as backup ${id}`,
  );
  let copy: CopyResult;
  try {
    copy = await withPasswordFile(conninfo, ctx.exec.runAs, (dbname, env) => {
      const input = { id, args: argsFor(dbname), env, expectedBytes: facts.databaseBytes };
      return staged
        ? copyByStaging(ctx, store, { ...input, tablespaces: facts.tablespaces })
        : copyByStream(ctx, store, input);
    });
  } catch (error) {
    log.warn(
      { id },
      `backup ${id} failed; what it stored stays as an incomplete backup until backup expire removes it`,
    );
    throw error;
  }
  const { parts, tablespaces, manifest, label, files, rawBytes } = copy;
  const copyMs = ctx.clock.now() - started;
  if (!manifest || !label) {
    throw new ArchiveError(`pg_basebackup's output lacked ${manifest ? 'backup_label' : 'backup_manifest'}`, {
      code: 'BACKUP_INCOMPLETE',
      hint: 'pgfollower needs PostgreSQL 13 or newer (backup manifests) and must not be run with --no-manifest',
    });
  }
  const parsed = parseManifest(manifest);
  const labelInfo = parseBackupLabel(label);
  const storedBytes =
    parts.reduce((sum, p) => sum + p.storedBytes, 0) + tablespaces.reduce((sum, t) => sum + t.storedBytes, 0);
  const partCount = parts.length + tablespaces.reduce((sum, t) => sum + t.parts.length, 0);
  reporter.done(
    `stored ${partCount} part(s): ${formatBytes(rawBytes)} as ${formatBytes(storedBytes)} (${codec}) in ${(copyMs / 1000).toFixed(1)} s`,
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
    ...(tablespaces.length > 0 ? { tablespaces } : {}),
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
